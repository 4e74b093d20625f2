"""The upload summary's speed estimate against the measured training speed, over a grid of models.

For each model (hidden 64-768, batch 16 and 64, 1-2 layers, LSTM and GRU, float32 and bf16, over
65 characters) and each thread count, the measured tokens/s of forward + backward + clip + Adam (as
in ``train_throughput.py``) next to ``summary.estimate_tokens_per_second`` with the summary's own
matmul probe; then the default model over word-sized vocabularies (``--vocabs``). The ratio
estimate ÷ measured is what a user's "rough estimate" is off by. On a CPU the summary times each
part of a step in the real kernels (the layers, the decoder with its loss, the optimizer), so the
character rows check the layers' timing and the word rows the decoder's (RESULTS §8). Prints JSON.

    python bench/estimate_accuracy.py [--threads 1 2] [--seconds 2] [--vocabs 1000 5000 20000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.train_throughput import VOCAB, build, tokens_per_second  # noqa: E402
from rnn_demo.config import TrainConfig  # noqa: E402
from rnn_demo.devices import set_cpu_threads  # noqa: E402
from rnn_demo.summary import estimate_tokens_per_second  # noqa: E402

MODELS = [  # (layers, hidden, embedding)
    (1, 64, 32), (1, 128, 64), (1, 256, 64), (1, 384, 64), (1, 768, 64), (2, 256, 64), (2, 512, 128),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--vocabs", type=int, nargs="*", default=[1000, 5000, 20000])
    args = parser.parse_args()
    default = TrainConfig()
    grid = [(layers, hidden, embedding, batch, VOCAB) for layers, hidden, embedding in MODELS for batch in (16, 64)]
    grid += [(default.num_layers, default.hidden_size, default.embedding_size, default.batch_size, vocab)
             for vocab in args.vocabs]
    rows = []
    for threads in args.threads:
        set_cpu_threads(threads)
        for layers, hidden, embedding, batch, vocab in grid:
            for cell in ("gru", "lstm"):
                for precision in ("fp32", "bf16"):
                    config = TrainConfig(cell=cell, hidden_size=hidden, embedding_size=embedding,
                                         num_layers=layers, batch_size=batch, precision=precision)
                    measured = tokens_per_second(build("fused", cell, config, vocab), config, args.seconds,
                                                 precision=precision, vocab=vocab)
                    estimate = estimate_tokens_per_second(config, vocab, torch.device("cpu"))
                    rows.append({"threads": threads, "cell": cell, "layers": layers, "hidden": hidden,
                                 "batch": batch, "vocab": vocab, "precision": precision, "measured": round(measured),
                                 "estimate": round(estimate), "ratio": round(estimate / measured, 2)})
    logs = [math.log(row["ratio"]) for row in rows]
    print(json.dumps({
        "benchmark": "estimate_accuracy",
        "machine": machine_info(),
        "ratio_min": min(row["ratio"] for row in rows),
        "ratio_max": max(row["ratio"] for row in rows),
        "rms_log_error": round(math.sqrt(sum(x * x for x in logs) / len(logs)), 3),
        "rows": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
