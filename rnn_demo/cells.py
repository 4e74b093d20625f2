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
from typing import NamedTuple

import torch
from torch import Tensor, nn


class LSTMGates(NamedTuple):
    """An LSTM's four gate activations at one time step, each (batch, hidden)."""

    input: Tensor  # i: how much new content to write, 0…1
    forget: Tensor  # f: how much of the old cell to keep, 0…1
    candidate: Tensor  # g: the new content itself, −1…1
    output: Tensor  # o: how much of the cell to show, 0…1


def lstm_gates(
    x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor
) -> LSTMGates:
    """What an LSTM's gates say at one time step, from the input ``x`` and the previous hidden state ``h``::

        i  = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate: how much new content to write
        f  = σ(W_if x + b_if + W_hf h + b_hf)        forget gate: how much of the old cell to keep
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate: the new content itself
        o  = σ(W_io x + b_io + W_ho h + b_ho)        output gate: how much of the cell to show

    The four are computed with one matrix product each for ``x`` and ``h``: ``weight_ih`` stacks
    ``[W_ii; W_if; W_ig; W_io]`` (torch's order), and ``chunk(4)`` splits the result.
    """
    gates = torch.addmm(bias_ih, x, weight_ih.t()) + torch.addmm(bias_hh, h, weight_hh.t())
    i, f, g, o = gates.chunk(4, dim=1)
    return LSTMGates(torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o))


def lstm_update(gates: LSTMGates, c: Tensor) -> tuple[Tensor, Tensor]:
    """What the gates do to the memory cell ``c``, and what the cell shows as the hidden state::

        c' = f ⊙ c + i ⊙ g        keep some of the old cell, write some of the candidate
        h' = o ⊙ tanh(c')         show some of the (squashed) cell

    The cell is the LSTM's long-term memory: where ``f`` is near 1 and ``i`` near 0, a unit carries its
    value unchanged from step to step, and the gradient flows back through it undiminished.
    """
    next_c = gates.forget * c + gates.input * gates.candidate
    next_h = gates.output * torch.tanh(next_c)
    return next_h, next_c


def lstm_step(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
) -> tuple[Tensor, Tensor]:
    """One time step of an LSTM (Hochreiter & Schmidhuber 1997, with a forget gate): ``(h, c) → (h', c')``.

    The gates read the input and the previous hidden state (:func:`lstm_gates`); the cell then keeps,
    writes and shows as they say (:func:`lstm_update`).
    """
    h, c = state
    return lstm_update(lstm_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh), c)


class GRUGates(NamedTuple):
    """A GRU's gate activations at one time step, each (batch, hidden)."""

    reset: Tensor  # r: how much of the past the candidate may look at, 0…1
    update: Tensor  # z: how much of the old state to keep, 0…1
    candidate: Tensor  # n: the new content, −1…1


def gru_gates(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor) -> GRUGates:
    """What a GRU's gates say at one time step, exactly as ``torch.nn.GRU`` computes them::

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)          reset gate
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)          update gate
        n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate, built from the *reset* past

    The reset gate acts *inside* the candidate: it decides how much of the past the new
    content may look at. ``weight_ih`` stacks ``[W_ir; W_iz; W_in]`` (torch's order).
    """
    x_r, x_z, x_n = torch.addmm(bias_ih, x, weight_ih.t()).chunk(3, dim=1)
    h_r, h_z, h_n = torch.addmm(bias_hh, h, weight_hh.t()).chunk(3, dim=1)
    reset_gate = torch.sigmoid(x_r + h_r)
    update_gate = torch.sigmoid(x_z + h_z)
    return GRUGates(reset_gate, update_gate, torch.tanh(x_n + reset_gate * h_n))


def gru_update(gates: GRUGates, h: Tensor) -> Tensor:
    """The new hidden state: ``h' = (1 − z) ⊙ n + z ⊙ h``, a blend of the candidate and the old state."""
    return (1 - gates.update) * gates.candidate + gates.update * h


def gru_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
) -> Tensor:
    """One time step of a GRU (Cho et al. 2014): ``h → h'``, the gates (:func:`gru_gates`) then the
    blend (:func:`gru_update`). A GRU has no separate memory cell: its hidden state is its memory."""
    return gru_update(gru_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh), h)


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
