"""Checkpoint folders in the Hugging Face Hub's layout, and nothing that unpickles.

A checkpoint is a self-contained folder::

    config.json         architecture and tokenizer, vocabulary included
    model.safetensors   the weights
    README.md           a model card: metrics, corpus, settings, a sample
    trainer_state.*     (optional) what ``train --resume`` needs: optimizer, data position, RNG

Folders whose weights are only ``.bin``/``.pt``/``.pth`` (pickles, which can run code) are refused.
"""

from __future__ import annotations

import os
import json
import shutil
from pathlib import Path

import safetensors.torch
import torch

from .checkpoint_layout import CARD_FILE, CONFIG_FILE, STATE_JSON, STATE_TENSORS, WEIGHTS_FILE, check_folder
from .errors import UserError
from .model import RNNLanguageModel

def load_model(path: str | Path, *, implementation: str | None = None, device: str = "cpu") -> RNNLanguageModel:
    """Load a checkpoint folder strictly: every weight present, nothing unexpected."""
    path = check_folder(path)
    overrides = {"implementation": implementation} if implementation else {}
    try:
        return RNNLanguageModel.from_pretrained(path, strict=True, map_location=device, **overrides)
    except (KeyError, TypeError, RuntimeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not a compatible checkpoint ({type(error).__name__}: {error})") from None


def save_model(model: RNNLanguageModel, folder: str | Path, card: str | None = None) -> Path:
    """Write config.json + model.safetensors (+ README.md) into ``folder``; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cpu_model = model if next(model.parameters()).device.type == "cpu" else _cpu_copy(model)
    cpu_model.save_pretrained(folder)  # also writes a generic card unless README.md exists
    if card is not None:
        Path(folder, CARD_FILE).write_text(card, encoding="utf-8")
    _mode_like(folder / CONFIG_FILE, folder / WEIGHTS_FILE)
    return folder


def _mode_like(reference: Path, written: Path) -> None:
    """safetensors writes its files 0600 whatever the umask: give ``written`` the mode of ``reference``,
    a file Python just wrote (so 0644 under the usual umask 022), which the download's zip passes on."""
    shutil.copymode(reference, written)


def _cpu_copy(model: RNNLanguageModel) -> RNNLanguageModel:
    copy = RNNLanguageModel(**model.architecture())
    copy.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return copy


def save_trainer_state(folder: str | Path, info: dict, tensors: dict[str, torch.Tensor]) -> None:
    """The resumable part of training: JSON for numbers and settings, safetensors for tensors."""
    folder = Path(folder)
    safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, folder / STATE_TENSORS)
    (folder / STATE_JSON).write_text(json.dumps(info, indent=2), encoding="utf-8")
    _mode_like(folder / STATE_JSON, folder / STATE_TENSORS)


def load_trainer_state(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    folder = Path(folder)
    if not os.path.isfile(folder / STATE_JSON) or not os.path.isfile(folder / STATE_TENSORS):
        raise UserError(f"{folder}: no trainer state to resume from (was it written by `train --out`?)")
    info = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    return info, safetensors.torch.load_file(folder / STATE_TENSORS)

