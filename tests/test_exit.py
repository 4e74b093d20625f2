"""Exiting while the server trains or generates: the process ends cleanly.

The app serves from daemon threads; a process that exits while one of them is inside a torch op
used to abort ("terminate called without an active exception", exit code 134) — e.g. Ctrl-C on
``python app.py`` during a run. Reproduced here in a subprocess: both streams run in daemon
threads, the main thread exits, and the exit must be a clean 0.
"""

from __future__ import annotations

import subprocess
import textwrap

from tests.helpers import PYTHON, python_env

SCRIPT = textwrap.dedent(
    """
    import threading
    from rnn_demo import session
    from rnn_demo.generate import Generation
    from rnn_demo.model import RNNLanguageModel
    from rnn_demo.tokenizers import UNK
    from tests.helpers import english_text, tiny_config

    text = english_text(20_000)
    started = {"train": threading.Event(), "generate": threading.Event()}

    def train():
        for _ in session.train_events(text, tiny_config(seconds=60, steps=None, hidden_size=64)):
            started["train"].set()

    def generate():
        model = RNNLanguageModel({"type": "char", "vocab": [UNK, *sorted(set(text))]}, cell="gru", hidden_size=256)
        for _ in session.text_stream(Generation(model, "The", length=10_000), every=0):
            started["generate"].set()

    for work in (train, generate):
        threading.Thread(target=work, daemon=True).start()
    for name, event in started.items():
        assert event.wait(60), name + " never started"
    print("exiting with both streams running", flush=True)
    """
)


def test_exiting_while_training_and_generating_ends_the_process_cleanly():
    done = subprocess.run([PYTHON, "-c", SCRIPT], env=python_env(), capture_output=True, text=True, timeout=120)
    assert "exiting with both streams running" in done.stdout, done.stderr
    assert "terminate called" not in done.stderr
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_main_thread_closing_a_stream_at_exit_does_not_wait_for_ever():
    """After :func:`session.finish_turns` a daemon thread parks, but the main thread (which the
    interpreter waits for) skips the run's last validation instead."""
    script = textwrap.dedent(
        """
        from rnn_demo import session
        from tests.helpers import english_text, tiny_config

        events = session.train_events(english_text(20_000), tiny_config(seconds=60, steps=None))
        next(events), next(events)
        assert session.finish_turns(timeout=5)
        events.close()
        print("closed", flush=True)
        """
    )
    done = subprocess.run([PYTHON, "-c", script], env=python_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr[-2000:]
