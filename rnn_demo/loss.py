"""The training loss: mean next-token cross-entropy of the decoder's logits, always computed in float32.

Why a module of its own: for a word model the decoder and its loss are most of a training step.
At 5,000 words and the default size (batch 64 × window 64 = 4,096 tokens, hidden 384), the logits
are 4,096 × 5,000 floats, 82 MB, and the plain way — ``F.cross_entropy(decoder(h).float(), t)`` —
passes over tensors that size about ten times a step (the bf16 → float32 cast, ``log_softmax``,
its gradient, a zero-filled gradient buffer, the cast back): ~40 % of the step in bf16. So on a CPU,
from :data:`FUSED_MIN_VOCAB` words up, :class:`DecoderCrossEntropy` goes through the logits in
blocks of :data:`BLOCK_ROWS` tokens and turns each block into its gradient at once, while it is
still in cache. Whole training steps at the default size against the plain way (2-core Zen 4, one
process, alternating; bench/RESULTS.md §1): 5,000 words float32 1.28–1.29×, bf16 1.57–1.60×;
20,000 words 1.52–1.83×; 2,000 words 1.07–1.22×. Below that the plain way is as fast or faster
(0.75× for the decoder and loss alone at 65 characters), so it stays there, and on GPUs.

The equations, for a block of logits ``z = h Wᵀ + b`` and targets ``t``, over ``N`` tokens::

    loss = (1/N) Σ_rows [ logsumexp(z) − z_t ]
    dL/dz = (softmax(z) − onehot(t)) / N        (kept, in the training precision)
    dL/dh = dz W,   dL/dW = dzᵀ h,   dL/db = Σ_rows dz

so backward has only to scale what forward kept by the incoming gradient (1 for a plain loss).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from .devices import backward_as_forward, in_autocast_dtype

FUSED_MIN_VOCAB = 2_000
BLOCK_ROWS = 1_024  # tokens per block; 256 or 4,096 ran the decoder and loss at 0.89–1.04× of this speed


def in_memory_order(per_token: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """``per_token`` (batch, time, ·) and ``targets`` (batch, time), both time-major when
    ``per_token`` lies that way in memory (the CPU kernels return such a view): so the tokens
    flatten without a copy. A mean or a sum over tokens doesn't depend on their order."""
    if not per_token.is_contiguous() and per_token.transpose(0, 1).is_contiguous():
        return per_token.transpose(0, 1), targets.t()
    return per_token, targets


def next_token_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits`` (batch, time, vocab) against ``targets`` (batch, time), in float32.

    Flattening the CPU kernels' time-major logits batch-first would copy every logit, and its
    gradient, once more: 10–14 % of a word model's training time at 4,471–20,000 words."""
    logits, targets = in_memory_order(logits, targets)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction=reduction)


def decoder_loss(hidden: Tensor, targets: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Mean cross-entropy of the decoder ``hidden Wᵀ + b`` against ``targets``: ``hidden`` (batch,
    time, H), ``targets`` (batch, time). The same value as decoding and then :func:`next_token_loss`."""
    hidden, targets = in_memory_order(hidden, targets)
    hidden, targets = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
    if hidden.device.type == "cpu" and weight.shape[0] >= FUSED_MIN_VOCAB and torch.is_grad_enabled():
        return DecoderCrossEntropy.apply(hidden, weight, bias, targets)
    return F.cross_entropy(F.linear(hidden, weight, bias).float(), targets)


class DecoderCrossEntropy(torch.autograd.Function):
    """``(h (N, H), W (V, H), b (V), t (N)) → mean cross-entropy of h Wᵀ + b against t``, with the
    gradient computed block by block in forward (see the module docstring)."""

    @staticmethod
    @in_autocast_dtype
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor) -> Tensor:
        tokens, vocab = hidden.shape[0], weight.shape[0]
        rows = min(BLOCK_ROWS, tokens)
        d_logits = hidden.new_empty(tokens, vocab)  # each block's logits, then their gradient
        d_hidden = torch.empty_like(hidden)
        # bf16 logits are turned into their gradient in float32, a block at a time, then cast back
        exact = None if hidden.dtype == torch.float32 else hidden.new_empty(rows, vocab, dtype=torch.float32)
        total = hidden.new_zeros((), dtype=torch.float32)
        minus_one = hidden.new_full((rows, 1), -1.0 / tokens, dtype=torch.float32)
        for start in range(0, tokens, rows):
            stop = min(tokens, start + rows)
            block, picked = d_logits[start:stop], targets[start:stop, None]
            torch.addmm(bias, hidden[start:stop], weight.t(), out=block)  # z
            z = block if exact is None else exact[: stop - start].copy_(block)
            top = z.amax(1, keepdim=True)
            total += (top - z.gather(1, picked)).sum()
            z.sub_(top).exp_()  # e^(z − max): a softmax's numerators, each ≤ 1
            sums = z.sum(1, keepdim=True)
            total += sums.log().sum()  # logsumexp(z) = max + log Σ e^(z − max)
            z.mul_(sums.reciprocal_().div_(tokens))  # softmax(z) / N
            z.scatter_add_(1, picked, minus_one[: stop - start])  # − onehot(t) / N
            if z is not block:
                block.copy_(z)  # (casts are fast as copies; a bf16-out mul or scatter was 3–5× slower)
            torch.mm(block, weight, out=d_hidden[start:stop])  # dz W
        ctx.save_for_backward(hidden, d_logits, d_hidden)
        ctx.set_materialize_grads(False)
        return total / tokens

    @staticmethod
    @backward_as_forward
    @once_differentiable
    def backward(ctx, grad: Tensor | None):
        if grad is None:
            return None, None, None, None
        hidden, d_logits, d_hidden = ctx.saved_tensors
        need = ctx.needs_input_grad
        scale = grad.to(hidden.dtype)
        d_weight = (d_logits.t() @ hidden).mul_(scale) if need[1] else None
        d_bias = d_logits.sum(0).mul_(scale) if need[2] else None
        return (d_hidden * scale if need[0] else None), d_weight, d_bias, None
