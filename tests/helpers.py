"""Helpers the test modules import: the generated corpus, tiny settings, subprocess environments."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from rnn_demo.config import TrainConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HUB_TOKEN = "hf_test_token_0123456789abcdef"

_SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the old man", "her sister", "the teacher", "a small child"]
_VERBS = ["sees", "likes", "finds", "follows", "helps", "calls", "watches", "meets"]
_OBJECTS = ["the river", "a red ball", "the green tree", "his brother", "the big house", "a quiet road", "the moon"]
_TAILS = [".", ".", ".", "!", "?", " today.", " at night.", ", and then it rains.", " again and again."]


def english_text(size: int = 60_000, seed: int = 0) -> str:
    """Simple, repetitive English prose (a char model learns it in a few dozen steps)."""
    rng = random.Random(seed)
    lines: list[str] = []
    length = 0
    while length < size:
        sentences = []
        for _ in range(rng.randint(1, 3)):
            words = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_TAILS)}"
            sentences.append(words[0].upper() + words[1:])
        line = " ".join(sentences)
        if rng.random() < 0.1:
            line = f'"I don\'t know," said {rng.choice(_SUBJECTS)}.'
        lines.append(line)
        if rng.random() < 0.15:
            lines.append("")
        length += len(line) + 1
    return "\n".join(lines) + "\n"


def tiny_config(**overrides) -> TrainConfig:
    """A model small enough to train a few dozen steps in a second or two; without dropout, which a
    run that leaves it unset gets on such a short text (test_train.py tests that choice)."""
    base = TrainConfig(
        dropout=0.0,
        embedding_size=16,
        hidden_size=32,
        seq_len=32,
        batch_size=8,
        lr=1e-2,
        seconds=None,
        steps=40,
        eval_tokens=2048,
        device="cpu",
        threads=1,
    )
    return replace(base, **overrides)


def python_env(**extra: str) -> dict[str, str]:
    """Environment for ``python -m rnn_demo`` subprocesses: this interpreter's, repo on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env["HF_HOME"] = tempfile.mkdtemp(prefix="rnn-demo-tests-hf-home-")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env



def memorisable_text(size: int = 3000, seed: int = 0) -> str:
    """Letters drawn at random: nothing to learn but their frequencies, so a model soon learns the
    training part by heart and does worse on the held-out part (overfitting, in ~100 steps)."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefgh ") for _ in range(size))
