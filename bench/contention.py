"""Training throughput when another process wants a core (a web server, a second user, a test
runner), under OpenMP's ways of waiting: spinning (``OMP_WAIT_POLICY=ACTIVE``), sleeping at once
(``PASSIVE``), or spinning for ``GOMP_SPINCOUNT`` iterations (~100 per µs) and then sleeping, on
2 threads and on 1. Each figure is a fresh process training the default model (in the default
precision) on random tokens; conditions interleave over rounds.

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
from rnn_demo.devices import pick_precision
from rnn_demo.train import TrainConfig
torch.set_num_threads({threads})
config = TrainConfig()
precision = pick_precision(torch.device("cpu"))
print(tokens_per_second(build("fused", "lstm", config), config, {seconds}, precision=precision))
"""
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"


# name → (environment, threads); GOMP_SPINCOUNT, when set, wins over the policy's spin count
CONDITIONS = {
    "active_2_threads": ({"OMP_WAIT_POLICY": "ACTIVE"}, 2),
    "passive_2_threads": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "passive_1_thread": ({"OMP_WAIT_POLICY": "PASSIVE"}, 1),
    "spin_300000_2_threads": ({"GOMP_SPINCOUNT": "300000"}, 2),  # libgomp's default with no policy (~3 ms)
    "spin_30000_2_threads": ({"GOMP_SPINCOUNT": "30000"}, 2),
    "spin_3000_2_threads": ({"GOMP_SPINCOUNT": "3000"}, 2),
}


def measure(env: dict, threads: int, seconds: float) -> float:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = MEASURE.format(root=str(ROOT), threads=threads, seconds=seconds)
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"quiet": {}, "one_busy_process": {}}
    for load in results:
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "quiet" else None
        try:
            for _ in range(args.rounds):
                for name, (env, threads) in CONDITIONS.items():
                    results[load].setdefault(name, []).append(measure(env, threads, args.seconds))
        finally:
            if busy:
                busy.kill()
    summary = {load: {k: round(statistics.median(v)) for k, v in rows.items()} for load, rows in results.items()}
    print(json.dumps({"benchmark": "contention", "machine": machine_info(), "tokens_per_second": summary, "all": results}, indent=2))


if __name__ == "__main__":
    main()
