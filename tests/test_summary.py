"""The upload summary's speed estimate: a small model can't beat the CPU's per-time-step floor; on
CUDA it follows what the trainer did on an H200."""

import time

import pytest
import torch

from rnn_demo import summary
from rnn_demo.devices import set_cpu_threads
from rnn_demo.summary import cpu_time_step_floor, estimate_tokens_per_second
from rnn_demo.train import GPU_DEFAULTS, TrainConfig
from tests.helpers import tiny_config


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tiny_model_is_estimated_at_the_time_step_floor(threads):
    set_cpu_threads(threads)
    try:
        config = tiny_config(hidden_size=8, embedding_size=4, batch_size=4, seq_len=32, threads=threads)
        floor = cpu_time_step_floor(threads)
        one = estimate_tokens_per_second(config, 20, torch.device("cpu"))
        assert one == pytest.approx(config.batch_size / floor)  # B·T tokens per T floors
        two = estimate_tokens_per_second(tiny_config(hidden_size=8, embedding_size=4, batch_size=4, seq_len=32, num_layers=2), 20, torch.device("cpu"))
        assert two == pytest.approx(one / 2)  # each layer steps through time on its own
    finally:
        set_cpu_threads(1)


def test_a_large_model_is_estimated_by_its_compute():
    set_cpu_threads(1)
    small = estimate_tokens_per_second(tiny_config(hidden_size=512, batch_size=64, seq_len=64), 65, torch.device("cpu"))
    large = estimate_tokens_per_second(tiny_config(hidden_size=1024, batch_size=64, seq_len=64), 65, torch.device("cpu"))
    assert large < small / 2.5  # ~4x the FLOPs per token, at the same (cached) matmul probe


@pytest.mark.parametrize("settings, measured", [
    ({}, 640_158),  # the CPU defaults
    ({"num_layers": 2, "hidden_size": 512, "embedding_size": 128, "batch_size": 128, "seq_len": 128}, 1_025_966),
    (GPU_DEFAULTS, 875_557),
])
def test_the_cuda_estimate_matches_the_h200_sweep(settings, measured):
    """With the H200's measured matmul speed, the estimate lands within 20 % of what the trainer did there."""
    summary._probes[("cuda", torch.get_num_threads(), "bf16")] = (791.6e12, time.monotonic())
    try:
        estimate = estimate_tokens_per_second(TrainConfig(device="cuda", **settings), 66, torch.device("cuda"))
    finally:
        del summary._probes[("cuda", torch.get_num_threads(), "bf16")]
    assert 0.8 < estimate / measured < 1.2
