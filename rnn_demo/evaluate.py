"""Validation loss: the mean next-token cross-entropy over a token stream, state carried.

Always in float32, whatever precision training used, so losses compare across devices and runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .batches import batchify, windows
from .loss import next_token_loss
from .model import RNNLanguageModel
from .tokenizers import LARGE_UNKNOWN_SHARE, format_share

EVAL_ROWS = 16
EVAL_SEQ_LEN = 256


@dataclass(frozen=True)
class Evaluation:
    loss: float  # nats per token
    tokens: int
    unknown: int = 0  # of those tokens, the ones read as <unk> (outside the vocabulary)

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    def as_dict(self) -> dict:
        return {
            "loss": self.loss,
            "bits_per_token": self.bits_per_token,
            "perplexity": self.perplexity,
            "tokens": self.tokens,
            "unknown_tokens": self.unknown,
            "unknown_share": self.unknown_share,
        }


def unknown_note(result: Mapping) -> str:
    """What to append to a printed evaluation (``as_dict()``'s keys) when some tokens were ``<unk>``: a
    loss over many of them says little about the text. (Not that it flatters the model: ``<unk>`` is
    easy for a model trained on text full of it, but a code model read 96 % Chinese at 12.07 nats.)"""
    share = result.get("unknown_share", 0.0)
    if not share:
        return ""
    note = f" | {format_share(share)} of them <unk> (outside the vocabulary)"
    return note + (": the loss is mostly about <unk>, not the text" if share >= LARGE_UNKNOWN_SHARE else "")


@torch.no_grad()
def evaluate(model: RNNLanguageModel, ids: torch.Tensor, max_tokens: int | None = None) -> Evaluation:
    """Loss of ``model`` predicting each token of ``ids`` from all the tokens before it.

    The stream is cut into a few contiguous rows read in parallel (each row starts from a zero
    state, then carries it), which changes the figure by far less than run-to-run noise.
    """
    if max_tokens is not None:
        ids = ids[: max_tokens + 1]
    if ids.numel() < 2:
        raise ValueError("need at least two tokens to evaluate")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = max(1, min(EVAL_ROWS, (ids.numel() - 1) // EVAL_SEQ_LEN))
    batched = batchify(ids, rows).to(device)
    state, total, count = None, 0.0, 0
    unknown = int((batched[:, 1:] == 0).sum())  # the targets the windows below read
    for _, inputs, targets in windows(batched, EVAL_SEQ_LEN):
        logits, state = model(inputs, state)
        total += next_token_loss(logits, targets, reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return Evaluation(loss=total / count, tokens=count, unknown=unknown)
