"""CPU training kernels for whole LSTM and GRU layers, with the backward pass written by hand.

Why this exists: on a CPU, ``nn.GRU`` has no oneDNN kernel — PyTorch loops over the time steps and
records every gate operation for autograd, which reaches only ~40 % of the machine's matmul speed
at this project's default size. Almost all of a recurrent layer's work is matrix products, so the
plan here is to do *only* the matrix products with big calls and keep everything else small:

forward (one layer, window of ``T`` steps, batch ``B``)
    1. the input projection of the whole window in **one** GEMM: ``X W_ihᵀ + b`` for all ``T``;
    2. per step **one** GEMM ``h W_hhᵀ`` plus a handful of in-place elementwise ops, with no
       autograd recording; the gate activations and states are kept for the backward pass.

backward
    3. walk the steps in reverse: elementwise gate gradients and **one** GEMM per step for the
       gradient flowing into the previous hidden state;
    4. then ``dW_hh``, ``dW_ih``, ``dX`` and the bias gradients with **single** GEMMs/sums over the
       whole window (``T·B`` rows each — the biggest, most efficient products of all).

The kernels use the parameters of ``nn.LSTM`` / ``nn.GRU`` as they are (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``; gates stacked i,f,g,o and r,z,n) and take
and return what those modules do, so :func:`run` is a drop-in for ``rnn(x, state)`` on a CPU.
Gradients match autograd through ``nn.LSTM``/``nn.GRU`` to float32 rounding, and
``torch.autograd.gradcheck`` passes in float64 (tests/test_recurrence.py).

Notation below: ``σ`` the logistic sigmoid, ``⊙`` elementwise product, ``dv`` the gradient of the
loss with respect to ``v``; ``σ' = σ(1 − σ)`` and ``tanh' = 1 − tanh²`` are computed from the saved
*outputs* of the activations (torch's ``sigmoid_backward`` / ``tanh_backward``, one fused op each).
Internally everything is time-major ``(T, B, ·)``, so step ``t`` is one contiguous block.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # (grad, σ(x), *, grad_input=out)
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # (grad, tanh(x), *, grad_input=out)


def _start(d_out: Tensor, d_last: Tensor | None) -> Tensor:
    """The gradient reaching the last step: from the output and from the returned final state."""
    return d_out[-1] + d_last if d_last is not None else d_out[-1].clone(memory_format=torch.contiguous_format)


class LSTMLayer(torch.autograd.Function):
    r"""One LSTM layer over a time-major window: ``(x, h0, c0, W_ih, W_hh, b_ih, b_hh) → (out, h_T, c_T)``.

    Shapes: ``x`` (T, B, I), ``h0``/``c0`` (B, H), weights as ``nn.LSTM``'s; ``out`` (T, B, H).

    Forward, step ``t`` (``a`` are the pre-activations, one GEMM for all four gates)::

        a = x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ     (the x-part for all t in one GEMM first)
        i, f, o = σ(a_i), σ(a_f), σ(a_o);   g = tanh(a_g)
        c_t = f ⊙ c_{t−1} + i ⊙ g;          h_t = o ⊙ tanh(c_t)

    Saved: the activated gates ``i, f, g, o``, all ``c_t`` and ``tanh(c_t)``, all ``h_t``.

    Backward, for ``t = T−1 … 0``, with ``dh`` = ``dout_t`` + the gradient from step ``t+1`` and
    ``dc`` the cell gradient carried from step ``t+1``::

        do   = dh ⊙ tanh(c_t)                    da_o = do ⊙ σ'(o)
        dc  += dh ⊙ o ⊙ tanh'(c_t)               (the cell is reached directly and through h_t)
        di   = dc ⊙ g,  df = dc ⊙ c_{t−1},  dg = dc ⊙ i
        da_i = di ⊙ σ'(i),  da_f = df ⊙ σ'(f),  da_g = dg ⊙ tanh'(g)
        dc_{t−1} = dc ⊙ f
        dh_{t−1} = da W_hh  (+ dout_{t−1})       ← the one GEMM per step

    Then, over all steps at once (``dA`` stacks ``da`` for every ``t``; ``H_prev`` the ``h_{t−1}``)::

        dW_hh = dAᵀ H_prev    dW_ih = dAᵀ X    dX = dA W_ih    db_ih = db_hh = Σ_{t,b} dA
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        x2d = x.reshape(steps * batch, inputs)
        # 1. input projection for the whole window; this buffer then holds the activated gates.
        gates = torch.addmm(b_ih + b_hh, x2d, w_ih.t()).view(steps, batch, 4 * hidden)
        out = x.new_empty(steps, batch, hidden)
        cells = x.new_empty(steps + 1, batch, hidden)  # cells[t + 1] = c_t, cells[0] = c0
        cells[0] = c0
        tanh_c = x.new_empty(steps, batch, hidden)
        w_hh_t = w_hh.t()
        a, sig_if, g, o = gates.unbind(0), gates[..., : 2 * hidden].unbind(0), gates[..., 2 * hidden : 3 * hidden].unbind(0), gates[..., 3 * hidden :].unbind(0)
        i, f = gates[..., :hidden].unbind(0), gates[..., hidden : 2 * hidden].unbind(0)
        c, tc, h = cells.unbind(0), tanh_c.unbind(0), out.unbind(0)
        h_prev = h0
        for t in range(steps):
            a[t].addmm_(h_prev, w_hh_t)  # 2. the one GEMM of the step
            sig_if[t].sigmoid_()
            g[t].tanh_()
            o[t].sigmoid_()
            torch.mul(f[t], c[t], out=c[t + 1])
            c[t + 1].addcmul_(i[t], g[t])
            torch.tanh(c[t + 1], out=tc[t])
            torch.mul(o[t], tc[t], out=h[t])
            h_prev = h[t]
        ctx.save_for_backward(x2d, h0, w_ih, w_hh, gates, cells, tanh_c, out)
        ctx.set_materialize_grads(False)
        return out, out[-1].clone(), cells[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        x2d, h0, w_ih, w_hh, gates, cells, tanh_c, out = ctx.saved_tensors
        steps, batch, hidden = out.shape
        need_x, need_h0, need_c0 = ctx.needs_input_grad[:3]
        if d_out is None:
            d_out = out.new_zeros(())
        d_out = d_out.expand(steps, batch, hidden)
        d_gates = torch.empty_like(gates)  # dA
        dh = _start(d_out, d_hn)
        dc = d_cn.clone(memory_format=torch.contiguous_format) if d_cn is not None else out.new_zeros(batch, hidden)
        tmp = out.new_empty(batch, hidden)
        tmp_if = out.new_empty(batch, 2 * hidden)
        di_, df_ = tmp_if[:, :hidden], tmp_if[:, hidden:]
        i, f = gates[..., :hidden].unbind(0), gates[..., hidden : 2 * hidden].unbind(0)
        sig_if, g, o = gates[..., : 2 * hidden].unbind(0), gates[..., 2 * hidden : 3 * hidden].unbind(0), gates[..., 3 * hidden :].unbind(0)
        da, da_if = d_gates.unbind(0), d_gates[..., : 2 * hidden].unbind(0)
        da_g, da_o = d_gates[..., 2 * hidden : 3 * hidden].unbind(0), d_gates[..., 3 * hidden :].unbind(0)
        c, tc, go = cells.unbind(0), tanh_c.unbind(0), d_out.unbind(0)
        for t in range(steps - 1, -1, -1):
            torch.mul(dh, tc[t], out=tmp)
            _sigmoid_backward(tmp, o[t], grad_input=da_o[t])
            torch.mul(dh, o[t], out=tmp)
            _tanh_backward(tmp, tc[t], grad_input=tmp)
            dc.add_(tmp)
            torch.mul(dc, g[t], out=di_)
            torch.mul(dc, c[t], out=df_)  # c[t] is c_{t-1}
            _sigmoid_backward(tmp_if, sig_if[t], grad_input=da_if[t])
            torch.mul(dc, i[t], out=tmp)
            _tanh_backward(tmp, g[t], grad_input=da_g[t])
            if t > 0 or need_c0:
                dc.mul_(f[t])
            if t > 0:
                torch.addmm(go[t - 1], da[t], w_hh, out=dh)  # 3. the one GEMM of the step
            elif need_h0:
                dh = da[0] @ w_hh
        # 4. whole-window products
        d2d = d_gates.view(steps * batch, 4 * hidden)
        dw_hh = db = None
        if ctx.needs_input_grad[4]:
            dw_hh = d_gates[0].t() @ h0
            if steps > 1:
                dw_hh.addmm_(d_gates[1:].reshape(-1, 4 * hidden).t(), out[:-1].reshape(-1, hidden))
        if ctx.needs_input_grad[5] or ctx.needs_input_grad[6]:
            db = d2d.sum(0)
        dx = (d2d @ w_ih).view(steps, batch, -1) if need_x else None
        dw_ih = d2d.t() @ x2d if ctx.needs_input_grad[3] else None
        return (
            dx,
            dh if need_h0 else None,
            dc if need_c0 else None,
            dw_ih,
            dw_hh,
            db if ctx.needs_input_grad[5] else None,
            db if ctx.needs_input_grad[6] else None,
        )


class GRULayer(torch.autograd.Function):
    r"""One GRU layer over a time-major window: ``(x, h0, W_ih, W_hh, b_ih, b_hh) → (out, h_T)``.

    Shapes: ``x`` (T, B, I), ``h0`` (B, H), weights as ``nn.GRU``'s; ``out`` (T, B, H).

    Forward, step ``t``, exactly as ``nn.GRU`` (the x-parts ``x_r, x_z, x_n`` of all steps come
    from one GEMM first, the h-parts ``h_r, h_z, h_n`` of a step from one GEMM)::

        [x_r x_z x_n] = x_t W_ihᵀ + b_ih        [h_r h_z h_n] = h_{t−1} W_hhᵀ + b_hh
        r = σ(x_r + h_r),  z = σ(x_z + h_z)
        n = tanh(x_n + r ⊙ h_n)                 (the reset gate scales the recurrent part only)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    Saved: ``r, z, n``, ``h_n`` (it includes ``b_hn``) and all ``h_t``.

    Backward, for ``t = T−1 … 0``, with ``dh`` = ``dout_t`` + the gradient from step ``t+1``::

        dz = dh ⊙ (h_{t−1} − n)               da_z = dz ⊙ σ'(z)
        dn = dh ⊙ (1 − z)                     da_n = dn ⊙ tanh'(n)      (pre-activation of n)
        dr = da_n ⊙ h_n                       da_r = dr ⊙ σ'(r)
        dh_n = da_n ⊙ r                       (what reaches W_hn h + b_hn)
        dh_{t−1} = dh ⊙ z + [da_r da_z dh_n] W_hh  (+ dout_{t−1})   ← the one GEMM per step

    The x-side and the h-side share ``da_r, da_z`` but differ for the candidate (``da_n`` vs
    ``dh_n = da_n ⊙ r``), so two gradient blocks are kept: ``dG = [da_r da_z dh_n]`` (h-side) and
    ``da_n``. Then, over all steps at once::

        dW_hh = dGᵀ H_prev   db_hh = Σ dG   dW_ih = [da_r da_z da_n]ᵀ X   db_ih = Σ [da_r da_z da_n]
        dX = [da_r da_z] W_{ir,iz} + da_n W_in
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        steps, batch, inputs = x.shape
        hidden = w_hh.shape[1]
        x2d = x.reshape(steps * batch, inputs)
        # 1. input projection for the whole window; this buffer then holds r, z and n.
        gates = torch.addmm(b_ih, x2d, w_ih.t()).view(steps, batch, 3 * hidden)
        h_parts = x.new_empty(steps, batch, 3 * hidden)  # [h_r h_z h_n] of each step
        out = x.new_empty(steps, batch, hidden)
        w_hh_t = w_hh.t()
        rz, r, z, n = (gates[..., s].unbind(0) for s in (slice(0, 2 * hidden), slice(0, hidden), slice(hidden, 2 * hidden), slice(2 * hidden, None)))
        hp, hp_rz, hp_n = (h_parts[..., s].unbind(0) for s in (slice(None), slice(0, 2 * hidden), slice(2 * hidden, None)))
        h = out.unbind(0)
        h_prev = h0
        for t in range(steps):
            torch.addmm(b_hh, h_prev, w_hh_t, out=hp[t])  # 2. the one GEMM of the step
            rz[t].add_(hp_rz[t]).sigmoid_()
            n[t].addcmul_(r[t], hp_n[t]).tanh_()
            torch.lerp(n[t], h_prev, z[t], out=h[t])  # n + z ⊙ (h_prev − n)
            h_prev = h[t]
        ctx.save_for_backward(x2d, h0, w_ih, w_hh, gates, h_parts, out)
        ctx.set_materialize_grads(False)
        return out, out[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hn):
        x2d, h0, w_ih, w_hh, gates, h_parts, out = ctx.saved_tensors
        steps, batch, hidden = out.shape
        need_x, need_h0 = ctx.needs_input_grad[:2]
        if d_out is None:
            d_out = out.new_zeros(())
        d_out = d_out.expand(steps, batch, hidden)
        d_g = torch.empty_like(gates)  # [da_r da_z dh_n] for every step
        d_n = out.new_empty(steps, batch, hidden)  # da_n for every step
        dh = _start(d_out, d_hn)
        carry = out.new_empty(batch, hidden)
        d_rz = out.new_empty(batch, 2 * hidden)  # [dr dz] before σ'
        dr_, dz_ = d_rz[:, :hidden], d_rz[:, hidden:]
        rz, r, z, n = (gates[..., s].unbind(0) for s in (slice(0, 2 * hidden), slice(0, hidden), slice(hidden, 2 * hidden), slice(2 * hidden, None)))
        hp_n = h_parts[..., 2 * hidden :].unbind(0)
        dg, dg_rz, dg_n = (d_g[..., s].unbind(0) for s in (slice(None), slice(0, 2 * hidden), slice(2 * hidden, None)))
        da_n, go = d_n.unbind(0), d_out.unbind(0)
        h_prev = (h0, *out.unbind(0)[:-1])
        for t in range(steps - 1, -1, -1):
            torch.sub(h_prev[t], n[t], out=dz_)
            dz_.mul_(dh)
            torch.addcmul(dh, dh, z[t], value=-1, out=carry)  # dn = dh ⊙ (1 − z)
            _tanh_backward(carry, n[t], grad_input=da_n[t])
            torch.mul(da_n[t], hp_n[t], out=dr_)
            _sigmoid_backward(d_rz, rz[t], grad_input=dg_rz[t])
            torch.mul(da_n[t], r[t], out=dg_n[t])
            if t > 0:
                torch.addcmul(go[t - 1], dh, z[t], out=carry)
                torch.addmm(carry, dg[t], w_hh, out=dh)  # 3. the one GEMM of the step
            elif need_h0:
                dh = torch.addmm(dh * z[0], dg[0], w_hh)
        # 4. whole-window products
        two = 2 * hidden
        dg2d, dn2d = d_g.view(steps * batch, 3 * hidden), d_n.view(steps * batch, hidden)
        dw_hh = db_hh = db_ih = dx = dw_ih = None
        if ctx.needs_input_grad[3]:
            dw_hh = dg[0].t() @ h0
            if steps > 1:
                dw_hh.addmm_(d_g[1:].reshape(-1, 3 * hidden).t(), out[:-1].reshape(-1, hidden))
        if ctx.needs_input_grad[5]:
            db_hh = dg2d.sum(0)
        if ctx.needs_input_grad[4]:
            db_hh_ = db_hh if db_hh is not None else dg2d.sum(0)
            db_ih = torch.cat((db_hh_[:two], dn2d.sum(0)))
        if need_x:
            dx = (dg2d[:, :two] @ w_ih[:two]).addmm_(dn2d, w_ih[two:]).view(steps, batch, -1)
        if ctx.needs_input_grad[2]:
            dw_ih = torch.cat((dg2d[:, :two].t() @ x2d, dn2d.t() @ x2d))
        return dx, (dh if need_h0 else None), dw_ih, dw_hh, db_ih, db_hh


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


def run(rnn: nn.LSTM | nn.GRU, x: Tensor, state=None):
    """``rnn(x, state)`` computed with the kernels above, on ``rnn``'s own parameters.

    Same arguments and results as calling an ``nn.LSTM`` / ``nn.GRU`` (``batch_first`` either
    way; state ``(h0, c0)`` or ``h0``, each (layers, batch, hidden), or ``None`` for zeros), with
    ``rnn.dropout`` applied between layers in training mode only, as those modules do.
    """
    if not supports(rnn):
        raise ValueError("recurrence.run handles unidirectional nn.LSTM/nn.GRU with biases and no projection")
    lstm = isinstance(rnn, nn.LSTM)
    if x.dim() != 3:
        raise ValueError("recurrence.run expects a batched (3-D) input")
    xt = x.transpose(0, 1) if rnn.batch_first else x
    batch, layers, hidden = xt.shape[1], rnn.num_layers, rnn.hidden_size
    if state is None:
        zeros = xt.new_zeros(layers, batch, hidden)
        state = (zeros, zeros) if lstm else zeros
    final_h, final_c = [], []
    for layer in range(layers):
        if layer > 0 and rnn.dropout > 0 and rnn.training:
            xt = F.dropout(xt, rnn.dropout, training=True)
        weights = [getattr(rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        if lstm:
            xt, h, c = LSTMLayer.apply(xt, state[0][layer], state[1][layer], *weights)
            final_c.append(c)
        else:
            xt, h = GRULayer.apply(xt, state[layer], *weights)
        final_h.append(h)
    output = xt.transpose(0, 1) if rnn.batch_first else xt
    h_n = torch.stack(final_h)
    return output, ((h_n, torch.stack(final_c)) if lstm else h_n)
