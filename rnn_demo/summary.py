"""What a corpus looks like to the trainer, before training: size, encoding, vocabulary, splits, time.

The app shows this as soon as a file is uploaded, so a learner knows what they are about to train
on and roughly how long one pass over it takes. It reads and tokenizes the file with the very
functions training uses (:func:`~rnn_demo.data.read_corpus`, :func:`~rnn_demo.batches.prepare_dataset`,
:func:`~rnn_demo.batches.fit_batch_size`), so a file the summary accepts is a file training accepts,
and a file it refuses is refused with the same message.

The speed is an *estimate*: the training FLOPs per token of the chosen model (NOTES §2: an LSTM
layer costs ≈ 24·H·(H+I) per token, a GRU layer ≈ 18·H·(H+I), the decoder ≈ 6·H·V) divided into
the matrix-multiply throughput this device shows in a 50 ms probe, times the share of that peak an
RNN's products reached when measured (0.9 in float32, 0.75 in bf16 on a CPU), plus the small ops
every time step costs. On the CPU it was fitted on, within 0.72–1.5× of the measured speed, and
0.88–1.15× for word vocabularies of 1,000–20,000 (whose loss goes block by block, ``loss.py``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .batches import fit_batch_size, prepare_dataset
from .data import DEFAULT_MAX_BYTES, read_corpus
from .devices import describe, pick_device, pick_precision
from .errors import UserError
from .tokenizers import token_unit
from .train import TrainConfig

# The share of the probed matmul throughput (in the training precision) the compute of a training
# step reaches: on a CPU 0.9 in float32 and 0.75 in bf16 (fitted with CPU_TIME_STEP_COST to
# bench/estimate_accuracy.py, see below); on an H200 0.13 of its 8192³ bf16 product (bench/gpu.py:
# a 2 × 1024 LSTM at batch 128 × 128; float32 not measured).
EFFICIENCY = {"cpu": {"fp32": 0.9, "bf16": 0.75}, "cuda": {"fp32": 0.13, "bf16": 0.13}, "mps": {"fp32": 0.1}}
PROBE_SIZE = {"cuda": 8192}  # the matmul the probe times (others: 1024), as the benchmarks did
# Fixed cost of one training step (optimizer, clipping, per-op overhead), which dominates for tiny models.
STEP_OVERHEAD = {"cpu": 0.001, "cuda": 0.0032, "mps": 0.002}
# On a CPU each time step of each layer also costs its small ops (elementwise gates, the calls of its
# thin products), which wait on one another and so add to the compute rather than overlap it; bf16
# doubles them (each converts on the way in and out). Fitted with EFFICIENCY to three runs of
# bench/estimate_accuracy.py (hidden 64-768, batch 16 and 64, 1-2 layers, both cells and precisions,
# 1 and 2 threads; 2-core Zen 4): the estimate lands at 0.72-1.23x the measured speed while the
# machine is quiet (11 % off on average), up to 1.49x when it is slow, which its matmul probe
# doesn't show (bench/RESULTS.md §8). The earlier model, max(compute, a per-time-step floor) with
# 0.7 / 0.5, was 31 % off on average and up to 2.3x too fast for small models.
CPU_TIME_STEP_COST = {  # seconds per time step and layer, spinning OpenMP waits
    "fp32": {"one thread": 0.06e-3, "more threads": 0.09e-3},
    "bf16": {"one thread": 0.12e-3, "more threads": 0.15e-3},
}
# On CUDA the per-time-step kernel launches take ~0.05 ms per step and layer, and the GPU computes
# while the CPU launches, so a step takes the longer of the two, plus the fixed overhead. Fitted to
# the H200 sweep (bench/RESULTS.md, "GPU"): within 5 % for the 1 × 384, 2 × 512 and GRU runs, 17 %
# fast for the 2 × 1024 LSTM, 38 % slow for 3 × 1024 at batch 256 (bigger batches use the GPU better).
CUDA_TIME_STEP_FLOOR = 0.05e-3


def cpu_time_step_cost(threads: int, precision: str) -> float:
    """Seconds of small, serial ops per time step and layer of a CPU training step, on ``threads`` threads."""
    return CPU_TIME_STEP_COST[precision]["one thread" if threads == 1 else "more threads"]


@dataclass(frozen=True)
class CorpusSummary:
    """The facts about one corpus under one training configuration."""

    name: str
    size_bytes: int
    encoding: str
    characters: int
    tokenizer: str
    lang: str
    vocab_size: int
    train_tokens: int
    val_tokens: int
    val_fraction: float
    cell: str
    parameters: int
    batch_size: int
    tokens_per_second: float | None  # estimated; None where no estimate was made
    device: str
    seconds: float | None  # the time budget, if any

    @property
    def epoch_seconds(self) -> float | None:
        """Estimated time for one pass over the training tokens."""
        return None if self.tokens_per_second is None else self.train_tokens / max(self.tokens_per_second, 1e-9)

    @property
    def epochs_in_budget(self) -> float | None:
        return None if self.seconds is None or self.epoch_seconds is None else self.seconds / self.epoch_seconds

    def as_dict(self) -> dict:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "epoch_seconds": self.epoch_seconds,
            "epochs_in_budget": self.epochs_in_budget,
        }

    def markdown(self) -> str:
        """A short list for people: what was read, how it splits, how long training takes."""
        unit = token_unit(self.tokenizer, self.lang) + ("" if self.tokenizer == "char" else f" ({self.lang})")
        lines = [
            f"**{_escape(self.name)}** — {format_bytes(self.size_bytes)}, {self.encoding}, {self.characters:,} characters",
            f"- **Vocabulary:** {self.vocab_size:,} distinct {unit}",
            f"- **Split:** {self.train_tokens:,} tokens to learn from, {self.val_tokens:,} held out to measure progress "
            f"(the last {self.val_fraction:.0%})",
            f"- **Model:** {self.cell.upper()} with {self.parameters:,} parameters, batches of {self.batch_size}",
        ]
        if self.tokens_per_second is None:
            lines.append(f"- **Speed:** no estimate here (training runs on {self.device})")
        else:
            lines.append(
                f"- **Speed (rough estimate):** ≈ {self.tokens_per_second:,.0f} tokens/s on {self.device}, so one pass "
                f"over the text takes ≈ {format_seconds(self.epoch_seconds)}"
            )
        if self.epochs_in_budget is not None:
            passes = self.epochs_in_budget
            lines.append(
                f"- **Your budget:** {format_seconds(self.seconds)} ≈ {passes:,.0f} passes" if passes >= 10
                else f"- **Your budget:** {format_seconds(self.seconds)} ≈ {passes:.1f} passes over the text"
            )
        return "\n".join(lines)


def summarize_corpus(
    path: str | Path,
    config: TrainConfig | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    device: str | None = None,
) -> CorpusSummary:
    """Read, split and tokenize ``path`` as training would; raise :class:`UserError` if training would refuse it.

    ``device`` names where training will run when this process can't probe it (on ZeroGPU the GPU
    exists only inside the training call): the summary then makes no speed estimate.
    """
    config = config or TrainConfig()
    stats = _token_stats(str(path), _mtime(path), config.tokenizer, config.lang, config.val_fraction, config.min_freq, config.max_vocab, max_bytes)
    name, size, encoding, characters, vocab_size, train_tokens, val_tokens = stats
    if val_tokens < 2:
        raise UserError("the validation part is too short: upload more text or raise the validation fraction")
    batch_size = fit_batch_size(train_tokens, config.seq_len, config.batch_size)
    probe = pick_device(config.device) if device is None else None
    return CorpusSummary(
        name=name,
        size_bytes=size,
        encoding=encoding,
        characters=characters,
        tokenizer=config.tokenizer,
        lang=config.lang,
        vocab_size=vocab_size,
        train_tokens=train_tokens,
        val_tokens=val_tokens,
        val_fraction=config.val_fraction,
        cell=config.cell,
        parameters=parameter_count(config, vocab_size),
        batch_size=batch_size,
        tokens_per_second=estimate_tokens_per_second(config, vocab_size, probe, batch_size) if probe else None,
        device=describe(probe, pick_precision(probe, config.precision, config.hidden_size)) if probe else device,
        seconds=config.seconds,
    )


def _mtime(path: str | Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0  # read_corpus reports the missing file


@functools.lru_cache(maxsize=8)
def _token_stats(
    path: str, mtime: float, tokenizer: str, lang: str, val_fraction: float, min_freq: int | None, max_vocab: int, max_bytes: int
) -> tuple[str, int, str, int, int, int, int]:
    """Cached per file version: word-level tokenizing a large file takes seconds."""
    corpus = read_corpus(path, max_bytes=max_bytes)
    data = prepare_dataset(corpus.text, tokenizer, lang=lang, val_fraction=val_fraction, min_freq=min_freq, max_vocab=max_vocab)
    return (
        corpus.name,
        corpus.size_bytes,
        corpus.encoding,
        len(corpus.text),
        data.tokenizer.vocab_size,
        data.train_ids.numel(),
        data.val_ids.numel(),
    )


def parameter_count(config: TrainConfig, vocab_size: int) -> int:
    """Parameters of the model ``config`` builds for this vocabulary (as ``RNNLanguageModel`` counts them)."""
    gates = 4 if config.cell == "lstm" else 3
    hidden, count, inputs = config.hidden_size, vocab_size * config.embedding_size, config.embedding_size
    for _ in range(config.num_layers):
        count += gates * hidden * (inputs + hidden + 2)
        inputs = hidden
    if not config.tie_weights:
        count += hidden * vocab_size
    return count + vocab_size


def flops_per_token(config: TrainConfig, vocab_size: int) -> float:
    """Training FLOPs (forward + backward) per token: ≈ 6 × the multiply-adds of the forward pass."""
    gates = 4 if config.cell == "lstm" else 3
    hidden, inputs, total = config.hidden_size, config.embedding_size, 0.0
    for _ in range(config.num_layers):
        total += 6 * gates * hidden * (inputs + hidden)
        inputs = hidden
    return total + 6 * hidden * vocab_size


def estimate_tokens_per_second(
    config: TrainConfig, vocab_size: int, device: torch.device | None = None, batch_size: int | None = None
) -> float:
    """Training throughput: compute at the probed speed plus a fixed overhead per step, plus on a
    CPU the small ops of every time step, and on CUDA no faster than its kernel launches."""
    device = device or pick_device(config.device)
    precision = pick_precision(device, config.precision, config.hidden_size)
    efficiency = EFFICIENCY.get(device.type, {}).get(precision, 0.1)
    threads = torch.get_num_threads()
    flops = efficiency * matmul_flops(device.type, threads, precision)
    tokens_per_step = (batch_size or config.batch_size) * config.seq_len
    compute = tokens_per_step * flops_per_token(config, vocab_size) / flops
    overhead = STEP_OVERHEAD.get(device.type, 0.002)
    if device.type == "cpu":
        step_seconds = compute + overhead + cpu_time_step_cost(threads, precision) * config.seq_len * config.num_layers
    elif device.type == "cuda":
        step_seconds = max(compute, CUDA_TIME_STEP_FLOOR * config.seq_len * config.num_layers) + overhead
    else:
        step_seconds = compute + overhead
    return tokens_per_step / step_seconds


_probes: dict[tuple[str, int, str], tuple[float, float]] = {}
PROBE_MAX_AGE = 300.0  # seconds; a shared machine's speed drifts with its load


def matmul_flops(device_type: str, threads: int, precision: str = "fp32") -> float:
    """FLOP/s of a mid-sized matmul in ``precision`` on this device (a 50 ms probe, redone every few minutes)."""
    key, now = (device_type, threads, precision), time.monotonic()
    if key not in _probes or now - _probes[key][1] > PROBE_MAX_AGE:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        _probes[key] = (probe_matmul(torch.device(device_type), dtype, PROBE_SIZE.get(device_type, 1024)), now)
    return _probes[key][0]


def probe_matmul(device: torch.device, dtype: torch.dtype, n: int = 1024) -> float:
    """The product the benchmarks measure their ceiling with (bench/train_throughput.py: 1024³ on
    a CPU; bench/gpu.py: 8192³ on CUDA), so EFFICIENCY carries over."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return matmul_speed(lambda: a @ b, n, device)


def matmul_speed(product: Callable[[], object], n: int, device: torch.device, seconds: float = 0.05) -> float:
    """FLOP/s of ``product``, an n³ matmul, timed for at least ``seconds`` (and 3 calls) after one warm-up."""
    product()
    _sync(device)
    reps, began = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - began < seconds:
        product()
        reps += 1
    _sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - began)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 10 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def format_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024**2:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024**2:.1f} MB"


def _escape(text: str) -> str:
    """Keep a file name from being read as Markdown or HTML."""
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)
