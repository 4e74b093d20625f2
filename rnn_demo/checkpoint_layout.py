"""A checkpoint folder's files, and what makes a folder one (see ``checkpoint.py`` for the layout).

Free of torch: the app lists the bundled models, and the Hub code checks folders, before torch is
imported.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def is_checkpoint_folder(path: str | Path) -> bool:
    return os.path.isfile(Path(path, CONFIG_FILE)) and os.path.isfile(Path(path, WEIGHTS_FILE))


def check_folder(path: str | Path) -> Path:
    """Raise :class:`UserError` unless ``path`` is a loadable checkpoint folder."""
    path = Path(path)
    if not os.path.isdir(path):  # unlike Path.is_dir, False for a name too long for the file system
        raise UserError(f"{path}: no such checkpoint folder")
    if is_checkpoint_folder(path):
        return path
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UserError(
            f"{path}: refusing pickled weights ({', '.join(pickles)}); only {WEIGHTS_FILE} + {CONFIG_FILE} checkpoints load"
        )
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not Path(path, name).is_file()]
    raise UserError(f"{path}: not a checkpoint folder (missing {', '.join(missing)})")
