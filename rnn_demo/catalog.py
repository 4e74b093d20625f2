"""Which models can be opened, and from where: a folder, a Hub repo, or a bundled checkpoint.

Pretrained models are looked up on the Hub when a repo is configured for them
(``RNN_DEMO_MODELS="shakespeare-lstm=owner/repo,..."``) and served from the bundled
``checkpoints/`` folder when none is configured or the Hub can't be reached; :func:`locate` and
:func:`open_model` say which source served the model. :class:`ModelShelf` keeps the app's
pretrained models, shared by every session.

Listing, locating and describing models need no torch (the app does them before torch is
imported); loading one imports it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import hub
from .checkpoint_layout import CONFIG_FILE, is_archive, is_checkpoint_folder, unzip_checkpoint
from .config import TrainConfig, parameter_count, token_unit
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


def locate(
    source: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    catalog: list[Pretrained] | None = None,
) -> tuple[Path, str]:
    """The checkpoint folder a folder path, .zip of one, pretrained name or Hub repo id stands for
    (downloaded or unpacked if need be), and a line saying which source served it. Needs no torch."""
    hub_options = dict(token=token, endpoint=endpoint, cache_dir=cache_dir)
    source = source.strip()
    if not source:
        raise UserError("no model given")
    if os.path.isdir(source):  # unlike Path.is_dir, False for a name too long for the file system
        return Path(source), f"folder {source}"
    if is_archive(source):  # the app's Download
        return unzip_checkpoint(source), f"archive {source}"
    entry = next((p for p in (catalog if catalog is not None else pretrained_models()) if source in (p.name, p.repo_id)), None)
    if entry is None:
        if not hub.looks_like_repo_id(source):
            raise UserError(f"{source!r}: no such checkpoint folder (or .zip of one), pretrained model or Hub repo id (owner/name)")
        return hub.download(source, **hub_options), f"Hugging Face Hub ({source})"
    if entry.repo_id:
        try:
            return hub.download(entry.repo_id, **hub_options), f"Hugging Face Hub ({entry.repo_id})"
        except hub.HubUnreachable:
            if entry.folder is None:
                raise
            return entry.folder, f"bundled checkpoints/{entry.name} (the Hub was unreachable)"
    return entry.folder, f"bundled checkpoints/{entry.name}"


def open_model(
    source: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    catalog: list[Pretrained] | None = None,
) -> tuple[RNNLanguageModel, str]:
    """Load a model by folder path, pretrained name or Hub repo id; return it and where it came from."""
    folder, origin = locate(source, token=token, endpoint=endpoint, cache_dir=cache_dir, catalog=catalog)
    return _load(folder), origin


def _load(folder: Path) -> RNNLanguageModel:
    from .checkpoint import load_model  # torch loads with the first model opened, not with the list

    return load_model(folder)


def describe_architecture(architecture: dict, origin: str) -> str:
    """One Markdown line about a model — kind, size, vocabulary, and where it was served from — from
    its ``config.json`` alone, so the app describes a pretrained model without importing torch."""
    tokenizer = architecture["tokenizer"]
    vocab = len(tokenizer["vocab"])
    shape = TrainConfig(**{k: architecture[k] for k in ("cell", "embedding_size", "hidden_size", "num_layers", "tie_weights") if k in architecture})
    unit = token_unit(tokenizer["type"], tokenizer.get("lang", "en"))
    return (
        f"{shape.cell.upper()} {shape.num_layers}×{shape.hidden_size}, {parameter_count(shape, vocab):,} parameters, "
        f"{vocab:,} {unit} in its vocabulary — served from **{origin}**"
    )


@dataclass
class _Shelved:
    folder: Path
    origin: str
    expires: float  # monotonic time after which the source is looked up again
    description: str | None = None  # read from its config.json once
    model: RNNLanguageModel | None = None  # loaded at the first generation, not to be described


class ModelShelf:
    """Pretrained models located once and shared by every session (read-only, CPU): described from
    their ``config.json``, loaded when first sampled from.

    A model served from the bundled folder because the Hub was unreachable is kept only for
    ``retry_after`` seconds, so the Hub is tried again once it may be back.
    """

    def __init__(self, settings: AppSettings, retry_after: float = 120.0, capacity: int = 8) -> None:
        self.settings = settings
        self.retry_after = retry_after
        self.capacity = capacity  # models kept at most (any Hub repo id can be asked for)
        self._shelf: OrderedDict[str, _Shelved] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [p.name for p in self.settings.catalog()]

    def describe(self) -> list[dict]:
        """The pretrained models this deployment offers and where each would come from."""
        return [
            {"name": p.name, "hub_repo": p.repo_id, "bundled": p.folder is not None}
            for p in self.settings.catalog()
        ]

    def describe_model(self, source: str) -> str:
        """A pretrained name or a Hub repo id → a line on the model and where it came from (no torch)."""
        shelved = self._shelved(source)
        if shelved.description is None:  # every page load asks: a word model's config.json holds its vocabulary
            try:
                architecture = json.loads(Path(shelved.folder, CONFIG_FILE).read_text(encoding="utf-8"))
                shelved.description = describe_architecture(architecture, shelved.origin)
            except (ValueError, KeyError, TypeError, AttributeError):  # a JSONDecodeError is a ValueError
                raise UserError(f"{source}: not a compatible checkpoint (its {CONFIG_FILE} does not describe an LSTM or GRU of this app)") from None
        return shelved.description

    def open(self, source: str) -> tuple[RNNLanguageModel, str]:
        """A pretrained name or a Hub repo id → the model and a line saying where it came from."""
        shelved = self._shelved(source)
        if shelved.model is None:
            shelved.model = _load(shelved.folder).eval()
        return shelved.model, shelved.origin

    def _shelved(self, source: str) -> _Shelved:
        source = (source or "").strip()
        if not source:
            raise UserError("no model given: pick a pretrained model or give a Hub repo id (owner/name)")
        catalog = self.settings.catalog()
        known = any(source in (p.name, p.repo_id) for p in catalog)
        if not known and not hub.REPO_ID.match(source):
            names = ", ".join(p.name for p in catalog) or "none"
            raise UserError(f"{source!r} is neither a pretrained model ({names}) nor a Hub repo id (owner/name)")
        with self._lock:
            shelved = self._shelf.get(source)
            if shelved and shelved.expires > time.monotonic():
                self._shelf.move_to_end(source)
                return shelved
        if not known and (os.path.exists(source) or is_archive(source)):  # a path on this server is not a Hub repo id
            raise UserError(f"{source!r} is not a Hub repo id")
        folder, origin = locate(source, endpoint=self.settings.hub_endpoint, catalog=catalog)
        keep = self.retry_after if "unreachable" in origin else math.inf
        shelved = _Shelved(Path(folder), origin, time.monotonic() + keep)
        with self._lock:
            self._shelf[source] = shelved
            while len(self._shelf) > self.capacity:
                self._shelf.popitem(last=False)
        return shelved
