"""Where training runs: CUDA (cuDNN, bf16 autocast), else Apple MPS, else the CPU.

On the CPU the thread count is set on purpose: one thread per core this process may run on (its
affinity mask, which containers narrow, not the host's core count). With OpenMP's passive waits
(set in ``rnn_demo/__init__``) that is the fastest choice whether the machine is quiet or shared
(bench/contention.py).
"""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda", "mps")


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


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_cpu_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (default: the cores this process may run on)."""
    threads = threads or usable_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (cuDNN RNNs and the decoder matmul in bf16, losses in fp32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, bf16)"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    return device.type
