"""Sampling speed, batch 1 on the CPU: our cell-path sampler against stepping ``nn.LSTM``/``nn.GRU``
once per character (what a naive sampler does), at the app's default model size.

Also the latency to the first streamed character after the model is loaded. Rounds interleave
the two sides; medians are reported. Prints JSON.

    python bench/sampling.py [--length 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from rnn_demo.config import TrainConfig  # noqa: E402
from rnn_demo.devices import set_cpu_threads  # noqa: E402
from rnn_demo.generate import Generation  # noqa: E402
from rnn_demo.model import RNNLanguageModel  # noqa: E402
from rnn_demo.tokenizers import UNK  # noqa: E402

VOCAB = [UNK, "\n", *" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'-&3$"]


def default_model(cell: str) -> RNNLanguageModel:
    c = TrainConfig()
    return RNNLanguageModel(
        {"type": "char", "vocab": VOCAB},
        cell=cell,
        embedding_size=c.embedding_size,
        hidden_size=c.hidden_size,
        num_layers=c.num_layers,
    ).eval()


def ours(model: RNNLanguageModel, length: int) -> tuple[float, float]:
    """(chars/s, seconds to the first character) of the real sampler."""
    start = time.perf_counter()
    pieces = iter(Generation(model, "ROMEO:", length=length, temperature=0.8, seed=0))
    next(pieces)
    first = time.perf_counter() - start
    count = 1 + sum(1 for _ in pieces)
    return count / (time.perf_counter() - start), first


@torch.inference_mode()
def naive(model: RNNLanguageModel, length: int) -> float:
    """The same sampling loop, but each character goes through ``model.rnn`` (nn.LSTM) itself."""
    generator = torch.Generator().manual_seed(0)
    token, state = torch.tensor([[1]]), None
    start = time.perf_counter()
    for _ in range(length):
        output, state = model.rnn(model.embedding(token), state)
        probs = torch.softmax(model.decoder(output[:, -1]) / 0.8, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
    return length / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    threads = set_cpu_threads()
    result = {"benchmark": "sampling", "machine": machine_info(), "length": args.length, "cells": {}}
    for cell in ("lstm", "gru"):
        model = default_model(cell)
        ours_rates, firsts, naive_rates = [], [], []
        for _ in range(args.rounds):
            rate, first = ours(model, args.length)
            ours_rates.append(rate)
            firsts.append(first)
            naive_rates.append(naive(model, args.length))
        result["cells"][cell] = {
            "chars_per_second": round(statistics.median(ours_rates)),
            "naive_chars_per_second": round(statistics.median(naive_rates)),
            "speedup": round(statistics.median(ours_rates) / statistics.median(naive_rates), 2),
            "first_char_ms": round(1000 * statistics.median(firsts), 2),
        }
    result["threads"] = threads
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
