"""The model card (README.md) written beside each checkpoint, in the Hub's format."""

from __future__ import annotations

import json
import platform

import torch

from .model import RNNLanguageModel


def model_card(model: RNNLanguageModel, summary: dict, samples: dict[float, str], command: str | None = None) -> str:
    """Front matter the Hub reads (library, tags, pipeline), then metrics, data, settings, samples."""
    cell = summary["cell"].upper()
    source = summary.get("source") or {}
    val = summary.get("val_loss")
    tags = ["rnn", summary["cell"], "text-generation", f"{summary['tokenizer']}-level"]
    front = [
        "---",
        "library_name: rnn-demo",
        "pipeline_tag: text-generation",
        f"license: {source.get('license', 'mit')}",
        "tags:",
        *[f"- {t}" for t in tags],
        "---",
    ]
    lines = [
        *front,
        "",
        f"# {cell} {summary['tokenizer']}-level language model",
        "",
        f"A {model.num_layers}-layer {cell} with hidden size {model.hidden_size} "
        f"({summary['parameters']:,} parameters, vocabulary {summary['vocab_size']:,}), trained with "
        "rnn-demo; load it with `python -m rnn_demo sample <this folder or repo id>`.",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    if val is not None:
        read = f"over {summary['val_tokens']:,} tokens of the " if summary.get("val_tokens") else ""
        lines += [
            f"| validation loss (nats/token, {read}last {summary['config']['val_fraction']:.0%} of the corpus) | {val:.4f} |",
            f"| validation bits/token | {val / 0.6931471805599453:.4f} |",
        ]
    if summary.get("train_loss") is not None:
        lines.append(f"| training loss (last steps) | {summary['train_loss']:.4f} |")
    lines.append(f"| steps / tokens / epochs | {summary['steps']:,} / {summary['tokens']:,} / {summary['epochs']:.2f} |")
    if summary.get("overfitting"):  # the run went on past its best weights: say which ones these are
        found = summary["overfitting"]
        lines.append(
            f"| weights | from step {found['best_step']:,}, the best validation; by step {found['last_step']:,} the "
            f"validation loss had risen to {found['last_loss']:.4f} (overfitting) |"
        )
    lines += [
        f"| training time | {summary['seconds']:.0f} s on {summary['device']} |",
        f"| throughput | {summary['tokens_per_second']:,.0f} tokens/s |",
        "",
        "## Data",
        "",
        f"- corpus: {source.get('name', 'unknown')} ({source.get('size_bytes', 0):,} bytes, {source.get('encoding', '?')})",
    ]
    if source.get("provenance"):
        lines.append(f"- provenance: {source['provenance']}")
    lines += [
        "",
        "## Training",
        "",
        f"- hardware: {platform.machine()} {platform.system()}, torch {torch.__version__}",
    ]
    if command:
        lines += ["- command:", "", "```", command, "```"]
    lines += ["", "Settings:", "", "```json", json.dumps(summary["config"], indent=2), "```", "", "## Samples", ""]
    for temperature, text in samples.items():
        lines += [f"Temperature {temperature}, seed 1:", "", "```", text.strip("\n"), "```", ""]
    return "\n".join(lines)
