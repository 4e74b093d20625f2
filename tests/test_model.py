"""The language model: fused and scratch implementations agree, checkpoints round-trip, pickles are refused."""

import json
import re

import pytest
import torch

from rnn_demo import checkpoint as ckpt
from rnn_demo.errors import UserError
from rnn_demo.model import RNNLanguageModel
from rnn_demo.tokenizers import CharTokenizer

VOCAB = CharTokenizer(["<unk>", *"abcdefgh \n.,"]).to_config()
CELLS = ["lstm", "gru"]


def _model(cell="lstm", **kwargs) -> RNNLanguageModel:
    torch.manual_seed(0)
    settings = dict(embedding_size=8, hidden_size=12, num_layers=1) | kwargs
    return RNNLanguageModel(VOCAB, cell=cell, **settings).eval()


def _ids(batch=2, steps=9, seed=1):
    return torch.randint(0, len(VOCAB["vocab"]), (batch, steps), generator=torch.Generator().manual_seed(seed))


def _flat(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers, dropout", [(1, 0.0), (3, 0.3)])
def test_fused_and_scratch_give_the_same_logits_both_ways(tmp_path, cell, layers, dropout):
    ids = _ids()
    for trained_with, loaded_with in (("fused", "scratch"), ("scratch", "fused")):
        model = _model(cell, num_layers=layers, dropout=dropout, implementation=trained_with)
        ckpt.save_model(model, tmp_path / trained_with)
        other = ckpt.load_model(tmp_path / trained_with, implementation=loaded_with)
        assert other.implementation == loaded_with and not other.training
        logits, state = model(ids)
        other_logits, other_state = other(ids)
        torch.testing.assert_close(other_logits, logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(_flat(other_state), _flat(state), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_is_active_in_training_mode_only(cell):
    model = _model(cell, num_layers=2, dropout=0.5)
    ids = _ids()
    torch.testing.assert_close(model(ids)[0], model(ids)[0])
    model.train()
    assert not torch.allclose(model(ids)[0], model(ids)[0])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("implementation", ["fused", "scratch"])
def test_state_carried_across_windows_equals_one_long_window(cell, implementation):
    model = _model(cell, num_layers=2, implementation=implementation)
    ids = _ids(steps=12)
    whole, whole_state = model(ids)
    first, state = model(ids[:, :5])
    second, state = model(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(_flat(state), _flat(whole_state), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_step_matches_forward(cell):
    model = _model(cell, num_layers=2)
    ids = _ids(batch=1, steps=6)
    logits, _ = model(ids)
    state = model.initial_state(1)
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_save_load_round_trip_is_bit_exact(tmp_path, cell):
    model = _model(cell, num_layers=2, dropout=0.1)
    folder = ckpt.save_model(model, tmp_path / "ckpt", card="# card\n")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["cell"] == cell and config["num_layers"] == 2 and config["tokenizer"] == VOCAB
    loaded = ckpt.load_model(folder)
    assert loaded.architecture() == model.architecture()
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    ids = _ids()
    assert torch.equal(loaded(ids)[0], model(ids)[0])
    assert loaded.tokenizer.vocab == model.tokenizer.vocab


def test_tied_weights_share_one_tensor_and_survive_saving(tmp_path):
    model = _model(embedding_size=12, hidden_size=12, tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    untied = _model(embedding_size=12, hidden_size=12)
    assert model.parameter_count == untied.parameter_count - untied.decoder.weight.numel()
    ckpt.save_model(model, tmp_path / "tied")
    loaded = ckpt.load_model(tmp_path / "tied")
    assert loaded.decoder.weight is loaded.embedding.weight
    assert torch.equal(loaded.embedding.weight, model.embedding.weight)
    ids = _ids()
    assert torch.equal(loaded(ids)[0], model(ids)[0])


def test_tied_weights_need_equal_sizes():
    with pytest.raises(UserError, match="tied weights need embedding size == hidden size"):
        _model(embedding_size=8, hidden_size=12, tie_weights=True)


@pytest.mark.parametrize("bad, message", [({"cell": "rnn"}, "unknown cell 'rnn'"), ({"implementation": "cuda"}, "unknown implementation")])
def test_bad_architecture_is_a_user_error(bad, message):
    with pytest.raises(UserError, match=message):
        _model(**bad)


@pytest.mark.parametrize("names", [["pytorch_model.bin"], ["config.json", "pytorch_model.bin"], ["model.pt", "weights.pth"]])
def test_folder_with_only_pickled_weights_is_refused(tmp_path, names):
    model = _model()
    for name in names:
        if name == "config.json":
            (tmp_path / name).write_text(json.dumps(model.architecture()))
        else:
            torch.save(model.state_dict(), tmp_path / name)
    with pytest.raises(UserError, match=r"refusing pickled weights \(.*(pytorch_model\.bin|model\.pt)"):
        ckpt.load_model(tmp_path)
    with pytest.raises(UserError, match="model.safetensors"):  # the mixin's own loader refuses too
        RNNLanguageModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("keep, missing", [("config.json", "model.safetensors"), ("model.safetensors", "config.json"), ("README.md", "config.json, model.safetensors")])
def test_missing_files_are_refused(tmp_path, keep, missing):
    saved = ckpt.save_model(_model(), tmp_path / "full")
    partial = tmp_path / "partial"
    partial.mkdir()
    if keep == "README.md":
        (partial / keep).write_text("# nothing else\n")
    else:
        (partial / keep).write_bytes((saved / keep).read_bytes())
    with pytest.raises(UserError, match=f"not a checkpoint folder \\(missing {missing}\\)"):
        ckpt.load_model(partial)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="no such checkpoint folder"):
        ckpt.load_model(tmp_path / "nowhere")


def test_mismatched_weights_are_refused(tmp_path):
    folder = ckpt.save_model(_model(hidden_size=12), tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"hidden_size": 16}))
    with pytest.raises(UserError, match="not a compatible checkpoint"):
        ckpt.load_model(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not a compatible checkpoint"):
        ckpt.load_model(folder)


def test_trained_checkpoint_has_a_hub_model_card(checkpoint):
    card = (checkpoint / "README.md").read_text(encoding="utf-8")
    front = card.split("---")[1]
    for line in ("library_name: rnn-demo", "pipeline_tag: text-generation", "- lstm", "- char-level"):
        assert line in front
    assert "validation loss" in card and "english.txt" in card and "Temperature 0.8" in card
    assert re.search(r"validation loss \(nats/token, over [\d,]+ tokens of the last 10% of the corpus\)", card)  # how much it read
    assert "python -m rnn_demo train english.txt --steps 60" in card
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["tokenizer"]["type"] == "char" and "<unk>" == config["tokenizer"]["vocab"][0]
