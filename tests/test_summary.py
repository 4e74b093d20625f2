"""The upload summary's speed estimate: a small model can't beat the CPU's per-time-step floor."""

import pytest
import torch

from rnn_demo.devices import set_cpu_threads
from rnn_demo.summary import cpu_time_step_floor, estimate_tokens_per_second
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
