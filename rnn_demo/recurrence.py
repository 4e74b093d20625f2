"""CPU training kernels for whole LSTM and GRU layers, with the backward pass written by hand.

Why this exists: on a CPU, ``nn.GRU`` has no oneDNN kernel — PyTorch loops over the time steps and
records every gate operation for autograd, which reached only ~40–55 % of the machine's matmul
speed at this project's default size. Almost all of a recurrent layer's work is matrix products,
so the plan is to do the matrix products with few, big calls and keep everything else small:

forward (one layer, a window of ``T`` steps, batch ``B``)
    1. the input projection of the whole window in **one** GEMM: ``X W_ihᵀ + b`` for all ``T``;
    2. per step **one** GEMM with ``W_hh``, written straight onto that step's input projection,
       plus a few in-place elementwise ops, run without autograd; what backward needs is kept.

backward
    3. walk the steps in reverse: elementwise gate gradients and **one** GEMM per step for the
       gradient flowing into the previous hidden state;
    4. then ``dW_hh``, ``dW_ih``, ``dX`` and the bias gradients with **single** GEMMs/sums over the
       whole window (``T·B`` rows each: the biggest, most efficient products of all).

Measured at the app's default size (embedding 64 → 1×384, batch 64, window 64, vocabulary 65,
forward + backward + clip + Adam; 2-core Zen 4 VM, variants interleaved, medians of 4–5 rounds):

=====================  ==================  ==================  ====================
tokens/s               GRU, 2 threads      LSTM, 2 threads     GRU / LSTM, 1 thread
=====================  ==================  ==================  ====================
nn.GRU / nn.LSTM       32.2k (0.56)        33.0k (0.75)        20.5k / 18.5k
these kernels          44.4k (0.77)        34.5k (0.78)        27.6k / 21.3k (≈ 1.0)
the tutorial's cells   32.3k               21.2k               20.0k / 14.6k
=====================  ==================  ==================  ====================

(in brackets: the fraction of the ceiling sgemm speed ÷ FLOPs per token, sgemm 188 GFLOP/s with
2 threads, 90 with 1; with :func:`run_on_tokens` the kernels skip the input projection, ~14 % of
those FLOPs, so their fractions flatter them by that much). The LSTM kernels tie with oneDNN with
2 threads in float32 and win in bf16 (~1.1–1.2×, bench/RESULTS.md §1) and with 1 thread (1.14×),
so the model runs both cells on them on a CPU.
Since then the step products run on oneDNN (below): float32, 2 threads, LSTM 39.2k–40.5k and GRU
46.7k–50.0k tokens/s, 0.80–0.89 of that ceiling, in runs where the tutorial's cells did 23.4–25.2k
and 33.1–34.4k (bench/RESULTS.md §1). What is left is mostly the per-step GEMMs (64 rows: ~80–87 %
of the big-GEMM speed) and the ~15 small ops per step that Python issues, each a pass over memory.

Five more tricks, all measured on the 2-core CPU this project targets:

- ``tanh(y) = 2σ(2y) − 1``: torch's CPU sigmoid is ~3× faster than its tanh, so the gates that need
  a tanh get their pre-activations doubled (rows of the weights × 2) and go through ``sigmoid_``.
- the per-step GEMMs on oneDNN, with ``W_hh`` packed once per window (:func:`_step_product`):
  each step's product is thin (``B`` rows), and oneDNN ran it 22–31 % faster than ``torch.addmm``
  in float32 (8–22 % in bf16), adding the step's input projection as it writes; its fixed costs
  make small models slower, so only from a hidden size where it pays (``ONEDNN_MIN_HIDDEN``).
  The GRU keeps ``b_hn`` where ``x_n`` was (:func:`_gru_split`), so its whole step is that one
  product too.
- each step's product is kept for backward as it is, activated in place (``[r z h_n]``,
  ``[i f σ(2a_g) o]``), not written back into the step's input projection, which the product has
  just read; and backward writes what both threads then read into fresh rows each step, not into
  one reused buffer. When the host runs the two vCPUs on different core complexes, writing lines
  that the other core holds costs a transfer between them: the LSTM's gate sigmoid took 206–223 µs
  a step that way instead of 31. Whole training steps, paired rounds, float32 with the vCPUs
  apart: LSTM +7.8 % and then +3.4 %, GRU +4–11 % and then +2.2–2.4 %; with them sharing a cache,
  and in bf16, within ±2 % (bench/RESULTS.md §1).
- fewer passes over memory: in-place ops into preallocated per-window buffers and one per-thread
  scratch buffer for backward's gradient blocks (fresh memory costs page faults).
- :func:`run_on_tokens`: when the first layer reads an embedding (no dropout in between), its input
  projection of token ``v`` is row ``v`` of ``E W_ihᵀ + b`` — a (vocabulary × gates) table. For a
  small vocabulary, gathering rows from that table (and scatter-adding the gradient back) replaces
  three ``T·B``-row GEMMs: measured +12 % (GRU) to +16 % (LSTM) tokens/s for a whole training step.

Under CPU autocast (bf16 training, ``devices.py``) a whole layer runs in bf16 — inputs, weights,
state and gates — so its GEMMs run at the bf16 speed (2.3× float32 here); gradients go back to the
float32 parameters through autograd's casts. Measured: GRU 41.7k → 64.9k tokens/s, LSTM 31.5k →
54.7k; within 0.3–1.1 % of the float32 results (tests/test_recurrence.py).

The kernels use the parameters of ``nn.LSTM`` / ``nn.GRU`` as they are (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``; gates stacked i,f,g,o and r,z,n), so
:func:`run` is a drop-in for ``rnn(x, state)``. Outputs and gradients match ``nn.LSTM``/``nn.GRU``
to float32 rounding; ``torch.autograd.gradcheck`` passes in float64 (tests/test_recurrence.py).
Double backward is not supported.

Notation: ``σ`` the logistic sigmoid, ``⊙`` elementwise product, ``dv`` the gradient of the loss
with respect to ``v``. ``σ' = σ(1 − σ)`` and ``tanh' = 1 − tanh²`` are computed from the saved
*outputs* of the activations (torch's ``sigmoid_backward`` / ``tanh_backward``, one fused op each).
Inside, everything is time-major ``(T, B, ·)``, so step ``t`` is one contiguous block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from . import stopping
from .devices import backward_as_forward, in_autocast_dtype
from .dropout import dropout

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # (grad, σ(x), *, grad_input=out)
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # (grad, tanh(x), *, grad_input=out)

_scratch = threading.local()

# Whether the per-step products run on oneDNN with the weight packed once per window (else torch.addmm,
# which is MKL's sgemm for float32). Tests switch it off to check both paths give the same results.
ONEDNN_STEPS = True
# The smallest hidden size for which oneDNN pays: below it torch.addmm makes whole training steps
# faster. oneDNN costs ~17 µs per call (MKL's float32 sgemm ~4 µs) and ~0.25 ms per window to pack the
# weight. Whole training steps, oneDNN ÷ addmm, LSTM and GRU, batch 16 and 64 (2-core Zen 4): float32
# 0.78–0.99× at hidden 128–256, 1.02–1.03× at 320, 1.07–1.15× at 384–512; bf16 0.94–1.00× at 32–64,
# 1.00–1.05× at 128, 1.02–1.08× at 192–512 (bench/RESULTS.md §1).
ONEDNN_MIN_HIDDEN = {torch.float32: 320, torch.bfloat16: 128}


def _workspace(numel: int, like: Tensor) -> Tensor:
    """A flat scratch buffer for the backward pass, kept per thread and reused from call to call.

    The gradient blocks of a window are tens of MB, and fresh memory costs a page fault per 4 KiB
    on first touch. Only backward's own temporaries live here (everything it returns is a new
    tensor), so reusing it is safe across calls and graphs.
    """
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.numel() < numel or buffer.dtype != like.dtype or buffer.device != like.device:
        buffer = _scratch.buffer = like.new_empty(numel)
    return buffer[:numel]


def _doubled(gates: int, which: int, hidden: int, like: Tensor) -> Tensor:
    """A column over the stacked gate rows: 1, and 2 on the rows of gate number ``which``."""
    scale = like.new_ones(gates * hidden)
    scale[which * hidden : (which + 1) * hidden] = 2
    return scale


def _onednn_packs(weight: Tensor) -> bool:
    """Whether oneDNN runs the step products with this recurrent weight (either orientation): on a
    CPU, float32 or bf16 where the CPU has it, and a hidden size at which it pays."""
    if not (ONEDNN_STEPS and weight.device.type == "cpu" and torch.backends.mkldnn.is_available()):
        return False
    if not hasattr(torch.ops.mkldnn, "_linear_pointwise"):  # torch built without oneDNN's linear ops
        return False
    if min(weight.shape) < ONEDNN_MIN_HIDDEN.get(weight.dtype, float("inf")):
        return False
    return weight.dtype == torch.float32 or torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _step_product(weight: Tensor, batch: int) -> Callable[[Tensor, Tensor], Tensor]:
    """``(x, other) ↦ other + x weightᵀ`` for the per-step products of one window, which all share
    ``weight`` and have only ``batch`` rows.

    Why: ``torch.addmm`` (MKL's sgemm in float32) takes ``weight`` as it is on every call; oneDNN
    takes it packed once per window into its own blocked layout and adds ``other`` as it writes the
    result. The default LSTM's step product, 64 × 384 by 384 × 1536, took 391 µs forward and 380 µs
    backward against 500 µs and 550 µs in float32, 214 / 206 µs against 276 / 231 µs in bf16
    (2-core Zen 4, in a loop over a window); held to AVX2, oneDNN ties with it. Where oneDNN
    can't (float64, other devices): ``torch.addmm``.
    """
    if _onednn_packs(weight):
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), batch)
        linear_add = torch.ops.mkldnn._linear_pointwise.binary  # (x, other, packed, bias, "add")
        return lambda x, other: linear_add(x, other, packed, None, "add")
    weight_t = weight.t()
    return lambda x, other: torch.addmm(other, x, weight_t)


def _first_gradient(d_out: Tensor, d_last: Tensor | None) -> Tensor:
    """The gradient reaching the last step's ``h``: from the output and from the returned final state."""
    if d_last is not None:
        return d_out[-1] + d_last
    return d_out[-1].clone(memory_format=torch.contiguous_format)


def _output_gradient(d_out: Tensor | None, out: Tensor) -> Tensor:
    return out.new_zeros(()).expand_as(out) if d_out is None else d_out


def _steps(tensor: Tensor, start: int, stop: int | None) -> tuple[Tensor, ...]:
    """The per-step views ``tensor[t, :, start:stop]`` for every ``t``, made in one call."""
    return tensor[..., start:stop].unbind(0)


def _columns(blocks: tuple[Tensor, ...], start: int, stop: int | None) -> tuple[Tensor, ...]:
    """The views ``block[:, start:stop]`` of blocks kept one per step (the saved step products)."""
    return tuple(block[:, start:stop] for block in blocks)


# ----- LSTM -----------------------------------------------------------------------------------


def _lstm_forward(
    x_side: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
    """Steps an LSTM over ``x_side`` (T, B, 4H), which holds ``x_t W_ihᵀ + b_ih + b_hh`` with the
    g rows doubled.

    Returns ``out``, ``cells2`` (T+1, B, H) with ``cells2[t+1] = 2·c_t`` (doubled, so that
    ``tanh(c_t) = 2σ(cells2) − 1`` needs no extra multiply), ``tanh(c_t)``,
    ``q_t = o ⊙ tanh'(c_t)``, the factor backward needs for ``dc``, ``g`` (T, B, H), and every
    step's product (B, 4H), turned in place into ``[i f s o]`` with ``s = σ(2 a_g)``: kept rather
    than ``g = 2s − 1`` because ``tanh'(a_g) = 1 − g² = 4s(1 − s)``, so backward gets all four
    gates' gradients from one ``sigmoid_backward``. Activating the product where it was written,
    rather than into ``x_side`` (which the product has just read), is what keeps the step fast when
    the two threads do not share a cache (:func:`_gru_forward` does the same).
    """
    steps, batch, four_h = x_side.shape
    hidden = four_h // 4
    out = x_side.new_empty(steps, batch, hidden)
    cells2 = x_side.new_empty(steps + 1, batch, hidden)
    torch.mul(c0, 2, out=cells2[0])
    tanh_c = x_side.new_empty(steps, batch, hidden)
    q = x_side.new_empty(steps, batch, hidden)
    cand = x_side.new_empty(steps, batch, hidden)
    step_product = _step_product(w_hh * _doubled(4, 2, hidden, w_hh)[:, None], batch)
    minus_one = x_side.new_full((), -1.0)
    c2, tc, qs, h, g = cells2.unbind(0), tanh_c.unbind(0), q.unbind(0), out.unbind(0), cand.unbind(0)
    products = []
    h_prev = h0
    for t, x_t in enumerate(x_side.unbind(0)):
        stopping.check()  # Stop ends a big model's step here, not at its end
        a = step_product(h_prev, x_t).sigmoid_()  # the one GEMM of the step; i, f, o, s = σ(2 a_g)
        i, f, s, o = a.split(hidden, 1)
        torch.add(minus_one, s, alpha=2, out=g[t])  # g = tanh(a_g) = 2σ(2 a_g) − 1
        torch.mul(f, c2[t], out=c2[t + 1])
        c2[t + 1].addcmul_(i, g[t], value=2)  # 2c_t = f ⊙ 2c_{t−1} + 2 i ⊙ g
        torch.sigmoid(c2[t + 1], out=tc[t])
        torch.add(minus_one, tc[t], alpha=2, out=tc[t])  # tanh(c_t)
        torch.mul(o, tc[t], out=h[t])  # h_t = o ⊙ tanh(c_t)
        _tanh_backward(o, tc[t], grad_input=qs[t])  # q_t = o ⊙ (1 − tanh²(c_t))
        products.append(a)
        h_prev = h[t]
    return out, cells2, tanh_c, q, cand, tuple(products)


def _lstm_backward(products, cells2, tanh_c, q, cand, out, h0, w_hh, d_out, d_hn, d_cn, need_h0, need_c0, need_w_hh):
    """Steps 3 and 4 of the module docstring for the recurrent part, over what
    :func:`_lstm_forward` returned; returns ``dA`` (a workspace view: T, B, 4H), ``dh0``, ``dc0``
    and ``dW_hh``."""
    steps, batch, hidden = out.shape
    d_out = _output_gradient(d_out, out)
    d_gates = _workspace(4 * out.numel(), out).view(steps, batch, 4 * hidden)
    dh = _first_gradient(d_out, d_hn)
    dc = d_cn.clone(memory_format=torch.contiguous_format) if d_cn is not None else out.new_zeros(batch, hidden)
    # [di df 4dg do] of every step, the gradients of [i f s o]; fresh rows each step, as in _gru_backward
    pre = out.new_empty(steps, batch, 4 * hidden)
    di, df, dg4, do = (_steps(pre, k * hidden, (k + 1) * hidden) for k in range(4))
    zero = out.new_zeros(())
    i, f = (_columns(products, k * hidden, (k + 1) * hidden) for k in range(2))
    act, g, c2, tc, qs = products, cand.unbind(0), cells2.unbind(0), tanh_c.unbind(0), q.unbind(0)
    da, pres, go = d_gates.unbind(0), pre.unbind(0), d_out.unbind(0)
    step_product = _step_product(w_hh.t(), batch)  # dout_{t−1} + da W_hh
    for t in range(steps - 1, -1, -1):
        stopping.check()
        torch.mul(dh, tc[t], out=do[t])  # do = dh ⊙ tanh(c_t)
        dc.addcmul_(dh, qs[t])  # dc += dh ⊙ o ⊙ tanh'(c_t)
        torch.mul(dc, g[t], out=di[t])  # di = dc ⊙ g
        torch.addcmul(zero, dc, c2[t], value=0.5, out=df[t])  # df = dc ⊙ c_{t−1} (c2 holds 2c)
        torch.addcmul(zero, dc, i[t], value=4, out=dg4[t])  # 4 dg = 4 dc ⊙ i
        _sigmoid_backward(pres[t], act[t], grad_input=da[t])  # da_i, da_f, da_o; da_g = 4 dg ⊙ s(1 − s)
        if t > 0 or need_c0:
            dc.mul_(f[t])  # dc_{t−1} = dc ⊙ f
        if t > 0:
            dh = step_product(da[t], go[t - 1])  # dh_{t−1} = dout_{t−1} + da W_hh
        elif need_h0:
            dh = da[0] @ w_hh
    dw_hh = None
    if need_w_hh:
        dw_hh = d_gates[0].t() @ h0
        if steps > 1:
            dw_hh.addmm_(d_gates[1:].reshape(-1, 4 * hidden).t(), out[:-1].reshape(-1, hidden))
    return d_gates, (dh if need_h0 else None), (dc if need_c0 else None), dw_hh


class LSTMLayer(torch.autograd.Function):
    r"""One LSTM layer over a time-major window: ``(x, h0, c0, W_ih, W_hh, b_ih, b_hh) → (out, h_T, c_T)``.

    Shapes: ``x`` (T, B, I), ``h0``/``c0`` (B, H), weights as ``nn.LSTM``'s; ``out`` (T, B, H).

    Forward, step ``t`` (``a`` the pre-activations of the four gates, one GEMM)::

        a = x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ     (the x-part for all t in one GEMM first)
        i, f, o = σ(a_i), σ(a_f), σ(a_o);   g = tanh(a_g)
        c_t = f ⊙ c_{t−1} + i ⊙ g;          h_t = o ⊙ tanh(c_t)

    Saved: the activated gates ``i, f, o``, ``g`` and ``σ(2 a_g)``; every ``2c_t`` (doubled, see
    :func:`_lstm_forward`), ``tanh(c_t)``, ``q_t = o ⊙ tanh'(c_t)`` (computed while it is in cache)
    and ``h_t``.

    Backward, for ``t = T−1 … 0``, with ``dh`` = ``dout_t`` + the gradient from step ``t+1`` and
    ``dc`` the cell gradient carried from step ``t+1``::

        da_o = dh ⊙ tanh(c_t) ⊙ σ'(o)
        dc  += dh ⊙ o ⊙ tanh'(c_t) = dh ⊙ q_t     (c_t reaches the loss directly and through h_t)
        da_i = dc ⊙ g ⊙ σ'(i)     da_f = dc ⊙ c_{t−1} ⊙ σ'(f)     da_g = dc ⊙ i ⊙ tanh'(g)
        dc_{t−1} = dc ⊙ f
        dh_{t−1} = da W_hh  (+ dout_{t−1})       ← the one GEMM per step

    Then over all steps at once (``dA`` stacks every ``da``, ``H_prev`` every ``h_{t−1}``)::

        dW_hh = dAᵀ H_prev    dW_ih = dAᵀ X    dX = dA W_ih    db_ih = db_hh = Σ_{t,b} dA
    """

    @staticmethod
    @in_autocast_dtype
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        x2d = x.reshape(steps * batch, inputs)
        scale = _doubled(4, 2, hidden, w_ih)
        x_side = torch.addmm((b_ih + b_hh) * scale, x2d, (w_ih * scale[:, None]).t()).view(steps, batch, 4 * hidden)
        out, cells2, tanh_c, q, cand, products = _lstm_forward(x_side, h0, c0, w_hh)
        ctx.save_for_backward(x2d, h0, w_ih, w_hh, cells2, tanh_c, q, cand, out, *products)
        ctx.set_materialize_grads(False)
        return out, out[-1].clone(), cells2[-1] * 0.5

    @staticmethod
    @backward_as_forward
    @once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        x2d, h0, w_ih, w_hh, cells2, tanh_c, q, cand, out, *products = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_gates, dh0, dc0, dw_hh = _lstm_backward(
            products, cells2, tanh_c, q, cand, out, h0, w_hh, d_out, d_hn, d_cn, need[1], need[2], need[4]
        )
        d2d = d_gates.view(-1, d_gates.shape[-1])
        db = d2d.sum(0) if need[5] or need[6] else None
        dx = (d2d @ w_ih).view(*out.shape[:2], -1) if need[0] else None
        dw_ih = d2d.t() @ x2d if need[3] else None
        return dx, dh0, dc0, dw_ih, dw_hh, db if need[5] else None, db if need[6] else None


class LSTMTableLayer(torch.autograd.Function):
    r"""The first LSTM layer fed by tokens: ``(ids, table, h0, c0, W_hh) → (out, h_T, c_T)``.

    ``ids`` (T, B) token ids; ``table`` (V, 4H) = ``E W_ihᵀ + b_ih + b_hh`` for the embedding ``E``,
    so ``table[ids[t]]`` is exactly the ``x_t W_ihᵀ + b_ih + b_hh`` of :class:`LSTMLayer`. Backward
    gives ``dtable[v] = Σ_{(t,b): ids = v} da_{t,b}`` (a scatter-add); autograd carries it on to
    ``E``, ``W_ih`` and both biases through the small product that made the table.
    """

    @staticmethod
    @in_autocast_dtype
    def forward(ctx, ids, table, h0, c0, w_hh):
        steps, batch = ids.shape
        hidden = w_hh.shape[1]
        flat = ids.reshape(-1)
        scaled = table * _doubled(4, 2, hidden, table)
        x_side = torch.index_select(scaled, 0, flat).view(steps, batch, 4 * hidden)
        out, cells2, tanh_c, q, cand, products = _lstm_forward(x_side, h0, c0, w_hh)
        ctx.save_for_backward(flat, h0, w_hh, cells2, tanh_c, q, cand, out, *products)
        ctx.vocab = table.shape[0]
        ctx.set_materialize_grads(False)
        return out, out[-1].clone(), cells2[-1] * 0.5

    @staticmethod
    @backward_as_forward
    @once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        flat, h0, w_hh, cells2, tanh_c, q, cand, out, *products = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_gates, dh0, dc0, dw_hh = _lstm_backward(
            products, cells2, tanh_c, q, cand, out, h0, w_hh, d_out, d_hn, d_cn, need[2], need[3], need[4]
        )
        d_table = None
        if need[1]:
            d2d = d_gates.view(flat.numel(), -1)
            d_table = d2d.new_zeros(ctx.vocab, d2d.shape[-1]).index_add_(0, flat, d2d)
        return None, d_table, dh0, dc0, dw_hh


# ----- GRU ------------------------------------------------------------------------------------


def _gru_gates(steps: tuple[Tensor, ...], hidden: int) -> tuple[tuple[Tensor, ...], ...]:
    """Per-step views of ``[r z]``, ``r``, ``z`` and ``h_n`` in the steps' (B, 3H) gate blocks."""
    bounds = ((0, 2 * hidden), (0, hidden), (hidden, 2 * hidden), (2 * hidden, None))
    return tuple(_columns(steps, start, stop) for start, stop in bounds)


def _gru_split(x_side: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """Splits the x-side pre-activations ``[x_r x_z x_n]`` (T, B, 3H; r, z with their h-biases, n
    doubled) into what :func:`_gru_forward` steps over: ``x_n`` (T, B, H) on its own, and
    ``[x_r x_z b_hn]`` in ``x_side`` itself — exactly what each step's one product adds onto."""
    hidden = b_hh.shape[0] // 3
    x_n = x_side[..., 2 * hidden :].clone()
    x_side[..., 2 * hidden :] = b_hh[2 * hidden :]
    return x_side, x_n


def _gru_forward(gates: Tensor, n: Tensor, h0: Tensor, w_hh: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Steps a GRU over ``gates`` (T, B, 3H) = ``[x_r x_z b_hn]`` and ``n`` (T, B, H) = ``2 x_n``
    (see :func:`_gru_split`); on return ``n`` holds ``n``. Returns ``out`` and every step's
    product, ``[a_r a_z h_n]`` (B, 3H), turned in place into ``[r z h_n]`` — what backward needs
    of it, kept where the product wrote it rather than copied into a buffer."""
    steps, batch, three_h = gates.shape
    hidden = three_h // 3
    out = gates.new_empty(steps, batch, hidden)
    step_product = _step_product(w_hh, batch)
    minus_one = gates.new_full((), -1.0)
    x_side, candidate, h = gates.unbind(0), n.unbind(0), out.unbind(0)
    products = []
    h_prev = h0
    for t in range(steps):
        stopping.check()
        a = step_product(h_prev, x_side[t])  # [a_r a_z h_n]: the one GEMM of the step, onto the x-side
        r, z, hn = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden :]
        a[:, : 2 * hidden].sigmoid_()  # r, z
        candidate[t].addcmul_(r, hn, value=2).sigmoid_()
        torch.add(minus_one, candidate[t], alpha=2, out=candidate[t])  # n = tanh(x_n + r ⊙ h_n)
        torch.lerp(candidate[t], h_prev, z, out=h[t])  # h_t = n + z ⊙ (h_{t−1} − n)
        products.append(a)
        h_prev = h[t]
    return out, tuple(products)


def _gru_backward(products, n_steps, out, h0, w_hh, d_out, d_hn, need_h0, need_w_hh):
    """Steps 3 and 4 of the module docstring for the recurrent part; returns ``dG`` (T, B, 3H) and
    ``da_n`` (T, B, H) (workspace views), ``dh0``, ``dW_hh`` and ``db_hh``."""
    steps, batch, hidden = out.shape
    d_out = _output_gradient(d_out, out)
    scratch = _workspace(4 * out.numel(), out)
    d_g = scratch[: 3 * out.numel()].view(steps, batch, 3 * hidden)  # [da_r da_z dh_n] of every step
    d_n = scratch[3 * out.numel() :].view_as(out)  # da_n of every step
    dh = _first_gradient(d_out, d_hn)
    spare = out.new_empty(batch, hidden)
    # Rows that this thread writes and both threads then read get fresh memory each step: reusing one
    # buffer makes each write wait for the other core's copy to be dropped, slow when the two vCPUs
    # are on different core complexes (see _lstm_forward).
    d_rz = out.new_empty(steps, batch, 2 * hidden)  # [dr dz] of every step, before σ'
    carry = out.new_empty(steps, batch, hidden).unbind(0)  # dout_{t−1} + dh ⊙ z of every step
    d_rzs, dr, dz = d_rz.unbind(0), _steps(d_rz, 0, hidden), _steps(d_rz, hidden, None)
    rz, r, z, hn = _gru_gates(products, hidden)
    dg, dg_rz, dg_n = d_g.unbind(0), _steps(d_g, 0, 2 * hidden), _steps(d_g, 2 * hidden, None)
    n, da_n, go = n_steps.unbind(0), d_n.unbind(0), d_out.unbind(0)
    h_prev = (h0, *out.unbind(0)[:-1])
    step_product = _step_product(w_hh.t(), batch)  # (dout_{t−1} + dh ⊙ z) + dG W_hh
    for t in range(steps - 1, -1, -1):
        stopping.check()
        torch.sub(h_prev[t], n[t], out=dz[t])
        dz[t].mul_(dh)  # dz = dh ⊙ (h_{t−1} − n)
        torch.addcmul(dh, dh, z[t], value=-1, out=spare)  # dn = dh ⊙ (1 − z)
        _tanh_backward(spare, n[t], grad_input=da_n[t])  # da_n = dn ⊙ tanh'(n)
        torch.mul(da_n[t], hn[t], out=dr[t])  # dr = da_n ⊙ h_n
        _sigmoid_backward(d_rzs[t], rz[t], grad_input=dg_rz[t])  # da_r, da_z
        torch.mul(da_n[t], r[t], out=dg_n[t])  # dh_n = da_n ⊙ r
        if t > 0:
            dh = step_product(dg[t], torch.addcmul(go[t - 1], dh, z[t], out=carry[t]))  # dh_{t−1}
        elif need_h0:
            dh = torch.addmm(dh * z[0], dg[0], w_hh)
    dw_hh = None
    if need_w_hh:
        dw_hh = d_g[0].t() @ h0
        if steps > 1:
            dw_hh.addmm_(d_g[1:].reshape(-1, 3 * hidden).t(), out[:-1].reshape(-1, hidden))
    return d_g, d_n, (dh if need_h0 else None), dw_hh


def _gru_x_bias(x_side: Tensor, b_hh: Tensor, hidden: int) -> Tensor:
    """``x_side`` (``b_ih``, or rows of ``E W_ihᵀ + b_ih``) plus ``b_hr, b_hz`` (they simply add;
    ``b_hn`` must stay inside ``r ⊙ (…)``)."""
    return x_side + torch.cat((b_hh[: 2 * hidden], b_hh.new_zeros(hidden)))


class GRULayer(torch.autograd.Function):
    r"""One GRU layer over a time-major window: ``(x, h0, W_ih, W_hh, b_ih, b_hh) → (out, h_T)``.

    Shapes: ``x`` (T, B, I), ``h0`` (B, H), weights as ``nn.GRU``'s; ``out`` (T, B, H).

    Forward, step ``t``, exactly as ``nn.GRU`` (the x-parts ``x_r, x_z, x_n`` of all steps come
    from one GEMM first; the h-parts from one GEMM per step, added onto ``[x_r x_z b_hn]``)::

        [x_r x_z x_n] = x_t W_ihᵀ + b_ih        [h_r h_z h_n] = h_{t−1} W_hhᵀ + b_hh
        r = σ(x_r + h_r),  z = σ(x_z + h_z)
        n = tanh(x_n + r ⊙ h_n)                 (the reset gate scales the recurrent part only)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    Saved: ``r, z, n``, ``h_n`` (it includes ``b_hn``) and all ``h_t``.

    Backward, for ``t = T−1 … 0``, with ``dh`` = ``dout_t`` + the gradient from step ``t+1``::

        da_z = dh ⊙ (h_{t−1} − n) ⊙ σ'(z)
        da_n = dh ⊙ (1 − z) ⊙ tanh'(n)          (the gradient of n's pre-activation)
        da_r = da_n ⊙ h_n ⊙ σ'(r)
        dh_n = da_n ⊙ r                         (what reaches W_hn h + b_hn)
        dh_{t−1} = dh ⊙ z + [da_r da_z dh_n] W_hh  (+ dout_{t−1})   ← the one GEMM per step

    The x-side and the h-side share ``da_r, da_z`` but differ for the candidate (``da_n`` vs
    ``dh_n``), so two blocks are kept: ``dG = [da_r da_z dh_n]`` and ``da_n``. Then, at once::

        dW_hh = dGᵀ H_prev   db_hh = Σ dG   dW_ih = [da_r da_z da_n]ᵀ X   db_ih = Σ [da_r da_z da_n]
        dX = [da_r da_z] W_{ir;iz} + da_n W_in
    """

    @staticmethod
    @in_autocast_dtype
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        x2d = x.reshape(steps * batch, inputs)
        scale = _doubled(3, 2, hidden, w_ih)
        bias = _gru_x_bias(b_ih, b_hh, hidden) * scale
        x_side = torch.addmm(bias, x2d, (w_ih * scale[:, None]).t()).view(steps, batch, 3 * hidden)
        gates, n = _gru_split(x_side, b_hh)
        out, products = _gru_forward(gates, n, h0, w_hh)
        ctx.save_for_backward(x2d, h0, w_ih, w_hh, n, out, *products)
        ctx.set_materialize_grads(False)
        return out, out[-1].clone()

    @staticmethod
    @backward_as_forward
    @once_differentiable
    def backward(ctx, d_out, d_hn):
        x2d, h0, w_ih, w_hh, n, out, *products = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_g, d_n, dh0, dw_hh = _gru_backward(products, n, out, h0, w_hh, d_out, d_hn, need[1], need[3])
        two = 2 * out.shape[-1]
        dg2d, dn2d = d_g.view(-1, d_g.shape[-1]), d_n.view(-1, d_n.shape[-1])
        db_hh = dg2d.sum(0) if need[4] or need[5] else None
        db_ih = torch.cat((db_hh[:two], dn2d.sum(0))) if need[4] else None
        dx = dw_ih = None
        if need[0]:
            dx = (dg2d[:, :two] @ w_ih[:two]).addmm_(dn2d, w_ih[two:]).view(*out.shape[:2], -1)
        if need[2]:
            dw_ih = torch.cat((dg2d[:, :two].t() @ x2d, dn2d.t() @ x2d))
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh if need[5] else None


class GRUTableLayer(torch.autograd.Function):
    r"""The first GRU layer fed by tokens: ``(ids, table, h0, W_hh, b_hh) → (out, h_T)``.

    ``ids`` (T, B) token ids; ``table`` (V, 3H) = ``E W_ihᵀ + b_ih`` for the embedding ``E``, so
    ``table[ids[t]]`` is the ``[x_r x_z x_n]`` of :class:`GRULayer`. Backward scatter-adds the x-side
    gradients ``[da_r da_z da_n]`` of every step into ``dtable`` (rows by token id); autograd carries
    them on to ``E``, ``W_ih`` and ``b_ih`` through the small product that made the table.
    """

    @staticmethod
    @in_autocast_dtype
    def forward(ctx, ids, table, h0, w_hh, b_hh):
        steps, batch = ids.shape
        hidden = w_hh.shape[1]
        flat = ids.reshape(-1)
        scaled = _gru_x_bias(table, b_hh, hidden) * _doubled(3, 2, hidden, table)
        gates, n = _gru_split(torch.index_select(scaled, 0, flat).view(steps, batch, 3 * hidden), b_hh)
        out, products = _gru_forward(gates, n, h0, w_hh)
        ctx.save_for_backward(flat, h0, w_hh, n, out, *products)
        ctx.vocab = table.shape[0]
        ctx.set_materialize_grads(False)
        return out, out[-1].clone()

    @staticmethod
    @backward_as_forward
    @once_differentiable
    def backward(ctx, d_out, d_hn):
        flat, h0, w_hh, n, out, *products = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_g, d_n, dh0, dw_hh = _gru_backward(products, n, out, h0, w_hh, d_out, d_hn, need[2], need[3])
        dg2d, dn2d = d_g.view(flat.numel(), -1), d_n.view(flat.numel(), -1)
        # dG summed per token id: the x-side gradient of the table, except its n part (dh_n, not da_n)
        per_token = out.new_zeros(ctx.vocab, d_g.shape[-1]).index_add_(0, flat, dg2d)
        db_hh = per_token.sum(0) if need[4] else None  # Σ dG over the window, from V rows, not T·B
        d_table = None
        if need[1]:
            d_table = per_token
            d_table[:, 2 * out.shape[-1] :] = d_n.new_zeros(ctx.vocab, d_n.shape[-1]).index_add_(0, flat, dn2d)
        return None, d_table, dh0, dw_hh, db_hh


# ----- whole modules --------------------------------------------------------------------------


def lstm_layer(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor):
    """One LSTM layer, time-major: ``x`` (T, B, I) → ``out`` (T, B, H), ``h_T``, ``c_T``."""
    return LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh)


def gru_layer(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor):
    """One GRU layer, time-major: ``x`` (T, B, I) → ``out`` (T, B, H), ``h_T``."""
    return GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh)


def supports(rnn: nn.Module) -> bool:
    """Whether :func:`run` can stand in for this module (unidirectional, biased, no projections)."""
    return (
        isinstance(rnn, (nn.LSTM, nn.GRU))
        and not rnn.bidirectional
        and rnn.bias
        and getattr(rnn, "proj_size", 0) == 0
    )


def _check(rnn: nn.Module) -> None:
    if not supports(rnn):
        raise ValueError("recurrence handles unidirectional nn.LSTM/nn.GRU with biases and no projection")


def _stack(rnn: nn.LSTM | nn.GRU, xt: Tensor | None, state, first_layer) -> tuple[Tensor, object]:
    """Runs the layers; ``first_layer(h0, c0)`` runs layer 0 when given (else layer 0 reads ``xt``)."""
    lstm = isinstance(rnn, nn.LSTM)
    final_h, final_c = [], []
    for layer in range(rnn.num_layers):
        h0 = state[0][layer] if lstm else state[layer]
        c0 = state[1][layer] if lstm else None
        if layer == 0 and first_layer is not None:
            result = first_layer(h0, c0)
        else:
            if layer > 0 and rnn.dropout > 0 and rnn.training:
                xt = dropout(xt, rnn.dropout, training=True)
            weights = [getattr(rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            result = LSTMLayer.apply(xt, h0, c0, *weights) if lstm else GRULayer.apply(xt, h0, *weights)
        xt, final_h = result[0], final_h + [result[1]]
        if lstm:
            final_c.append(result[2])
    output = xt.transpose(0, 1) if rnn.batch_first else xt
    h_n = torch.stack(final_h)
    return output, ((h_n, torch.stack(final_c)) if lstm else h_n)


def _zero_state(rnn: nn.LSTM | nn.GRU, batch: int, like: Tensor):
    zeros = like.new_zeros(rnn.num_layers, batch, rnn.hidden_size)
    return (zeros, zeros) if isinstance(rnn, nn.LSTM) else zeros


def run(rnn: nn.LSTM | nn.GRU, x: Tensor, state=None):
    """``rnn(x, state)`` computed with the kernels above, on ``rnn``'s own parameters.

    Same arguments and results as calling an ``nn.LSTM`` / ``nn.GRU`` (``batch_first`` either
    way; state ``(h0, c0)`` or ``h0``, each (layers, batch, hidden), or ``None`` for zeros), with
    ``rnn.dropout`` applied between layers in training mode only, as those modules do.
    """
    _check(rnn)
    if x.dim() != 3:
        raise ValueError("recurrence.run expects a batched (3-D) input")
    xt = x.transpose(0, 1) if rnn.batch_first else x
    state = _zero_state(rnn, xt.shape[1], xt) if state is None else state
    return _stack(rnn, xt, state, None)


def table_pays(vocab_size: int, tokens: int) -> bool:
    """Whether gathering from a (vocabulary × gates) table beats projecting ``tokens`` inputs: the
    table costs a product over ``vocab_size`` rows (forward and backward) instead of ``tokens``."""
    return 2 * vocab_size <= tokens


def run_on_tokens(rnn: nn.LSTM | nn.GRU, embedding: Tensor, ids: Tensor, state=None):
    """``rnn(F.embedding(ids, embedding), state)``, with layer 0's input projection read from a table.

    ``ids`` (batch, time) if ``rnn.batch_first`` else (time, batch). Layer 0 gets
    ``table = embedding W_ihᵀ + b`` (computed with autograd: it is small) and gathers its rows, see
    :class:`LSTMTableLayer` / :class:`GRUTableLayer`; falls back to :func:`run` on the embedded
    tokens when the vocabulary is too large for that to pay (:func:`table_pays`).
    """
    _check(rnn)
    ids_t = ids.t() if rnn.batch_first else ids
    if not table_pays(embedding.shape[0], ids.numel()):
        return run(rnn, F.embedding(ids, embedding), state)
    state = _zero_state(rnn, ids_t.shape[1], embedding) if state is None else state
    w_ih, w_hh, b_ih, b_hh = (getattr(rnn, f"{name}_l0") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if isinstance(rnn, nn.LSTM):
        table = F.linear(embedding, w_ih, b_ih + b_hh)
        return _stack(rnn, None, state, lambda h0, c0: LSTMTableLayer.apply(ids_t, table, h0, c0, w_hh))
    table = F.linear(embedding, w_ih, b_ih)
    return _stack(rnn, None, state, lambda h0, c0: GRUTableLayer.apply(ids_t, table, h0, w_hh, b_hh))
