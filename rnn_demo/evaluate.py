"""Validation loss: the mean next-token cross-entropy over a token stream, state carried.

Always in float32, whatever precision training used, so losses compare across devices and runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .batches import batchify, windows
from .loss import next_token_loss
from .model import RNNLanguageModel

EVAL_ROWS = 16
EVAL_SEQ_LEN = 256


@dataclass(frozen=True)
class Evaluation:
    loss: float  # nats per token
    tokens: int

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
        }


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
    for _, inputs, targets in windows(batched, EVAL_SEQ_LEN):
        logits, state = model(inputs, state)
        total += next_token_loss(logits, targets, reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return Evaluation(loss=total / count, tokens=count)
