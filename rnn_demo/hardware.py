"""What this machine offers training — its usable cores, whether torch will find a CUDA GPU —
asked without importing torch.

The app builds its page from this: its fields show the defaults for a GPU or for a CPU, and
importing torch to ask (a second on a 2-core machine, a third of the app's start-up) would hold
the page back. :func:`cuda_present` asks what torch's own NVML-based check asks
(``PYTORCH_NVML_BASED_CUDA_CHECK=1``): the NVIDIA driver's management library for its GPUs, never
the CUDA driver itself (which must stay untouched in ZeroGPU's main process); where a container
has the GPUs but not that library, their device files (``/dev/nvidia0`` …). It says no where
torch would, for a CPU-only torch build and for ``CUDA_VISIBLE_DEVICES`` hiding every GPU; it can
say yes where torch would not only when the driver is too old for torch's CUDA. AMD GPUs (ROCm
builds) count as no GPU: the app then offers the CPU defaults.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import re
from pathlib import Path

NVML_LIBRARIES = ("libnvidia-ml.so.1", "nvml.dll")
CUDA_TORCH_LIBRARIES = ("libtorch_cuda.so", "torch_cuda.dll")  # what only torch's CUDA builds ship


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask, which containers narrow, not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@functools.cache
def cuda_present() -> bool:
    """Whether torch will find a CUDA GPU here (see the module's docstring for how it is asked)."""
    gpus = visible_gpus(driver_gpu_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    return gpus > 0 and torch_has_cuda()


def visible_gpus(driver_count: int, cuda_visible_devices: str | None) -> int:
    """How many of the driver's GPUs CUDA shows under ``CUDA_VISIBLE_DEVICES``: its list up to the
    first entry that names no GPU ("" or "-1" hide them all), at most what the driver has."""
    if cuda_visible_devices is None:
        return driver_count
    listed = 0
    for entry in cuda_visible_devices.split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-") or not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        listed += 1
    return min(listed, driver_count)


def driver_gpu_count() -> int:
    """The NVIDIA GPUs the driver reports through NVML; without NVML (a container given the GPUs but
    only the compute libraries), the GPU device files; 0 where there is no NVIDIA driver."""
    for name in NVML_LIBRARIES:
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            continue
        if nvml.nvmlInit_v2() != 0:
            return 0
        try:
            count = ctypes.c_uint(0)
            return count.value if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0 else 0
        finally:
            nvml.nvmlShutdown()
    return gpu_device_files()


def gpu_device_files(dev: str | Path = "/dev") -> int:
    """How many ``nvidia<N>`` device files ``dev`` holds (one per GPU; ``nvidiactl`` and the like are not GPUs)."""
    try:
        return sum(1 for name in os.listdir(dev) if re.fullmatch(r"nvidia\d+", name))
    except OSError:
        return 0


def torch_has_cuda() -> bool:
    """Whether the installed torch is a CUDA build: its library folder, read without importing it."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    libraries = Path(next(iter(spec.submodule_search_locations)), "lib")
    return any(Path(libraries, name).is_file() for name in CUDA_TORCH_LIBRARIES)
