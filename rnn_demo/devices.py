"""Where training runs: CUDA (cuDNN, bf16 autocast), else Apple MPS, else the CPU — and in what precision.

On the CPU a run starts on one thread per core this process may run on (its affinity mask, which
containers narrow, not the host's core count), with OpenMP's spinning waits (torch's default): on
the project's 2-core machine that trains 1.4–1.5× faster than sleeping waits. Spinning threads
collapse when another process wants a core, so timed runs re-decide the count as they go
(``thread_tuner.py``, bench/contention.py).

Precision: training runs its matrix products in bfloat16 (autocast; the weights, the optimizer and
the losses stay float32) on CUDA, and on CPUs that multiply bf16 in hardware (AVX512-BF16, AMX).
On the project's 2-core Zen 4 machine a bf16 matmul runs 2.3× faster than a float32 one, training
runs 1.5–1.7× more tokens/s, and 60 s of training reach a *lower* validation loss (LSTM 1.528
against 1.563, bench/RESULTS.md). CPUs without it would emulate bf16 slowly, so they stay float32,
and so do small models on any CPU: below hidden 128 each step's work is its many small ops, which
bf16 makes slower (each converts on the way in and out), not its products — at hidden 64 float32
trained 1.1–1.5× as fast as bf16 on two threads, 0.9–1.4× on one (bench/RESULTS.md §8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .errors import UserError
from .hardware import usable_cores

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_MIN_HIDDEN = 128  # "auto" trains smaller models in float32 on a CPU (see above)


def pick_device(preference: str = "auto") -> torch.device:
    if preference not in DEVICES:
        raise UserError(f"unknown device {preference!r}: choose one of {', '.join(DEVICES)}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available here")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps: Apple MPS is not available here")
    return torch.device(preference)


def set_cpu_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (default: the cores this process may run on)."""
    threads = threads or usable_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def cpu_threads(threads: int | None = None) -> Iterator[int]:
    """:func:`set_cpu_threads` for a block, then back to what this thread had (torch's count is per
    thread, and a server thread keeps whatever the last run on it left)."""
    previous = torch.get_num_threads()
    try:
        yield set_cpu_threads(threads)
    finally:
        torch.set_num_threads(previous)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (else oneDNN emulates it, slower than float32)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def pick_precision(device: torch.device, preference: str = "auto", hidden_size: int | None = None) -> str:
    """``"bf16"`` or ``"fp32"`` for training on ``device``; ``"auto"`` picks the faster one for a
    model of ``hidden_size`` (``None``: the default's size)."""
    if preference not in PRECISIONS:
        raise UserError(f"unknown precision {preference!r}: choose one of {', '.join(PRECISIONS)}")
    if device.type == "mps" and preference == "bf16":
        raise UserError("--precision bf16: training in bf16 is supported on CUDA and CPUs, not on Apple MPS")
    if preference != "auto":
        return preference
    if device.type == "cuda":
        return "bf16"
    big_enough = hidden_size is None or hidden_size >= CPU_BF16_MIN_HIDDEN
    return "bf16" if device.type == "cpu" and cpu_has_bf16() and big_enough else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast (RNNs and the decoder matmul in bf16; weights, optimizer and losses in fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# For hand-written autograd Functions on a CPU (recurrence.py, loss.py): under CPU autocast (bf16
# training) the forward runs entirely in bf16, its float inputs, the weights included, cast on the way
# in (autograd casts their gradients back to float32), so every GEMM runs at the bf16 speed; the
# backward runs in the forward's autocast state. Without autocast nothing is cast.
in_autocast_dtype = torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.bfloat16)
backward_as_forward = torch.amp.custom_bwd(device_type="cpu")


def describe(device: torch.device, precision: str = "fp32") -> str:
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        threads = torch.get_num_threads()
        where = f"{threads} thread{'s' if threads > 1 else ''}"
    else:
        return device.type if precision == "fp32" else f"{device.type} ({precision})"
    return f"{device.type} ({where}{', bf16' if precision == 'bf16' else ''})"
