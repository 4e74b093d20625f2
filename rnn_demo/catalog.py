"""Which models can be opened, and from where: a folder, a Hub repo, or a bundled checkpoint.

Pretrained models are looked up on the Hub when a repo is configured for them
(``RNN_DEMO_MODELS="shakespeare-lstm=owner/repo,..."``) and served from the bundled
``checkpoints/`` folder when none is configured or the Hub can't be reached; :func:`open_model`
says which source served the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import hub
from .checkpoint import is_checkpoint_folder, load_model
from .errors import UserError
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
