"""Fixtures for the app tests: the Gradio app launched in-process on a free port, gradio_client clients.

Each app gets its own :class:`rnn_demo.app_settings.AppSettings`: tiny bundled checkpoints made here
(an LSTM and a GRU trained for a few dozen steps, so the tests don't depend on ``checkpoints/``),
a Hub endpoint when a test needs one, and two trainings at once so two clients can train together.
"""

from __future__ import annotations

import os

# Before gradio is imported: no analytics calls, and quick heartbeats so closing a client or a
# tab is noticed (and its session freed) within a second.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["GRADIO_HEARTBEAT_INTERVAL"] = "0.5"

import shutil  # noqa: E402
import socket  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import closing  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import pytest  # noqa: E402
from gradio_client import Client  # noqa: E402

import app  # noqa: E402
from rnn_demo.app_settings import AppSettings  # noqa: E402
from rnn_demo.train import Trainer  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402

# The training settings the app tests send to /train: a small model that learns the generated
# English corpus in a few seconds on one core.
SMALL = dict(hidden_size=48, embedding_size=16, seq_len=32, batch_size=16, lr=0.01)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bundled(tmp_path_factory, checkpoint, corpus_text) -> Path:
    """A stand-in for ``checkpoints/``: a tiny LSTM (the shared fixture) and a tiny GRU."""
    folder = tmp_path_factory.mktemp("bundled")
    shutil.copytree(checkpoint, folder / "tiny-lstm", ignore=shutil.ignore_patterns("trainer_state.*"))
    gru = Trainer(corpus_text, tiny_config(cell="gru", steps=40), source={"name": "english.txt"})
    for _ in gru.run():
        pass
    gru.save(str(folder / "tiny-gru"))
    return folder


@pytest.fixture(scope="session")
def corpus_b(tmp_path_factory) -> Path:
    """A second corpus with a different alphabet (digits and symbols): whoever trains on it knows no letters."""
    lines = [" ".join(f"{(i * 7 + j) % 1000:03d}+{j % 10}=#" for j in range(8)) for i in range(900)]
    path = tmp_path_factory.mktemp("corpus-b") / "numbers.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def launch_app() -> Iterator[Callable[..., str]]:
    """``launch_app(settings, demo=None) -> url``: build and serve the app (or ``demo``, as the app is
    served) in-process; all closed at the end."""
    demos = []

    def launch(settings: AppSettings, demo: gr.Blocks | None = None) -> str:
        demo = demo or app.build_demo(settings)
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(settings))
        demos.append(demo)
        return f"http://127.0.0.1:{port}/"

    yield launch
    for demo in demos:
        demo.close()


def settings(bundled: Path, **overrides) -> AppSettings:
    """Test settings: the tiny bundled models, no Hub repos unless given, one CPU thread (the cores are shared)."""
    return AppSettings(**{"bundled_dir": bundled, "models": "", "threads": 1, **overrides})


@pytest.fixture(scope="session")
def app_url(launch_app, bundled) -> str:
    """The app as deployed, but with the tiny bundled models, no Hub repos, and two trainings at once."""
    return launch_app(settings(bundled, train_concurrency=2, max_seconds=120))


@pytest.fixture
def make_client(app_url) -> Iterator[Callable[..., Client]]:
    """``make_client(url=app_url) -> Client``: each is its own session; closed after the test."""
    clients = []

    def make(url: str = app_url) -> Client:
        client = Client(url, verbose=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> Client:
    return make_client()
