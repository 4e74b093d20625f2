"""GPU: training throughput (cuDNN, bf16 autocast) for the default and larger models, the time
for a Shakespeare LSTM to reach validation loss 1.47 (nanoGPT's A100 figure; goal ≤ 60 s on one
H100), and the fraction of the GPU's bf16 peak that training uses. Needs CUDA; prints JSON.

    python bench/gpu.py [--peak-tflops 989] [--target 1.47] [--budget 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.time_to_quality import DEFAULT_CORPUS  # noqa: E402
from bench.train_throughput import VOCAB, build, tokens_per_second  # noqa: E402
from rnn_demo.summary import flops_per_token  # noqa: E402
from rnn_demo.train import TrainConfig, Trainer  # noqa: E402

SIZES = [  # (layers, hidden, batch, seq_len)
    (1, 384, 64, 64),  # the CPU defaults
    (2, 512, 128, 128),
    (3, 1024, 256, 128),
    (3, 1024, 512, 256),
]


def throughput_rows(peak_tflops: float) -> list[dict]:
    rows = []
    for cell in ("lstm", "gru"):
        for layers, hidden, batch, seq_len in SIZES:
            config = TrainConfig(cell=cell, num_layers=layers, hidden_size=hidden, batch_size=batch, seq_len=seq_len, device="cuda")
            model = build("fused", cell, config).cuda()
            rate = tokens_per_second(model, config, seconds=5.0, device="cuda", precision="bf16")
            flops = flops_per_token(config, VOCAB)
            rows.append({
                "cell": cell, "layers": layers, "hidden": hidden, "batch": batch, "seq_len": seq_len,
                "tokens_per_second": round(rate), "tflops": round(rate * flops / 1e12, 2),
                "fraction_of_peak": round(rate * flops / 1e12 / peak_tflops, 4),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def time_to_target(target: float, budget: float, overrides: dict) -> dict:
    text = DEFAULT_CORPUS.read_text(encoding="utf-8")
    config = TrainConfig(**{"device": "cuda", "seconds": budget, "eval_every": 2.0, **overrides})
    trainer = Trainer(text, config)
    reached = None
    for progress in trainer.run():
        if progress.val_loss is not None and progress.val_loss <= target and reached is None:
            reached = progress.elapsed
            break
    summary = trainer.summary()
    return {"target": target, "seconds_to_target": reached, "best_val_loss": summary["best_val_loss"],
            "tokens_per_second": round(summary["tokens_per_second"]), "settings": overrides}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    parser.add_argument("--target", type=float, default=1.47)
    parser.add_argument("--budget", type=float, default=300.0)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    rows = throughput_rows(args.peak_tflops)
    quality = time_to_target(args.target, args.budget, {
        "num_layers": 3, "hidden_size": 1024, "embedding_size": 128, "dropout": 0.2,
        "batch_size": 256, "seq_len": 128, "lr": 2e-3, "lr_schedule": "cosine"})
    print(json.dumps({"benchmark": "gpu", "machine": machine_info(), "throughput": rows, "time_to_quality": quality}, indent=2))


if __name__ == "__main__":
    main()
