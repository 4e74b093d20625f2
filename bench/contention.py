"""Training throughput when another process wants a core (a web server, a second user, a test
runner), with OpenMP's spinning waits (``OMP_WAIT_POLICY=ACTIVE``) against sleeping waits
(``PASSIVE``, which rnn_demo sets by default), on 2 threads and on 1. Each figure is a fresh
process training the default model on random tokens; conditions interleave over rounds.

    python bench/contention.py [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MEASURE = """
import sys, torch
sys.path.insert(0, {root!r})
from bench.train_throughput import build, tokens_per_second
from rnn_demo.train import TrainConfig
torch.set_num_threads({threads})
config = TrainConfig()
print(tokens_per_second(build("fused", "lstm", config), config, {seconds}))
"""
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"


def measure(policy: str, threads: int, seconds: float) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    code = MEASURE.format(root=str(ROOT), threads=threads, seconds=seconds)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    conditions = [(p, t) for p in ("ACTIVE", "PASSIVE") for t in (2, 1)]
    results: dict[str, dict[str, list[float]]] = {"quiet": {}, "one_busy_process": {}}
    for load in results:
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "quiet" else None
        try:
            for _ in range(args.rounds):
                for policy, threads in conditions:
                    results[load].setdefault(f"{policy.lower()}_{threads}_threads", []).append(measure(policy, threads, args.seconds))
        finally:
            if busy:
                busy.kill()
    summary = {load: {k: round(statistics.median(v)) for k, v in rows.items()} for load, rows in results.items()}
    print(json.dumps({"benchmark": "contention", "machine": machine_info(), "tokens_per_second": summary, "all": results}, indent=2))


if __name__ == "__main__":
    main()
