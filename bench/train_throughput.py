"""Training throughput at the app's default model size: fused vs from-scratch cells vs the
tutorial's cells, LSTM and GRU, against the ceiling implied by this machine's sgemm speed.

Variants run interleaved in rounds (the machine drifts); each figure is the median over rounds of
tokens/s for forward + backward + clip + Adam step on random tokens. Prints JSON.

    python bench/train_throughput.py [--rounds 5] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.tutorial_cells import TutorialLM  # noqa: E402
from rnn_demo.devices import set_cpu_threads  # noqa: E402
from rnn_demo.model import RNNLanguageModel  # noqa: E402
from rnn_demo.summary import flops_per_token  # noqa: E402
from rnn_demo.tokenizers import UNK  # noqa: E402
from rnn_demo.train import TrainConfig  # noqa: E402

VOCAB = 65  # tiny Shakespeare's characters


def sgemm_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """Measured float32 matmul speed: the machine's ceiling for the recurrent matmuls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def build(variant: str, cell: str, config: TrainConfig) -> torch.nn.Module:
    if variant == "tutorial":
        return TutorialLM(cell, VOCAB, config.embedding_size, config.hidden_size)
    tokenizer = {"type": "char", "vocab": [UNK] + [chr(33 + i) for i in range(VOCAB - 1)]}
    return RNNLanguageModel(
        tokenizer,
        cell=cell,
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        implementation=variant,
    )


def tokens_per_second(model: torch.nn.Module, config: TrainConfig, seconds: float, device: str = "cpu") -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    ids = torch.randint(0, VOCAB, (config.batch_size, config.seq_len + 1), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()

    step()  # warm-up (oneDNN primitive creation, cuDNN plans)
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    sync()
    return steps * config.batch_size * config.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    set_cpu_threads()
    config = TrainConfig()
    variants = [(v, c) for c in ("lstm", "gru") for v in ("fused", "scratch", "tutorial")]
    models = {key: build(*key, config) for key in variants}
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    gflops = []
    for _ in range(args.rounds):
        gflops.append(sgemm_gflops())
        for key in variants:
            samples[key].append(tokens_per_second(models[key], config, args.seconds))
    sgemm = statistics.median(gflops)
    result = {"benchmark": "train_throughput", "machine": machine_info(), "sgemm_gflops": round(sgemm, 1), "model": {
        "embedding": config.embedding_size, "hidden": config.hidden_size, "layers": config.num_layers,
        "batch": config.batch_size, "seq_len": config.seq_len, "vocab": VOCAB}, "cells": {}}
    for cell in ("lstm", "gru"):
        rates = {v: statistics.median(samples[(v, cell)]) for v in ("fused", "scratch", "tutorial")}
        flops = flops_per_token(replace(config, cell=cell), VOCAB)
        ceiling = sgemm * 1e9 / flops
        result["cells"][cell] = {
            "tokens_per_second": {v: round(r) for v, r in rates.items()},
            "fused_over_tutorial": round(rates["fused"] / rates["tutorial"], 2),
            "scratch_over_tutorial": round(rates["scratch"] / rates["tutorial"], 2),
            "flops_per_token": round(flops),
            "ceiling_tokens_per_second": round(ceiling),
            "fused_fraction_of_ceiling": round(rates["fused"] / ceiling, 3),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
