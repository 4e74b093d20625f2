"""Training throughput at the app's default model size: fused vs from-scratch cells vs the
tutorial's cells, LSTM and GRU, in float32 and in bf16 autocast, against the ceilings implied by
this machine's float32 and bf16 matmul speeds: torch's own ``a @ b`` (MKL's sgemm for float32),
and the faster of that and oneDNN with a packed weight (what the fused kernels' step products use).

Variants run interleaved in rounds (the machine drifts); each figure is the median over rounds of
tokens/s for forward + backward + clip + Adam step on random tokens. "default" is what training
uses here (``--precision auto``: bf16 where the CPU multiplies it in hardware). The fused float32
rounds are also reported by where the host ran the two vCPUs at the time (``cross_core_penalty`` in
machine.py), which moves them by 7–20 % while the matmul speed stays. Prints JSON.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import APART, cross_core_penalty, machine_info  # noqa: E402
from bench.tutorial_cells import TutorialLM  # noqa: E402
from rnn_demo.config import TrainConfig  # noqa: E402
from rnn_demo.devices import autocast, pick_precision, set_cpu_threads  # noqa: E402
from rnn_demo.heap import memory_kept  # noqa: E402
from rnn_demo.model import RNNLanguageModel  # noqa: E402
from rnn_demo.summary import flops_per_token, matmul_speed  # noqa: E402
from rnn_demo.tokenizers import UNK  # noqa: E402

VOCAB = 65  # tiny Shakespeare's characters


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def gemm_gflops(dtype: torch.dtype, n: int = 1024, seconds: float = 2.0, onednn: bool = False) -> float:
    """Measured n³ matmul speed in ``dtype``, by ``a @ b`` or by oneDNN with ``b`` packed once."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    if onednn:
        packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), n)
        product = lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")  # noqa: E731
    else:
        product = lambda: a @ b  # noqa: E731
    return matmul_speed(product, n, torch.device("cpu"), seconds) / 1e9


def build(variant: str, cell: str, config: TrainConfig, vocab: int = VOCAB) -> torch.nn.Module:
    if variant == "tutorial":
        return TutorialLM(cell, vocab, config.embedding_size, config.hidden_size)
    tokenizer = {"type": "char", "vocab": [UNK] + [chr(33 + i) for i in range(vocab - 1)]}
    return RNNLanguageModel(
        tokenizer,
        cell=cell,
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        implementation=variant,
    )


def tokens_per_second(
    model: torch.nn.Module, config: TrainConfig, seconds: float, device: str = "cpu", precision: str = "fp32",
    vocab: int = VOCAB,
) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    ids = torch.randint(0, vocab, (config.batch_size, config.seq_len + 1), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        with autocast(torch.device(device), precision):
            loss, _ = model.loss(ids[:, :-1], ids[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()

    with memory_kept():  # as the trainer does
        step()  # warm-up (oneDNN primitive creation, cuDNN plans)
        sync()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            steps += 1
        sync()
        return steps * config.batch_size * config.seq_len / (time.perf_counter() - start)


def by_placement(rates: list[float], penalties: list[tuple[float | None, float | None]], ceiling: float) -> dict:
    """Median tokens/s and share of the ceiling over the rounds whose cross-core penalty, measured
    just before and just after, says the two threads shared a cache both times, or were apart both
    times; rounds where the placement changed count in neither."""
    groups: dict[str, list[float]] = {"shared_cache": [], "apart": []}
    for rate, (before, after) in zip(rates, penalties):
        if before is None or after is None:
            continue
        if max(before, after) < APART:
            groups["shared_cache"].append(rate)
        elif min(before, after) >= APART:
            groups["apart"].append(rate)
    return {
        name: {"rounds": len(group), "tokens_per_second": round(statistics.median(group)),
               "fraction_of_ceiling": round(statistics.median(group) / ceiling, 3)} if group else {"rounds": 0}
        for name, group in groups.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    set_cpu_threads()
    config = TrainConfig()
    default = pick_precision(torch.device("cpu"))
    variants = [(v, p, c) for c in ("lstm", "gru") for v in ("fused", "scratch", "tutorial") for p in PRECISIONS]
    models = {key: build(key[0], key[2], config) for key in variants}
    samples: dict[tuple[str, str, str], list[float]] = {key: [] for key in variants}
    gflops: dict[tuple[str, str], list[float]] = {(p, lib): [] for p in PRECISIONS for lib in ("torch", "onednn")}
    penalties: dict[str, list[tuple[float | None, float | None]]] = {cell: [] for cell in ("lstm", "gru")}
    for _ in range(args.rounds):
        for (precision, library), speeds in gflops.items():
            speeds.append(gemm_gflops(PRECISIONS[precision], onednn=library == "onednn"))
        for key in variants:
            probed = key[:2] == ("fused", "fp32")  # the bar's figure: note where the vCPUs ran
            before = cross_core_penalty() if probed else None
            samples[key].append(tokens_per_second(models[key], config, args.seconds, precision=key[1]))
            if probed:
                penalties[key[2]].append((before, cross_core_penalty()))
    measured = {key: statistics.median(g) for key, g in gflops.items()}
    gemm = {p: measured[(p, "torch")] for p in PRECISIONS}  # the "sgemm" (and its bf16 twin)
    best = {p: max(measured[(p, "torch")], measured[(p, "onednn")]) for p in PRECISIONS}
    result = {"benchmark": "train_throughput", "machine": machine_info(), "default_precision": default,
              "gemm_gflops": {f"{p} {lib}": round(g, 1) for (p, lib), g in measured.items()}, "model": {
        "embedding": config.embedding_size, "hidden": config.hidden_size, "layers": config.num_layers,
        "batch": config.batch_size, "seq_len": config.seq_len, "vocab": VOCAB}, "cells": {}}
    for cell in ("lstm", "gru"):
        rates = {f"{v} {p}": statistics.median(samples[(v, p, cell)]) for v, p, c in variants if c == cell}
        flops = flops_per_token(replace(config, cell=cell), VOCAB)
        ceilings = {p: gemm[p] * 1e9 / flops for p in PRECISIONS}
        best_ceilings = {p: best[p] * 1e9 / flops for p in PRECISIONS}
        result["cells"][cell] = {
            "tokens_per_second": {name: round(r) for name, r in rates.items()},
            # what a user gets (fused, default precision) against the tutorial's cell as written (float32)
            "default_over_tutorial": round(rates[f"fused {default}"] / rates["tutorial fp32"], 2),
            "fused_over_tutorial": {p: round(rates[f"fused {p}"] / rates[f"tutorial {p}"], 2) for p in PRECISIONS},
            "scratch_over_tutorial": round(rates["scratch fp32"] / rates["tutorial fp32"], 2),
            "flops_per_token": round(flops),
            "ceiling_tokens_per_second": {p: round(c) for p, c in ceilings.items()},
            "fused_fraction_of_ceiling": {p: round(rates[f"fused {p}"] / ceilings[p], 3) for p in PRECISIONS},
            "fused_fraction_of_fastest_matmul_ceiling": {
                p: round(rates[f"fused {p}"] / best_ceilings[p], 3) for p in PRECISIONS
            },
            # the same, split by where the host ran the two vCPUs during each sample (machine.py)
            "fused_fp32_by_vcpu_placement": by_placement(samples[("fused", "fp32", cell)], penalties[cell], ceilings["fp32"]),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
