"""The upload summary's speed estimate: a small model is estimated by its per-time-step ops, a
large one by its compute; with this project's CPU and the H200's measured matmul speeds it follows
what training did there."""

import time
from dataclasses import replace

import pytest
import torch

from rnn_demo import summary
from rnn_demo.devices import set_cpu_threads
from rnn_demo.summary import STEP_OVERHEAD, cpu_time_step_cost, estimate_tokens_per_second
from rnn_demo.train import GPU_DEFAULTS, TrainConfig
from tests.helpers import tiny_config


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tiny_model_is_estimated_by_its_time_steps(threads):
    set_cpu_threads(threads)
    try:
        config = tiny_config(hidden_size=8, embedding_size=4, batch_size=4, seq_len=32, threads=threads)
        for layers in (1, 2):
            estimate = estimate_tokens_per_second(replace(config, num_layers=layers), 20, torch.device("cpu"))
            serial = STEP_OVERHEAD["cpu"] + cpu_time_step_cost(threads, "fp32") * config.seq_len * layers
            # the compute of 4 × 32 tokens of this model is ~1e-5 s, next to the 4-7 ms of small ops
            assert estimate == pytest.approx(config.batch_size * config.seq_len / serial, rel=0.02)
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


@pytest.mark.parametrize("settings, precision, measured", [
    ({"cell": "lstm"}, "fp32", 41_072),  # the CPU defaults
    ({"cell": "gru"}, "bf16", 82_837),
    ({"cell": "lstm", "hidden_size": 768, "batch_size": 16}, "bf16", 16_921),
    ({"cell": "gru", "hidden_size": 128, "batch_size": 16}, "fp32", 122_925),
    ({"cell": "lstm", "num_layers": 2, "hidden_size": 512, "embedding_size": 128}, "fp32", 8_527),
])
def test_the_cpu_estimate_matches_the_benchmark_grid(settings, precision, measured):
    """With the 2-core Zen 4's measured matmul speeds (float32 187 GFLOP/s, bf16 436), the estimate
    lands within 25 % of what bench/estimate_accuracy.py measured there (bench/RESULTS.md §8)."""
    set_cpu_threads(2)
    key = ("cpu", 2, precision)
    saved = summary._probes.get(key)
    summary._probes[key] = ({"fp32": 187e9, "bf16": 436e9}[precision], time.monotonic())
    try:
        estimate = estimate_tokens_per_second(TrainConfig(precision=precision, **settings), 65, torch.device("cpu"))
    finally:
        summary._probes.pop(key)
        if saved is not None:
            summary._probes[key] = saved
        set_cpu_threads(1)
    assert 0.75 < estimate / measured < 1.25


@pytest.mark.parametrize("tokenizer, lang, unit", [("char", "en", "characters"), ("word", "en", "words (en)"), ("word", "zh", "characters (zh)")])
def test_the_summary_names_what_the_tokens_are(tmp_path, tokenizer, lang, unit):
    """spaCy's blank Chinese cuts text into single characters: a vocabulary of "words" misled."""
    corpus = tmp_path / "text.txt"
    corpus.write_text("床前明月光，疑是地上霜。举头望明月，低头思故乡。the moon, the frost. " * 200, encoding="utf-8")
    markdown = summary.summarize_corpus(corpus, TrainConfig(tokenizer=tokenizer, lang=lang)).markdown()
    assert f"distinct {unit}\n" in markdown + "\n"
