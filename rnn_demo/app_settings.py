"""What a deployment of the app is set to: its limits, endpoints and models, from ``RNN_DEMO_*``
environment variables, and the app's fields checked into a :class:`~rnn_demo.config.TrainConfig`.

Free of torch: the app builds its page from these before torch is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .catalog import Pretrained, pretrained_models
from .config import TrainConfig, default_config
from .data import DEFAULT_MAX_BYTES
from .errors import UserError
from .hardware import usable_cores

TRAINED = "my model"  # the model choice meaning "the model trained in this session"
NOT_TRAINED = "you haven't trained a model in this session yet: train one first"
NOT_READ = "read a text first: press Read it"  # a token clicked before Look inside has read anything
SAMPLE_LENGTH = {"char": 200, "word": 50}  # the sample shown at each validation, in tokens


def _env_number(name: str, default: float, cast: Callable = float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise UserError(f"environment variable {name}={raw!r} is not a number") from None
    if value <= 0:
        raise UserError(f"environment variable {name} must be positive, got {raw}")
    return value


@dataclass(frozen=True)
class AppSettings:
    """A deployment's limits. :meth:`from_env` reads them from ``RNN_DEMO_*`` environment variables."""

    max_seconds: float = 600.0  # RNN_DEMO_MAX_SECONDS: the time budget slider's maximum
    train_concurrency: int = 1  # RNN_DEMO_TRAIN_CONCURRENCY: trainings at once on this machine
    generate_concurrency: int = 4  # RNN_DEMO_GENERATE_CONCURRENCY: generations at once
    queue_size: int = 32  # RNN_DEMO_QUEUE_SIZE: requests waiting at most
    max_upload_mb: float = DEFAULT_MAX_BYTES / 2**20  # RNN_DEMO_MAX_UPLOAD_MB: corpus upload cap
    session_ttl: float = 3600.0  # RNN_DEMO_SESSION_TTL: seconds a session's model outlives its last use
    threads: int = 0  # RNN_DEMO_THREADS: CPU threads for training (0: every usable core)
    hub_endpoint: str | None = None  # RNN_DEMO_HUB_ENDPOINT: the Hub (or a stand-in) to download from and push to
    models: str | None = None  # RNN_DEMO_MODELS: "name=owner/repo,..." (None: catalog reads the variable)
    bundled_dir: Path | None = None  # where bundled checkpoints live (None: the repo's checkpoints/)
    gpu: bool | None = None  # training runs on a GPU, so the GPU defaults apply (None: if CUDA is here)

    @classmethod
    def from_env(cls, **overrides) -> "AppSettings":
        values = dict(
            max_seconds=_env_number("RNN_DEMO_MAX_SECONDS", cls.max_seconds),
            train_concurrency=int(_env_number("RNN_DEMO_TRAIN_CONCURRENCY", cls.train_concurrency, int)),
            generate_concurrency=int(_env_number("RNN_DEMO_GENERATE_CONCURRENCY", cls.generate_concurrency, int)),
            queue_size=int(_env_number("RNN_DEMO_QUEUE_SIZE", cls.queue_size, int)),
            max_upload_mb=_env_number("RNN_DEMO_MAX_UPLOAD_MB", cls.max_upload_mb),
            session_ttl=_env_number("RNN_DEMO_SESSION_TTL", cls.session_ttl),
            threads=int(_env_number("RNN_DEMO_THREADS", 0, int)) if os.environ.get("RNN_DEMO_THREADS") else 0,
            hub_endpoint=os.environ.get("RNN_DEMO_HUB_ENDPOINT") or None,
            models=None,
        )
        values.update(overrides)
        return cls(**values)

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def training_threads(self) -> int:
        """Every core to start with; unless RNN_DEMO_THREADS pins a count, training then moves to
        fewer threads while another process competes for the cores (thread_tuner.py)."""
        return self.threads or usable_cores()

    def catalog(self) -> list[Pretrained]:
        if self.bundled_dir is None:
            return pretrained_models(configured=self.models)
        return pretrained_models(self.bundled_dir, configured=self.models)

    def defaults(self, **settings) -> TrainConfig:
        """The benchmarked defaults for where this app trains (CPU or GPU), under ``settings``."""
        return default_config(self.gpu, **settings)

    def train_config(self, **settings) -> TrainConfig:
        """A :class:`TrainConfig` from the app's fields (``None`` keeps the default), checked.

        The app adds a sample at each validation and any pinned thread count; the budget must lie
        within ``max_seconds``.
        """
        given = {k: v for k, v in settings.items() if v is not None}
        for name in ("hidden_size", "num_layers", "embedding_size", "seq_len", "batch_size", "seed"):
            if name in given:
                if float(given[name]) != int(given[name]):
                    raise UserError(f"{name.replace('_', ' ')} must be a whole number, got {given[name]}")
                given[name] = int(given[name])
        config = self.defaults(**given)
        if config.seconds is None or not 0 < config.seconds <= self.max_seconds:
            raise UserError(f"the time budget must be between 1 and {self.max_seconds:g} seconds, got {config.seconds}")
        # The trainer's own validation schedule (a sample at each scheduled one): setting eval_every
        # here had turned off its validations after each epoch, which a short text needs.
        config = replace(config, threads=self.threads or None, sample_length=SAMPLE_LENGTH.get(config.tokenizer, 50))
        config.check()
        return config
