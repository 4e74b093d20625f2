"""Scaling: time per epoch, data preparation time and peak memory as the corpus grows
(1, 4, 16 MB of English) and with the vocabulary (character vs word level).

Each cell of the table is a separate ``python -m rnn_demo train`` process (so peak RSS is its
own), trained for a few steps with the default model; epoch time = training tokens ÷ measured
tokens/s. Prints JSON.

    python bench/scaling.py [--sizes 1 4 16] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.procs import english_text, run_measured  # noqa: E402


def measure(corpus: Path, tokenizer: str, steps: int, out: Path) -> dict:
    stdout, wall, rss = run_measured(
        ["-m", "rnn_demo", "train", str(corpus), "--tokenizer", tokenizer, "--steps", str(steps),
         "--max-bytes", "64", "--out", str(out), "--json"]
    )
    summary = json.loads(stdout.strip().splitlines()[-1])
    train_tokens = summary["tokens"] / summary["epochs"]
    return {
        "tokenizer": tokenizer,
        "vocab_size": summary["vocab_size"],
        "train_tokens": round(train_tokens),
        "tokens_per_second": round(summary["tokens_per_second"]),
        "epoch_seconds": round(train_tokens / summary["tokens_per_second"], 1),
        "setup_seconds": round(wall - summary["seconds"], 1),
        "peak_rss_mb": round(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            corpus = Path(tmp, f"english-{size:g}mb.txt")
            corpus.write_text(english_text(size), encoding="utf-8")
            for tokenizer in ("char", "word"):
                row = {"megabytes": size, **measure(corpus, tokenizer, args.steps, Path(tmp, "out"))}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps({"benchmark": "scaling", "machine": machine_info(), "rows": rows}))


if __name__ == "__main__":
    main()
