"""GPU: training throughput (cuDNN, bf16 autocast) for the default and larger models against the
GPU's measured bf16 matmul speed, and a 60 s sweep of model sizes on tiny Shakespeare that gives
the time to validation loss 1.47 (nanoGPT's A100 figure; goal ≤ 60 s on one H100) and chooses the
GPU defaults. Needs CUDA; prints one JSON object per measurement, then a summary.

    python bench/gpu.py [--budget 60] [--target 1.47] [--sweep cpu-defaults 2x512 ...] [--corpus FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.time_to_quality import DEFAULT_CORPUS  # noqa: E402
from bench.train_throughput import VOCAB, build, tokens_per_second  # noqa: E402
from rnn_demo.config import GPU_DEFAULTS, TrainConfig  # noqa: E402
from rnn_demo.summary import PROBE_SIZE, flops_per_token, probe_matmul  # noqa: E402
from rnn_demo.train import Trainer  # noqa: E402

THROUGHPUT_SIZES = [  # (layers, hidden, batch, seq_len)
    (1, 384, 64, 64),  # the CPU defaults
    (2, 512, 128, 128),
    (3, 1024, 256, 128),
    (3, 1024, 512, 256),
]

# Candidate settings for a 60 s run on a GPU: the CPU defaults, then wider and deeper models with
# dropout (the sweep that chose GPU_DEFAULTS, bench/RESULTS.md "GPU"), and the GRU at those.
_WIDE = dict(num_layers=2, embedding_size=128, batch_size=128, seq_len=128)
SWEEP = {
    "cpu-defaults": {},
    "2x512-d0.2": dict(_WIDE, hidden_size=512, dropout=0.2, lr=3e-3),
    "2x512-d0.5": dict(_WIDE, hidden_size=512, dropout=0.5, lr=3e-3),
    "gpu-defaults": dict(GPU_DEFAULTS),
    "gru-gpu-defaults": dict(GPU_DEFAULTS, cell="gru"),
    "3x1024-lr1e-3": dict(_WIDE, num_layers=3, hidden_size=1024, dropout=0.5, batch_size=256, lr=1e-3),
}


def throughput(cell: str, layers: int, hidden: int, batch: int, seq_len: int, peak: float, seconds: float) -> dict:
    config = TrainConfig(cell=cell, num_layers=layers, hidden_size=hidden, batch_size=batch, seq_len=seq_len, device="cuda")
    model = build("fused", cell, config).cuda()
    rate = tokens_per_second(model, config, seconds=seconds, device="cuda", precision="bf16")
    tflops = rate * flops_per_token(config, VOCAB) / 1e12
    return {"measure": "throughput", "cell": cell, "layers": layers, "hidden": hidden, "batch": batch, "seq_len": seq_len,
            "tokens_per_second": round(rate), "tflops": round(tflops, 2), "fraction_of_matmul_peak": round(tflops / peak, 4)}


def sixty_seconds(name: str, text: str, budget: float, target: float) -> dict:
    """One run of the trainer as the app and CLI use it, validating on the whole split every 2 s to
    time the target (the first 32k tokens of tiny Shakespeare's split read ~0.06 lower)."""
    config = replace(TrainConfig(device="cuda", seconds=budget, eval_every=2.0), **{**SWEEP[name], "eval_tokens": 10**9})
    trainer = Trainer(text, config)
    reached = None
    for progress in trainer.run():
        if reached is None and progress.val_loss is not None and progress.val_loss <= target:
            reached = round(progress.elapsed, 1)
    s = trainer.summary()
    return {"measure": "sweep", "name": name, "budget_s": budget, "seconds_to_target": reached, "target": target,
            "val_loss": round(s["val_loss"], 4), "best_periodic_val_loss": round(s["best_val_loss"], 4),
            "train_loss": round(s["train_loss"], 4), "tokens_per_second": round(s["tokens_per_second"]),
            "epochs": round(s["epochs"], 2), "parameters": s["parameters"], "device": s["device"], "settings": SWEEP[name]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=1.47)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput measurement")
    parser.add_argument("--sweep", nargs="*", default=list(SWEEP), choices=list(SWEEP))
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    cuda = torch.device("cuda")  # the upload summary's own probe, so its EFFICIENCY is calibrated on this figure
    results = [{"measure": "matmul", "bf16_tflops": round(probe_matmul(cuda, torch.bfloat16, PROBE_SIZE["cuda"]) / 1e12, 1)}]
    print(json.dumps(results[0]), flush=True)
    for cell in ("lstm", "gru"):
        for size in THROUGHPUT_SIZES:
            results.append(throughput(cell, *size, peak=results[0]["bf16_tflops"], seconds=args.seconds))
            print(json.dumps(results[-1]), flush=True)
    text = Path(args.corpus).read_text(encoding="utf-8")
    for name in args.sweep:
        results.append(sixty_seconds(name, text, args.budget, args.target))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"benchmark": "gpu", "machine": machine_info(), "results": results}))


if __name__ == "__main__":
    main()
