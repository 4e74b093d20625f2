"""Training throughput when another process wants a core (a web server, a second user, a test
runner): a fixed thread count under OpenMP's spinning waits (torch's default) or its sleeping
waits (``OMP_WAIT_POLICY=PASSIVE``), against the trainer's own choice (``thread_tuner.py``) — on a
quiet machine, with a busy process throughout, and with one that starts half-way through the run.
Each figure is a fresh process running ``Trainer`` with the defaults (default precision) on
random text for the budget; conditions interleave over rounds.

    python bench/contention.py [--rounds 2] [--seconds 10]
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
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"
MEASURE = """
import subprocess, sys, torch
sys.path.insert(0, {root!r})
from rnn_demo.config import TrainConfig
from rnn_demo.train import Trainer
ids = torch.randint(0, 65, (500_000,), generator=torch.Generator().manual_seed(0)).tolist()
text = "".join(chr(33 + i) for i in ids)
trainer = Trainer(text, TrainConfig(seconds={seconds}, threads={threads}, eval_every={seconds}))
busy = None
for progress in trainer.run():
    if {busy_from_half} and busy is None and progress.elapsed >= {seconds} / 2:
        busy = subprocess.Popen([sys.executable, "-c", {busy!r}])
if busy:
    busy.kill()
summary = trainer.summary()
print(summary["tokens_per_second"], summary["thread_switches"])
"""

# name → (environment, threads; None lets the trainer choose)
CONDITIONS = {
    "tuned (default)": ({}, None),
    "spinning, 2 threads": ({}, 2),
    "passive, 2 threads": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "spinning, 1 thread": ({}, 1),
}
LOADS = ("quiet", "one busy process", "busy from half-time")


def measure(env: dict, threads: int | None, seconds: float, busy_from_half: bool) -> tuple[float, int]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = MEASURE.format(root=str(ROOT), threads=threads, seconds=seconds, busy_from_half=busy_from_half, busy=BUSY)
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True).stdout
    rate, switches = out.strip().splitlines()[-1].split()
    return float(rate), int(switches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rates: dict[str, dict[str, list[float]]] = {load: {} for load in LOADS}
    switches: dict[str, list[int]] = {load: [] for load in LOADS}
    for load in LOADS:
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "one busy process" else None
        try:
            for _ in range(args.rounds):
                for name, (env, threads) in CONDITIONS.items():
                    rate, switched = measure(env, threads, args.seconds, load == "busy from half-time")
                    rates[load].setdefault(name, []).append(rate)
                    if threads is None:
                        switches[load].append(switched)
        finally:
            if busy:
                busy.kill()
    summary = {load: {k: round(statistics.median(v)) for k, v in rows.items()} for load, rows in rates.items()}
    print(json.dumps({"benchmark": "contention", "machine": machine_info(), "seconds": args.seconds,
                      "tokens_per_second": summary, "tuned_thread_switches": switches, "all": rates}, indent=2))


if __name__ == "__main__":
    main()
