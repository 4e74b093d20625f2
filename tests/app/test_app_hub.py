"""The app's Hub paths against a local Hub on 127.0.0.1 (tests/hub_server.py): real huggingface_hub code, real HTTP."""

from __future__ import annotations

import uuid

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.app.conftest import SMALL, settings
from tests.helpers import HUB_TOKEN


def unique(name: str) -> str:
    """A repo id no earlier test has downloaded (the download cache is shared by the test session)."""
    return f"rnn-demo-test/{name}-{uuid.uuid4().hex[:8]}"


def test_pretrained_models_come_from_the_hub_and_from_the_bundled_folder_when_it_is_down(hub, launch_app, make_client, bundled):
    lstm, gru, other = unique("tiny-lstm"), unique("tiny-gru"), unique("any-gru")
    hub.add_repo(lstm, bundled / "tiny-lstm")
    hub.add_repo(gru, bundled / "tiny-gru")
    hub.add_repo(other, bundled / "tiny-gru")
    url = launch_app(settings(bundled, models=f"tiny-lstm={lstm},tiny-gru={gru}", hub_endpoint=hub.url))
    client = make_client(url)

    listed = {m["name"]: m["hub_repo"] for m in client.predict(api_name="/models")}
    assert listed["tiny-lstm"] == lstm and listed["tiny-gru"] == gru
    # A configured pretrained model is pulled from the Hub, and the UI says so.
    assert f"Hugging Face Hub ({lstm})" in client.predict(model="tiny-lstm", api_name="/load_model")
    assert ("GET", f"/{lstm}/resolve/main/model.safetensors") in hub.requests
    assert client.predict(model="tiny-lstm", prompt="The", length=30, seed=0, api_name="/generate").startswith("The")
    # Any compatible repo id, given in the field.
    assert f"Hugging Face Hub ({other})" in client.predict(model="tiny-lstm", repo_id=other, api_name="/load_model")
    assert len(client.predict(repo_id=other, length=25, seed=0, api_name="/generate")) == 25
    # An unknown repo id: a clear error, then the app serves the next request.
    with pytest.raises(AppError, match="no such model repo"):
        client.predict(repo_id=unique("nothing-here"), length=10, api_name="/generate")
    assert len(client.predict(model="tiny-lstm", length=10, seed=0, api_name="/generate")) == 10

    hub.stop()  # the Hub goes away: the port now refuses connections

    # A pretrained model not yet downloaded comes from the bundled folder instead, and the UI says so.
    info = client.predict(model="tiny-gru", api_name="/load_model")
    assert "bundled" in info and "unreachable" in info
    assert len(client.predict(model="tiny-gru", length=15, seed=0, api_name="/generate")) == 15
    # A repo id with no bundled copy: a clear error, then the next request works.
    with pytest.raises(AppError, match="could not be reached"):
        client.predict(repo_id=unique("elsewhere"), length=10, api_name="/generate")
    assert len(client.predict(model="tiny-gru", length=10, seed=1, api_name="/generate")) == 10


def test_push_uses_the_pasted_token_once_and_never_echoes_it(hub, launch_app, make_client, bundled, corpus_file, capfd):
    url = launch_app(settings(bundled, hub_endpoint=hub.url))
    client = make_client(url)
    repo = f"test-user/pushed-{uuid.uuid4().hex[:8]}"

    with pytest.raises(AppError, match="haven't trained"):
        client.predict(repo, HUB_TOKEN, False, api_name="/push")
    client.predict(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL)

    with pytest.raises(AppError, match="paste a Hugging Face access token"):
        client.predict(repo, "", False, api_name="/push")
    with pytest.raises(AppError, match="token was rejected"):
        client.predict(repo, "hf_wrong_token", False, api_name="/push")
    status, token_field = client.predict(repo, HUB_TOKEN, False, api_name="/push")
    assert "Pushed" in status and token_field == ""
    assert {"config.json", "model.safetensors", "README.md"} <= set(hub.files(repo))
    assert "english.txt" in hub.files(repo)["README.md"].decode()

    # The pushed model loads back through the Hub path.
    assert f"Hugging Face Hub ({repo})" in client.predict(repo_id=repo, api_name="/load_model")
    out, err = capfd.readouterr()
    assert HUB_TOKEN not in status + out + err
