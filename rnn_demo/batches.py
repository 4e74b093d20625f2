"""From text to training windows: the train/validation split, token ids, contiguous batches.

Truncated backpropagation through time needs each batch row to *continue* where the same row of
the previous window stopped, so the hidden state can be carried across windows: the token stream
is cut into ``batch_size`` long contiguous rows, and windows of ``seq_len`` are read left to right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .config import DEFAULT_MAX_VOCAB
from .errors import UserError
from .tokenizers import Tokenizer, fit_tokenizer

MIN_STEPS_PER_EPOCH = 8


@dataclass
class Dataset:
    tokenizer: Tokenizer
    train_ids: torch.Tensor
    val_ids: torch.Tensor

    def unknown_share(self) -> float:
        """The share of all its tokens (both parts) read as ``<unk>``: rare words, words only in the
        held-out part, characters the training part lacks. A large one trains a model on ``<unk>``."""
        tokens = self.train_ids.numel() + self.val_ids.numel()
        return float((self.train_ids == 0).sum() + (self.val_ids == 0).sum()) / tokens if tokens else 0.0


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """The last ``val_fraction`` of the text is validation (as char-rnn and nanoGPT split)."""
    if not 0.0 < val_fraction < 0.5:
        raise UserError(f"validation fraction must be between 0 and 0.5, got {val_fraction}")
    cut = int(len(text) * (1 - val_fraction))
    return text[:cut], text[cut:]


# A resumed run keeps its vocabulary; on a text mostly outside it, it would learn to predict <unk>.
# (A word model's own text has a few % of <unk>: the words rarer than min_freq.)
MAX_UNKNOWN_SHARE = 0.5


def prepare_dataset(
    text: str,
    tokenizer: str = "char",
    *,
    lang: str = "en",
    val_fraction: float = 0.1,
    min_freq: int | None = None,
    max_vocab: int = DEFAULT_MAX_VOCAB,
    existing: Tokenizer | None = None,
) -> Dataset:
    """Split, fit the vocabulary on the training part (or reuse ``existing``), encode both parts."""
    train_text, val_text = split_text(text, val_fraction)
    if existing is None:
        fitted, train_ids = fit_tokenizer(tokenizer, train_text, lang=lang, min_freq=min_freq, max_vocab=max_vocab)
    else:
        fitted, train_ids = existing, existing.encode(train_text)
        unknown = (train_ids == 0).float().mean().item() if train_ids.numel() else 0.0  # id 0: <unk>
        if unknown > MAX_UNKNOWN_SHARE:
            raise UserError(
                f"{unknown:.0%} of this text's tokens are outside the vocabulary of the run it continues (each would "
                "be read as <unk>): continue it on text like the one it learned from, or train a new model on this one"
            )
    return Dataset(fitted, train_ids, fitted.encode(val_text))


def fit_batch_size(train_tokens: int, seq_len: int, batch_size: int) -> int:
    """The batch size actually used: smaller on a small corpus, so an epoch has a few steps.

    Raises :class:`UserError` when the corpus can't fill even a few one-row windows.
    """
    if seq_len < 2 or batch_size < 1:
        raise UserError("sequence length must be ≥ 2 and batch size ≥ 1")
    needed = MIN_STEPS_PER_EPOCH * seq_len + 1
    if train_tokens < needed:
        raise UserError(
            f"the corpus is too short: {train_tokens:,} training tokens, need at least {needed:,} "
            f"for {MIN_STEPS_PER_EPOCH} windows of {seq_len} (upload more text or lower the sequence length)"
        )
    return max(1, min(batch_size, (train_tokens - 1) // needed))


def batchify(ids: torch.Tensor, rows: int) -> torch.Tensor:
    """Cut a 1-D token stream into ``rows`` contiguous rows: shape (rows, length)."""
    length = ids.numel() // rows
    return ids[: rows * length].view(rows, length)


def window_starts(batched: torch.Tensor, seq_len: int) -> range:
    return range(0, batched.shape[1] - 1, seq_len)


def window(batched: torch.Tensor, start: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets for the window beginning at column ``start``."""
    end = min(start + seq_len, batched.shape[1] - 1)
    return batched[:, start:end], batched[:, start + 1 : end + 1]


def windows(batched: torch.Tensor, seq_len: int, first: int = 0) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(start, inputs, targets)`` for each window from column ``first`` to the end of the rows."""
    for start in window_starts(batched, seq_len):
        if start >= first:
            yield (start, *window(batched, start, seq_len))
