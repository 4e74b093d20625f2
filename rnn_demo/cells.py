"""LSTM and GRU cells written out gate by gate, for reading.

These are the hand-written units of the tutorial this project grew from, corrected. They hold
exactly the parameters of ``torch.nn.LSTMCell`` / ``torch.nn.GRUCell`` (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, gates stacked in torch's order), so a state dict moves
between them and torch's cells in both directions, and they compute the same numbers.

The step functions take the weights as arguments so that the language model can run them on the
weights of a fused ``nn.LSTM`` / ``nn.GRU`` (its "scratch" implementation, and fast batch-1
sampling) without keeping a second copy of the parameters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def lstm_step(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
) -> tuple[Tensor, Tensor]:
    """One time step of an LSTM (Hochreiter & Schmidhuber 1997, with a forget gate).

    With ``x`` the input and ``(h, c)`` the previous hidden and cell state::

        i  = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate: how much new content to write
        f  = σ(W_if x + b_if + W_hf h + b_hf)        forget gate: how much of the old cell to keep
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate: the new content itself
        o  = σ(W_io x + b_io + W_ho h + b_ho)        output gate: how much of the cell to show
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    The four gates are computed with one matrix product each for ``x`` and ``h``: ``weight_ih``
    stacks ``[W_ii; W_if; W_ig; W_io]`` (torch's order), and ``chunk(4)`` splits the result.
    """
    h, c = state
    gates = torch.addmm(bias_ih, x, weight_ih.t()) + torch.addmm(bias_hh, h, weight_hh.t())
    i, f, g, o = gates.chunk(4, dim=1)
    input_gate = torch.sigmoid(i)
    forget_gate = torch.sigmoid(f)
    candidate = torch.tanh(g)
    output_gate = torch.sigmoid(o)
    next_c = forget_gate * c + input_gate * candidate
    next_h = output_gate * torch.tanh(next_c)
    return next_h, next_c


def gru_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
) -> Tensor:
    """One time step of a GRU (Cho et al. 2014), exactly as ``torch.nn.GRU`` computes it::

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)          reset gate
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)          update gate
        n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate, built from the *reset* past
        h' = (1 − z) ⊙ n + z ⊙ h                       blend candidate and old state

    The reset gate acts *inside* the candidate: it decides how much of the past the new
    content may look at. ``weight_ih`` stacks ``[W_ir; W_iz; W_in]`` (torch's order).
    """
    x_r, x_z, x_n = torch.addmm(bias_ih, x, weight_ih.t()).chunk(3, dim=1)
    h_r, h_z, h_n = torch.addmm(bias_hh, h, weight_hh.t()).chunk(3, dim=1)
    reset_gate = torch.sigmoid(x_r + h_r)
    update_gate = torch.sigmoid(x_z + h_z)
    candidate = torch.tanh(x_n + reset_gate * h_n)
    return (1 - update_gate) * candidate + update_gate * h


class _Cell(nn.Module):
    """Parameters shared by both cells, shaped and initialised as torch's cells do."""

    gate_count: int

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        rows = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        bound = 1 / math.sqrt(hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)


class LSTMCell(_Cell):
    """A hand-written ``torch.nn.LSTMCell``: ``forward(x, (h, c)) -> (h', c')``.

    What the tutorial got wrong: each of its gates was an ``nn.Linear`` (which has a bias) *plus*
    a separate zero-initialised bias parameter. The two biases are always added together, so
    one of them is redundant; torch keeps ``bias_ih`` and ``bias_hh`` only for cuDNN
    compatibility, and so do we, so the weights load into ``nn.LSTM``.
    """

    gate_count = 4

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if state is None:
            state = (self._zeros(x), self._zeros(x))
        return lstm_step(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """A hand-written ``torch.nn.GRUCell``: ``forward(x, h) -> h'``.

    What the tutorial got wrong: it computed ``h' = r ⊙ h + (1 − z) ⊙ n`` with a candidate that
    never saw the reset gate. That is not a GRU: the reset gate must scale the recurrent part
    *inside* the candidate, and the old state is kept through the update gate, ``z ⊙ h``.
    """

    gate_count = 3

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        if h is None:
            h = self._zeros(x)
        return gru_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
