"""What machine a benchmark ran on, recorded with every result (these machines drift)."""

from __future__ import annotations

import os
import platform
import time

import torch

from rnn_demo.devices import cpu_has_bf16


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    info = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_bf16": cpu_has_bf16(),  # bf16 matmuls in hardware: training defaults to bf16 autocast
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# A cross-core penalty above this means the cores reading each other's rows do not share a cache.
APART = 1.3


def cross_core_penalty(rounds: int = 200) -> float | None:
    """How much longer one core takes to read rows another core has just written than rows it wrote
    itself (None on one thread).

    Why: the host may run this VM's two vCPUs on one core complex, with a shared L3 (measured
    1.03–1.12), or on two (1.43–1.52). In the second case each of a training step's small ops that
    writes (or reads) what the other thread holds pays a transfer between the complexes, and
    two-thread training ran 15–20 % slower while the matmul speed hardly moved; 7–10 % since the
    kernels stopped writing over such memory (bench/RESULTS.md §1).
    """
    if torch.get_num_threads() < 2:
        return None
    gates, out = torch.randn(64, 1536), torch.empty(32, 384)
    far = near = 0.0
    for _ in range(rounds):
        torch.sigmoid(gates, out=gates)  # big enough for torch to split it: rows 32–63 on another thread
        start = time.perf_counter()
        torch.mul(gates[32:, :384], 1.0, out=out)  # too small to split: this thread reads the other's rows
        far += time.perf_counter() - start
        torch.sigmoid(gates, out=gates)
        start = time.perf_counter()
        torch.mul(gates[:32, :384], 1.0, out=out)  # …and its own
        near += time.perf_counter() - start
    return far / near
