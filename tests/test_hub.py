"""Hub I/O over real HTTP to the local stand-in server: download, push, refusals, fallback, token hygiene."""

import logging

import pytest
import torch

from rnn_demo import hub as rnn_hub
from rnn_demo.catalog import Pretrained, open_model, pretrained_models
from rnn_demo.checkpoint import load_model
from rnn_demo.errors import UserError
from tests.helpers import HUB_TOKEN
from tests.hub_server import HubServer

MODEL_FILES = ["README.md", "config.json", "model.safetensors"]
WRONG_TOKEN = "hf_wrong_token_abcdef0123456789"


def _dead_endpoint() -> str:
    server = HubServer()
    url = server.start()
    server.stop()  # the port now refuses connections
    return url


def _same_weights(a, b) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


# ----- downloading -------------------------------------------------------------------------------


def test_download_fetches_the_model_files_only(hub, hf_cache, checkpoint):
    hub.add_repo("someone/tiny", checkpoint)
    hub.add_file("someone/tiny", "pytorch_model.bin", b"pickle bytes that must never be fetched")
    folder = rnn_hub.download("someone/tiny", endpoint=hub.url, cache_dir=hf_cache)
    assert sorted(p.name for p in folder.iterdir()) == MODEL_FILES
    assert (folder / "model.safetensors").read_bytes() == (checkpoint / "model.safetensors").read_bytes()
    assert _same_weights(load_model(folder), load_model(checkpoint))
    assert not any("pytorch_model.bin" in path for _, path in hub.requests)


def test_download_without_a_card_still_works(hub, hf_cache, checkpoint):
    hub.add_repo("someone/tiny", checkpoint)
    (hub.repos["someone/tiny"] / "README.md").unlink()
    folder = rnn_hub.download("someone/tiny", endpoint=hub.url, cache_dir=hf_cache)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_a_cached_model_loads_when_the_hub_is_down(hf_cache, checkpoint):
    with HubServer() as server:
        server.add_repo("someone/tiny", checkpoint)
        first = rnn_hub.download("someone/tiny", endpoint=server.url, cache_dir=hf_cache)
        url = server.url
    again = rnn_hub.download("someone/tiny", endpoint=url, cache_dir=hf_cache)
    assert again == first and _same_weights(load_model(again), load_model(checkpoint))


def test_unknown_repo_is_a_user_error(hub, hf_cache):
    with pytest.raises(UserError, match="someone/missing: no such model repo on the Hub") as caught:
        rnn_hub.download("someone/missing", endpoint=hub.url, cache_dir=hf_cache)
    assert not isinstance(caught.value, rnn_hub.HubUnreachable)


@pytest.mark.parametrize("repo_id", ["no-slash", "a/b/c", "/abs", "owner/ with space", "x" * 300 + "/y", "a/" + "y" * 300])
def test_malformed_repo_id_is_a_user_error(hub, hf_cache, repo_id):
    with pytest.raises(UserError, match="is not a Hub repo id"):
        rnn_hub.download(repo_id, endpoint=hub.url, cache_dir=hf_cache)


def test_download_a_given_revision(hub, hf_cache, checkpoint):
    hub.add_repo("someone/tiny", checkpoint)
    sha = hub.commit_sha("someone/tiny")
    folder = rnn_hub.download("someone/tiny", revision=sha, endpoint=hub.url, cache_dir=hf_cache)
    assert folder.name == sha
    with pytest.raises(UserError, match="someone/tiny: no revision 'v9'"):
        rnn_hub.download("someone/tiny", revision="v9", endpoint=hub.url, cache_dir=hf_cache)


def test_unreachable_hub_is_reported_as_such(hf_cache):
    with pytest.raises(rnn_hub.HubUnreachable, match="someone/tiny: the Hub could not be reached"):
        rnn_hub.download("someone/tiny", endpoint=_dead_endpoint(), cache_dir=hf_cache)


def test_repo_with_only_pickled_weights_is_refused(hub, hf_cache, checkpoint):
    hub.add_repo("someone/pickled")
    hub.add_file("someone/pickled", "config.json", (checkpoint / "config.json").read_bytes())
    hub.add_file("someone/pickled", "pytorch_model.bin", b"\x80\x04pickle")
    with pytest.raises(UserError, match=r"someone/pickled: the repo has no config.json \+ model.safetensors"):
        rnn_hub.download("someone/pickled", endpoint=hub.url, cache_dir=hf_cache)
    assert not any("pytorch_model.bin" in path for _, path in hub.requests)


def test_private_repo_needs_the_token(hub, hf_cache, checkpoint):
    hub.add_repo("someone/secret", checkpoint, private=True)
    with pytest.raises(UserError, match="no such model repo on the Hub .*private"):
        rnn_hub.download("someone/secret", endpoint=hub.url, cache_dir=hf_cache)
    folder = rnn_hub.download("someone/secret", token=HUB_TOKEN, endpoint=hub.url, cache_dir=hf_cache)
    assert sorted(p.name for p in folder.iterdir()) == MODEL_FILES


def test_wrong_token_on_download_is_a_user_error_that_hides_the_token(hub, hf_cache, checkpoint, capsys, caplog):
    hub.add_repo("someone/tiny", checkpoint)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UserError, match="someone/tiny: the Hub refused the token") as caught:
        rnn_hub.download("someone/tiny", token=WRONG_TOKEN, endpoint=hub.url, cache_dir=hf_cache)
    _assert_no_token(caught.value, capsys, caplog, WRONG_TOKEN)


# ----- pushing -----------------------------------------------------------------------------------


def test_push_uploads_the_checkpoint_and_a_download_returns_it(hub, hf_cache, checkpoint, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    url = rnn_hub.push(checkpoint, "someone/pushed", token=HUB_TOKEN, endpoint=hub.url)
    assert url == f"{hub.url}/someone/pushed"
    files = hub.files("someone/pushed")
    assert sorted(files) == MODEL_FILES  # not the trainer state
    for name in MODEL_FILES:
        assert files[name] == (checkpoint / name).read_bytes()
    assert "someone/pushed" not in hub.private
    assert not any("xet" in path.lower() or "lfs" in path.lower() for _, path in hub.requests)
    folder = rnn_hub.download("someone/pushed", endpoint=hub.url, cache_dir=hf_cache)
    assert _same_weights(load_model(folder), load_model(checkpoint))
    _assert_no_token(None, capsys, caplog, HUB_TOKEN)


def test_push_again_updates_the_repo(hub, checkpoint, tmp_path):
    rnn_hub.push(checkpoint, "someone/pushed", token=HUB_TOKEN, endpoint=hub.url)
    changed = tmp_path / "changed"
    changed.mkdir()
    for name in MODEL_FILES:
        (changed / name).write_bytes((checkpoint / name).read_bytes())
    (changed / "README.md").write_text("---\nlibrary_name: rnn-demo\n---\n# a new card\n", encoding="utf-8")
    rnn_hub.push(changed, "someone/pushed", token=HUB_TOKEN, endpoint=hub.url)
    assert hub.files("someone/pushed")["README.md"].endswith(b"# a new card\n")


def test_push_private(hub, checkpoint):
    rnn_hub.push(checkpoint, "someone/private-model", private=True, token=HUB_TOKEN, endpoint=hub.url)
    assert "someone/private-model" in hub.private


def test_push_with_a_wrong_token_is_refused_without_showing_it(hub, checkpoint, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UserError, match="push to someone/pushed failed: the token was rejected") as caught:
        rnn_hub.push(checkpoint, "someone/pushed", token=WRONG_TOKEN, endpoint=hub.url)
    assert "someone/pushed" not in hub.repos
    _assert_no_token(caught.value, capsys, caplog, WRONG_TOKEN)


def test_push_without_any_token_says_how_to_give_one(hub, checkpoint):
    with pytest.raises(UserError, match="no Hugging Face token: set HF_TOKEN"):
        rnn_hub.push(checkpoint, "someone/pushed", endpoint=hub.url)
    assert hub.requests == []


def test_push_to_an_unreachable_hub(checkpoint):
    with pytest.raises(rnn_hub.HubUnreachable, match="push to someone/pushed failed: the Hub could not be reached"):
        rnn_hub.push(checkpoint, "someone/pushed", token=HUB_TOKEN, endpoint=_dead_endpoint())


def test_push_refuses_what_is_not_a_checkpoint(hub, tmp_path, checkpoint):
    with pytest.raises(UserError, match="not a checkpoint folder"):
        rnn_hub.push(tmp_path, "someone/pushed", token=HUB_TOKEN, endpoint=hub.url)
    with pytest.raises(UserError, match="is not a Hub repo id"):
        rnn_hub.push(checkpoint, "not a repo", token=HUB_TOKEN, endpoint=hub.url)
    assert hub.requests == []


def _assert_no_token(error, capsys, caplog, token):
    captured = capsys.readouterr()
    texts = [captured.out, captured.err, caplog.text]
    if error is not None:
        texts += [str(error), repr(error), str(error.__cause__)]
    assert not any(token in text for text in texts)


# ----- the catalog: folder, Hub, bundled fallback ------------------------------------------------


def test_open_model_from_the_hub_when_it_answers(hub, hf_cache, checkpoint):
    hub.add_repo("someone/tiny", checkpoint)
    catalog = [Pretrained("tiny", "someone/tiny", checkpoint)]
    model, origin = open_model("tiny", endpoint=hub.url, cache_dir=hf_cache, catalog=catalog)
    assert origin == "Hugging Face Hub (someone/tiny)"
    assert _same_weights(model, load_model(checkpoint))
    assert any(path.startswith("/someone/tiny/resolve/") for _, path in hub.requests)


def test_open_model_falls_back_to_the_bundled_copy_when_the_hub_is_unreachable(hf_cache, checkpoint):
    catalog = [Pretrained("tiny", "someone/tiny", checkpoint)]
    model, origin = open_model("tiny", endpoint=_dead_endpoint(), cache_dir=hf_cache, catalog=catalog)
    assert origin == "bundled checkpoints/tiny (the Hub was unreachable)"
    assert _same_weights(model, load_model(checkpoint))


def test_open_model_without_a_bundled_copy_reports_the_unreachable_hub(hf_cache):
    catalog = [Pretrained("tiny", "someone/tiny", None)]
    with pytest.raises(rnn_hub.HubUnreachable):
        open_model("tiny", endpoint=_dead_endpoint(), cache_dir=hf_cache, catalog=catalog)


def test_open_model_by_folder_repo_id_or_bundled_name(hub, hf_cache, checkpoint):
    model, origin = open_model(str(checkpoint), catalog=[])
    assert origin == f"folder {checkpoint}"
    hub.add_repo("someone/elsewhere", checkpoint)
    model, origin = open_model("someone/elsewhere", endpoint=hub.url, cache_dir=hf_cache, catalog=[])
    assert origin == "Hugging Face Hub (someone/elsewhere)"
    model, origin = open_model("tiny", catalog=[Pretrained("tiny", None, checkpoint)])
    assert origin == "bundled checkpoints/tiny"
    for bad in ("", "   ", "no such thing"):
        with pytest.raises(UserError):
            open_model(bad, catalog=[])


def test_pretrained_models_join_bundled_folders_and_configured_repos(tmp_path, checkpoint):
    bundled = tmp_path / "checkpoints"
    (bundled / "shakespeare-lstm").mkdir(parents=True)
    for name in MODEL_FILES:
        (bundled / "shakespeare-lstm" / name).write_bytes((checkpoint / name).read_bytes())
    (bundled / "not-a-checkpoint").mkdir()
    entries = pretrained_models(bundled, "shakespeare-lstm=org/shakespeare-lstm, org/gru-only")
    assert entries == [
        Pretrained("shakespeare-lstm", "org/shakespeare-lstm", bundled / "shakespeare-lstm"),
        Pretrained("gru-only", "org/gru-only", None),
    ]
    assert pretrained_models(tmp_path / "none", "") == []
