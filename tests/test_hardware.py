"""What the machine offers, asked without torch, agrees with what torch finds."""

from __future__ import annotations

import os

import pytest
import torch

from rnn_demo.hardware import cuda_present, gpu_device_files, torch_has_cuda, usable_cores, visible_gpus


def test_cuda_present_agrees_with_torch():
    """On this machine, whatever it has: the app's page shows the defaults training will run with."""
    assert cuda_present() == torch.cuda.is_available()


def test_the_torch_build_is_read_from_its_files():
    assert torch_has_cuda() == (torch.version.cuda is not None)


def test_usable_cores_are_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cores() == expected


@pytest.mark.parametrize(
    "driver_count, cuda_visible_devices, visible",
    [
        (2, None, 2),
        (2, "", 0),  # hides every GPU
        (2, "-1", 0),
        (2, "1", 1),
        (2, "0,1", 2),
        (1, "0,1", 1),  # lists more than the driver has
        (4, "0,-1,2", 1),  # CUDA stops at the first entry that names no GPU
        (4, "2,x,3", 1),
        (2, "GPU-5f7c1a2e", 1),  # by UUID
        (0, "0", 0),
    ],
)
def test_cuda_visible_devices_narrows_the_drivers_gpus(driver_count, cuda_visible_devices, visible):
    assert visible_gpus(driver_count, cuda_visible_devices) == visible


def test_without_nvml_the_gpus_are_counted_by_their_device_files(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-caps", "null"):
        (tmp_path / name).touch()
    assert gpu_device_files(tmp_path) == 2
    assert gpu_device_files(tmp_path / "missing") == 0
