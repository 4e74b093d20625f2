"""What a run is set to: every setting, its bounds, and the defaults that benchmarks chose.

Free of torch, like ``app_settings.py``: the app builds its page (fields, bounds, defaults) from
these before torch is imported, which is a third of its start-up on a 2-core machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UserError
from .hardware import cuda_present

# Adam diverges well before this (lr 1.0 ended a run at loss 493, 3.44 untrained); far above it, its
# step overflows float32 and crashes. The app's field and the CLI share this bound.
MAX_LR = 1.0
LR_SCHEDULES = ("constant", "cosine")
MAX_SEED = 2**31 - 1  # the app's field allows as much; torch's seed overflows past 2**64 - 1
MAX_LENGTH = 10_000  # tokens one generation writes at most
# Priming reads the prompt a token at a time (~0.3 ms each for the bundled 2 × 512 LSTM, whose
# weights stream from memory at every step): this many characters take it ~1.5 s. A 260,000-character
# prompt took 88 s before its first generated character.
MAX_PROMPT_CHARS = 5_000
DEFAULT_MAX_VOCAB = 30_000
# spaCy's blank tokenizers that need no extra packages (ja and ko need more; NOTES §6), with what
# they do. Chinese has no word segmenter without one (jieba, pkuseg): its blank tokenizer cuts the
# text into single characters.
WORD_LANGUAGES = {
    "en": "English",
    "zh": "Chinese: single characters, as character tokens (no word segmenter without extra packages)",
    "xx": "any other language: split at spaces and punctuation",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
}


@dataclass
class TrainConfig:
    """Every setting of a run. The defaults are the ones that learned fastest in 60 s on 2 CPU
    cores (bench/time_to_quality.py; the sweep is in bench/RESULTS.md); :func:`default_config`
    swaps in :data:`GPU_DEFAULTS` for a run on a GPU."""

    cell: str = "lstm"
    tokenizer: str = "char"
    lang: str = "en"
    embedding_size: int = 64
    hidden_size: int = 384
    num_layers: int = 1
    dropout: float | None = None  # None: automatic, by how often the budget reads the text (overfitting.automatic_dropout)
    tie_weights: bool = False
    implementation: str = "fused"
    seq_len: int = 64
    batch_size: int = 64
    lr: float = 5e-3
    lr_schedule: str = "cosine"  # decay to lr_floor × lr by the end of the budget, or "constant"
    lr_floor: float = 0.1
    clip: float = 1.0
    val_fraction: float = 0.1
    min_freq: int | None = None
    max_vocab: int = DEFAULT_MAX_VOCAB
    seconds: float | None = 60.0
    steps: int | None = None
    eval_every: float | None = None  # between validations: steps under a step budget, else seconds
    eval_tokens: int = 32_768  # periodic validations read this much, the final one all (fewer if the budget can't hold it)
    sample_length: int = 0  # > 0: a sample of this many tokens at each validation
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast where it is faster (CUDA; CPUs with bf16 in hardware, hidden ≥ 128), see devices.py
    threads: int | None = None  # None: every usable core, and a timed run re-decides as it goes (thread_tuner.py)
    seed: int = 0

    def check(self) -> None:
        numbers = {"seconds": "time budget", "lr": "learning rate", "lr_floor": "lr floor", "clip": "gradient clip",
                   "dropout": "dropout", "val_fraction": "validation fraction", "eval_every": "validation interval"}  # fmt: skip
        for name, label in numbers.items():
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise UserError(f"{label} must be a finite number, got {value}")
        if self.seconds is None and self.steps is None:
            raise UserError("give a time budget (seconds) or a step budget (steps)")
        if self.seconds is not None and self.seconds <= 0:
            raise UserError(f"time budget must be positive, got {self.seconds}")
        if self.steps is not None and self.steps <= 0:
            raise UserError(f"step budget must be positive, got {self.steps}")
        if not 0 < self.lr <= MAX_LR:
            raise UserError(f"learning rate must be in (0, {MAX_LR:g}], got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"unknown lr schedule {self.lr_schedule!r}: choose {' or '.join(LR_SCHEDULES)}")
        if not 0 <= self.lr_floor <= 1:
            raise UserError(f"lr floor must be in [0, 1], got {self.lr_floor}")
        if not self.clip > 0:
            raise UserError(f"gradient clip must be positive, got {self.clip}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"threads must be ≥ 1, got {self.threads}")
        if self.eval_every is not None and not self.eval_every > 0:
            raise UserError(f"validation interval must be positive, got {self.eval_every}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("hidden_size", "embedding_size", "num_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be ≥ 1")
        for name in ("min_freq", "max_vocab"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name.replace('_', ' ')} must be ≥ 1, got {value}")


# What learned fastest in 60 s on one GPU (an H200; bench/gpu.py, the sweep in bench/RESULTS.md).
# A GPU runs ~45 epochs of tiny Shakespeare in that time, so a wider, deeper model with strong
# dropout wins; validating on up to 256k tokens (all of tiny Shakespeare's) costs it ~4 %.
GPU_DEFAULTS = dict(
    embedding_size=128, hidden_size=1024, num_layers=2, dropout=0.5, seq_len=128, batch_size=128, lr=2e-3, eval_tokens=262_144
)


def default_config(gpu: bool | None = None, **settings) -> TrainConfig:
    """The benchmarked defaults for where training runs (``gpu=None``: on CUDA if it is here), under ``settings``."""
    if gpu is None:
        gpu = cuda_present()
    return TrainConfig(**{**(GPU_DEFAULTS if gpu else {}), **settings})


def parameter_count(config: TrainConfig, vocab_size: int) -> int:
    """Parameters of the model ``config`` builds for this vocabulary (as ``RNNLanguageModel`` counts them)."""
    gates = 4 if config.cell == "lstm" else 3
    hidden, count, inputs = config.hidden_size, vocab_size * config.embedding_size, config.embedding_size
    for _ in range(config.num_layers):
        count += gates * hidden * (inputs + hidden + 2)
        inputs = hidden
    if not config.tie_weights:
        count += hidden * vocab_size
    return count + vocab_size


def token_unit(kind: str, lang: str = "en") -> str:
    """What a model's tokens are, in words: spaCy's blank Chinese cuts into single characters."""
    return "characters" if kind == "char" or lang == "zh" else "words"
