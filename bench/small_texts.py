"""Short texts: the kept model's validation loss when validating on the ~8-per-run schedule alone
against the default (also after each epoch, train.py), and without, with and with more dropout
(the default chooses it by the passes over the text), interleaved per round; --variants picks some.

A few tens of kB — a poet's collection, a song's lyrics — is trained on many times over in a brief
run and starts to be learned by heart within seconds; the trainer keeps the weights that validated
best, so how often it validates decides what it keeps. Prints one JSON object per run, then a summary.

    python bench/small_texts.py --kb 30 100 300 --rounds 2
    python bench/small_texts.py --cell gru --kb 100 300 600 --variants "no dropout" "default, dropout 0.3"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.time_to_quality import DEFAULT_CORPUS, parse_overrides, run  # noqa: E402

VARIANTS = {  # name: the settings it overrides, for a budget of this many seconds
    "scheduled validations only": lambda seconds: {"eval_every": max(2.0, seconds / 8)},  # the schedule before 2026-11-29
    "default": lambda seconds: {},  # dropout chosen by the budget's passes over the text (since 2026-11-29 12:00)
    "no dropout": lambda seconds: {"dropout": 0.0},  # the default until then
    "default, dropout 0.3": lambda seconds: {"dropout": 0.3},
    "dropout 0.5": lambda seconds: {"dropout": 0.5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--kb", nargs="+", type=int, default=[30, 100, 300], help="text sizes: the corpus's first N kB")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every variant, e.g. tokenizer=word")
    args = parser.parse_args()
    common = parse_overrides(args.set)
    corpus = Path(args.corpus).read_text(encoding="utf-8")
    variants = {name: {**common, **VARIANTS[name](args.seconds)} for name in args.variants}
    results = []
    for round_ in range(args.rounds):
        for kb in args.kb:
            for name, overrides in variants.items():
                result = {
                    "round": round_,
                    "kb": kb,
                    "variant": name,
                    **run(corpus[: kb * 1000], args.cell, args.seconds, overrides),
                }
                results.append(result)
                print(json.dumps(result), flush=True)
    print(json.dumps({"benchmark": "small_texts", "machine": machine_info(), "runs": results}))


if __name__ == "__main__":
    main()
