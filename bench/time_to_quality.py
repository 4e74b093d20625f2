"""Time to quality: validation loss on tiny Shakespeare after a fixed training budget.

Each run trains from scratch with ``TrainConfig`` defaults (overridable with ``--set key=value``)
for each budget in ``--seconds``, on the standard split (first 90 % train, last 10 % validation),
then evaluates the kept (best) weights on the *whole* validation split. Prints one JSON object per
run, then a summary object. Used to choose the defaults (see RESULTS.md) and to check the bar:
≤ 1.65 nats/char at 60 s on 2 CPU cores, LSTM and GRU.

    python bench/time_to_quality.py --cells lstm gru --seconds 15 30 60 120
    python bench/time_to_quality.py --cells gru --seconds 60 --set hidden_size=320 --set lr=0.006
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from rnn_demo.config import TrainConfig  # noqa: E402
from rnn_demo.evaluate import evaluate  # noqa: E402
from rnn_demo.train import Trainer  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tinyshakespeare.txt"


def parse_overrides(pairs: list[str]) -> dict:
    types = {f.name: f.type for f in fields(TrainConfig)}
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"unknown setting {key!r}")
        overrides[key] = value if "str" in str(types[key]) else json.loads(value)
    return overrides


def run(text: str, cell: str, seconds: float, overrides: dict) -> dict:
    config = TrainConfig(**{**overrides, "cell": cell, "seconds": seconds, "steps": None})
    trainer = Trainer(text, config)
    for _ in trainer.run():
        pass
    s = trainer.summary()
    whole = evaluate(trainer.model, trainer.data.val_ids)  # a short budget's final validation may read only part
    return {
        "cell": cell,
        "budget_s": seconds,
        "val_loss": round(whole.loss, 4),
        "train_loss": round(s["train_loss"], 4),
        "tokens": s["tokens"],
        "tokens_per_second": round(s["tokens"] / s["seconds"]),
        "epochs": round(s["epochs"], 3),
        "validations": len(trainer.position.history),
        "best_step": min(trainer.position.history, key=lambda v: v["val_loss"])["step"] if trainer.position.history else None,
        "steps": s["steps"],
        "parameters": s["parameters"],
        "device": s["device"],  # with the thread count it ended on
        "thread_switches": s["thread_switches"],
        "overrides": overrides,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--seconds", nargs="+", type=float, default=[15, 30, 60, 120])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    text = Path(args.corpus).read_text(encoding="utf-8")
    overrides = parse_overrides(args.set)
    results = []
    for seconds in args.seconds:
        for cell in args.cells:  # cells interleaved, so drift hits both alike
            result = run(text, cell, seconds, overrides)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(json.dumps({"benchmark": "time_to_quality", "machine": machine_info(), "runs": results}))


if __name__ == "__main__":
    main()
