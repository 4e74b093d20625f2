"""Shared fixtures: a generated English corpus, tiny training settings, a trained checkpoint, a local Hub.

Everything is made here, small and seeded: no test reads ../shared or the network (the Hub is
``tests/hub_server.py`` on 127.0.0.1), and the whole core suite runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# huggingface_hub reads these when it is first imported: keep the tests away from the user's cache,
# saved login and configured endpoint (tests pass ``endpoint=`` / ``cache_dir=`` explicitly).
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="rnn-demo-tests-hf-home-")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
for _name in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "RNN_DEMO_MODELS"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402
import torch  # noqa: E402

from rnn_demo.train import Trainer  # noqa: E402
from tests.helpers import HUB_TOKEN, english_text, tiny_config  # noqa: E402
from tests.hub_server import HubServer  # noqa: E402

torch.set_num_threads(1)  # the machine's cores are shared; tiny models gain nothing from more


@pytest.fixture(scope="session")
def corpus_text() -> str:
    return english_text()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, corpus_text) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "english.txt"
    path.write_text(corpus_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, corpus_text) -> Path:
    """A tiny LSTM trained 60 steps, saved as a checkpoint folder with its trainer state. Don't modify it."""
    trainer = Trainer(corpus_text, tiny_config(steps=60), source={"name": "english.txt", "encoding": "utf-8"})
    for _ in trainer.run():
        pass
    folder = tmp_path_factory.mktemp("checkpoint") / "tiny-lstm"
    trainer.save(str(folder), command="python -m rnn_demo train english.txt --steps 60")
    return folder


@pytest.fixture
def hub():
    """A local Hub that wants ``HUB_TOKEN`` for writes; stopped (and emptied) after the test."""
    with HubServer(token=HUB_TOKEN) as server:
        yield server


@pytest.fixture
def hf_cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"
