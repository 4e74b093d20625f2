"""Which models can be opened, and from where: a folder, a Hub repo, or a bundled checkpoint.

Pretrained models are looked up on the Hub when a repo is configured for them
(``RNN_DEMO_MODELS="shakespeare-lstm=owner/repo,..."``) and served from the bundled
``checkpoints/`` folder when none is configured or the Hub can't be reached; :func:`open_model`
says which source served the model. :class:`ModelShelf` keeps the app's opened models, shared by
every session.

Listing models needs no torch (the app lists them before torch is imported); opening one imports it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import hub
from .checkpoint_layout import is_checkpoint_folder
from .errors import UserError

if TYPE_CHECKING:
    from .app_settings import AppSettings
    from .model import RNNLanguageModel

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
MODELS_ENV = "RNN_DEMO_MODELS"


@dataclass(frozen=True)
class Pretrained:
    name: str
    repo_id: str | None  # where the Hub keeps it, if configured
    folder: Path | None  # the bundled copy, if any


def pretrained_models(bundled_dir: Path = BUNDLED_DIR, configured: str | None = None) -> list[Pretrained]:
    """Bundled checkpoints, joined with the Hub repos configured in ``RNN_DEMO_MODELS``."""
    configured = os.environ.get(MODELS_ENV, "") if configured is None else configured
    repos: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in configured.split(","))):
        name, _, repo_id = entry.rpartition("=")
        repos[name or repo_id.split("/")[-1]] = repo_id
    bundled = {p.name: p for p in sorted(bundled_dir.glob("*")) if is_checkpoint_folder(p)} if bundled_dir.is_dir() else {}
    names = list(dict.fromkeys([*bundled, *repos]))
    return [Pretrained(n, repos.get(n), bundled.get(n)) for n in names]


def open_model(
    source: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    catalog: list[Pretrained] | None = None,
) -> tuple[RNNLanguageModel, str]:
    """Load a model by folder path, pretrained name or Hub repo id; return it and where it came from."""
    from .checkpoint import load_model  # torch loads with the first model opened, not with the list

    hub_options = dict(token=token, endpoint=endpoint, cache_dir=cache_dir)
    source = source.strip()
    if not source:
        raise UserError("no model given")
    if os.path.isdir(source):  # unlike Path.is_dir, False for a name too long for the file system
        return load_model(source), f"folder {source}"
    entry = next((p for p in (catalog if catalog is not None else pretrained_models()) if source in (p.name, p.repo_id)), None)
    if entry is None:
        if not hub.looks_like_repo_id(source):
            raise UserError(f"{source!r}: no such checkpoint folder, pretrained model or Hub repo id (owner/name)")
        return load_model(hub.download(source, **hub_options)), f"Hugging Face Hub ({source})"
    if entry.repo_id:
        try:
            return load_model(hub.download(entry.repo_id, **hub_options)), f"Hugging Face Hub ({entry.repo_id})"
        except hub.HubUnreachable:
            if entry.folder is None:
                raise
            return load_model(entry.folder), f"bundled checkpoints/{entry.name} (the Hub was unreachable)"
    return load_model(entry.folder), f"bundled checkpoints/{entry.name}"


class ModelShelf:
    """Pretrained models opened once and shared by every session (read-only, CPU).

    A model served from the bundled folder because the Hub was unreachable is kept only for
    ``retry_after`` seconds, so the Hub is tried again once it may be back.
    """

    def __init__(self, settings: AppSettings, retry_after: float = 120.0, capacity: int = 8) -> None:
        self.settings = settings
        self.retry_after = retry_after
        self.capacity = capacity  # models kept at most (any Hub repo id can be asked for)
        self._models: OrderedDict[str, tuple[RNNLanguageModel, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [p.name for p in self.settings.catalog()]

    def describe(self) -> list[dict]:
        """The pretrained models this deployment offers and where each would come from."""
        return [
            {"name": p.name, "hub_repo": p.repo_id, "bundled": p.folder is not None}
            for p in self.settings.catalog()
        ]

    def open(self, source: str) -> tuple[RNNLanguageModel, str]:
        """A pretrained name or a Hub repo id → the model and a line saying where it came from."""
        source = (source or "").strip()
        if not source:
            raise UserError("no model given: pick a pretrained model or give a Hub repo id (owner/name)")
        catalog = self.settings.catalog()
        known = any(source in (p.name, p.repo_id) for p in catalog)
        if not known and not hub.REPO_ID.match(source):
            names = ", ".join(p.name for p in catalog) or "none"
            raise UserError(f"{source!r} is neither a pretrained model ({names}) nor a Hub repo id (owner/name)")
        with self._lock:
            cached = self._models.get(source)
            if cached and cached[2] > time.monotonic():
                self._models.move_to_end(source)
                return cached[0], cached[1]
        if not known and os.path.exists(source):  # a path on this server is not a Hub repo id
            raise UserError(f"{source!r} is not a Hub repo id")
        model, origin = open_model(source, endpoint=self.settings.hub_endpoint, catalog=catalog)
        model.eval()
        keep = self.retry_after if "unreachable" in origin else math.inf
        with self._lock:
            self._models[source] = (model, origin, time.monotonic() + keep)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return model, origin
