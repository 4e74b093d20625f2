"""What a corpus looks like to the trainer, before training: size, encoding, vocabulary, splits, time.

The app shows this as soon as a file is uploaded, so a learner knows what they are about to train
on and roughly how long one pass over it takes. It reads and tokenizes the file with the very
functions training uses (:func:`~rnn_demo.data.read_corpus`, :func:`~rnn_demo.batches.prepare_dataset`,
:func:`~rnn_demo.batches.fit_batch_size`), so a file the summary accepts is a file training accepts,
and a file it refuses is refused with the same message.

The speed is an *estimate*. On a CPU each part of a training step is timed in the very kernels
training runs, once per shape (~0.3 s for the default model): each recurrent layer forward and
backward over two window lengths, the decoder and its loss over two row counts (the differences
give the cost per time step or token, the rest is paid once per step), and the optimizer's step
over as many parameters. How fast these run next to a big matmul differs from CPU to CPU by 2× and
more, so no fitted share carries over. On a GPU the model's FLOPs (NOTES §2: an LSTM layer costs
≈ 24·H·(H+I) per token, a GRU layer ≈ 18·H·(H+I), the decoder ≈ 6·H·V) are divided into the
matrix-multiply throughput a short probe shows, times the share of it training reached when
measured, and a fixed cost per step is added.
bench/estimate_accuracy.py measures how far off it is (RESULTS §8).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .batches import fit_batch_size, prepare_dataset
from .config import TrainConfig, parameter_count, token_unit
from .data import DEFAULT_MAX_BYTES, read_corpus
from . import recurrence
from .devices import autocast, cpu_threads, describe, pick_device, pick_precision
from .errors import UserError
from .heap import memory_kept
from .loss import decoder_loss
from .overfitting import MEASURED, SUGGESTED_DROPOUT, automatic_dropout
from .tokenizers import LARGE_UNKNOWN_SHARE, MOSTLY_HAN_SHARE, NOTICEABLE_UNKNOWN_SHARE, format_share, han_share

# The share of the probed matmul throughput (in the training precision) a whole training step
# reaches on a GPU: on an H200 0.13 of its 8192³ bf16 product (bench/gpu.py: a 2 × 1024 LSTM at
# batch 128 × 128; float32 not measured).
EFFICIENCY = {"cuda": {"fp32": 0.13, "bf16": 0.13}, "mps": {"fp32": 0.1}}
PROBE_SIZE = {"cuda": 8192}  # the matmul the probe times (others: 1024), as the benchmarks did
# Fixed cost of one training step (on a CPU what the timed parts leave out: zeroing gradients, the
# embedding's gradient, per-op overhead), which dominates for tiny models.
STEP_OVERHEAD = {"cpu": 0.001, "cuda": 0.0032, "mps": 0.002}
# On a CPU a step's parts are timed, not modelled from FLOPs: how fast an RNN's thin per-step
# products and small gate ops, the decoder's blockwise loss, or Adam's passes over memory run next
# to a big matmul differs from CPU to CPU. At the default size the float32 LSTM reached 0.89 of the
# 1024³ sgemm speed on a 2-core Zen 4 but 0.42 on a 2-core Sapphire Rapids (whose sgemm is 1.7×
# faster), and there a short matmul probe also read 1.3× the sustained speed, so fitted shares were
# up to 2.2× too fast for character models and 2× for word models (bench/RESULTS.md §8).
PROBE_SECONDS = 0.03  # each part's shorter timed run takes about this long
OPTIMIZER_PROBE_PARAMETERS = 4_000_000  # Adam is timed on at most this many (a 6 × 2048 model has 200 M: 3 GB)
# On CUDA the per-time-step kernel launches take ~0.05 ms per step and layer, and the GPU computes
# while the CPU launches, so a step takes the longer of the two, plus the fixed overhead. Fitted to
# the H200 sweep (bench/RESULTS.md, "GPU"): within 5 % for the 1 × 384, 2 × 512 and GRU runs, 17 %
# fast for the 2 × 1024 LSTM, 38 % slow for 3 × 1024 at batch 256 (bigger batches use the GPU better).
CUDA_TIME_STEP_FLOOR = 0.05e-3


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
    dropout: float | None = 0.0  # the run's (None: automatic, and not chosen here: no speed estimate)
    dropout_automatic: bool = False  # chosen for this text and budget, not set by the user
    unknown_share: float = 0.0  # of all its tokens, those outside the vocabulary (read as <unk>)
    chinese_share: float = 0.0  # of its letters, those that are Chinese characters

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
            *self._language_lines(),
            *self._unknown_lines(),
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
            if self.dropout_automatic and self.dropout:
                lines.append(
                    f"- **Short for this budget:** read that often, a text is soon learned by heart, so training uses "
                    f"dropout {self.dropout}, which holds that off: {MEASURED}. Dropout under Advanced overrides it."
                )
            elif self.dropout is not None and self.dropout < automatic_dropout(passes):
                lines.append(
                    f"- **Short for this budget:** read that often, a text is soon learned by heart. Dropout "
                    f"{SUGGESTED_DROPOUT} (under Advanced) holds that off: {MEASURED}."
                )
        return "\n".join(lines)

    def _language_lines(self) -> list[str]:
        """A warning when word tokens would cut a Chinese text by rules that split words at spaces."""
        if self.tokenizer != "word" or self.lang == "zh" or self.chinese_share < MOSTLY_HAN_SHARE:
            return []
        return [
            f"- ⚠️ **This text is mostly Chinese characters** ({format_share(self.chinese_share)} of its letters), which "
            f"the `{self.lang}` rules can't cut into words (they split at spaces): each phrase becomes one word. "
            "Set the language to `zh: Chinese`, or use character tokens."
        ]

    def _unknown_lines(self) -> list[str]:
        """A line on the tokens read as ``<unk>`` when they are noticeable; a warning with remedies when
        they are many: the model then learns mostly ``<unk>``, and its loss looks better than its text."""
        share = self.unknown_share
        if share < NOTICEABLE_UNKNOWN_SHARE:
            return []
        where = "rare words, or found only in the held-out part" if self.tokenizer == "word" else "characters found only in the held-out part"
        if share < LARGE_UNKNOWN_SHARE:
            return [f"- **Unknown tokens:** {format_share(share)} of the tokens are outside the vocabulary ({where}), read as `<unk>`"]
        remedy = (
            f"Use character tokens, set the word language to the text's (now `{self.lang}`), or upload more text."
            if self.tokenizer == "word" else "Upload more text, so that the part learned from has every character."
        )
        return [
            f"- ⚠️ **{format_share(share)} of the tokens are unknown** (outside the vocabulary: {where}), all read as `<unk>`: "
            f"the model learns to predict `<unk>`, which it never writes, and its loss looks better than its text. {remedy}"
        ]


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
    name, size, encoding, characters, chinese, vocab_size, train_tokens, val_tokens, unknown = stats
    if val_tokens < 2:
        raise UserError("the validation part is too short: upload more text or raise the validation fraction")
    batch_size = fit_batch_size(train_tokens, config.seq_len, config.batch_size)
    probe = pick_device(config.device) if device is None else None
    automatic = config.dropout is None and probe is not None
    if automatic:
        config, _ = choose_dropout(config, vocab_size, train_tokens, batch_size, probe)
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
        dropout=config.dropout,
        dropout_automatic=automatic,
        unknown_share=unknown,
        chinese_share=chinese,
    )


def _mtime(path: str | Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0  # read_corpus reports the missing file


@functools.lru_cache(maxsize=8)
def _token_stats(
    path: str, mtime: float, tokenizer: str, lang: str, val_fraction: float, min_freq: int | None, max_vocab: int, max_bytes: int
) -> tuple[str, int, str, int, float, int, int, int, float]:
    """Cached per file version: word-level tokenizing a large file takes seconds."""
    corpus = read_corpus(path, max_bytes=max_bytes)
    data = prepare_dataset(corpus.text, tokenizer, lang=lang, val_fraction=val_fraction, min_freq=min_freq, max_vocab=max_vocab)
    return (
        corpus.name,
        corpus.size_bytes,
        corpus.encoding,
        len(corpus.text),
        han_share(corpus.text),
        data.tokenizer.vocab_size,
        data.train_ids.numel(),
        data.val_ids.numel(),
        data.unknown_share(),
    )


def choose_dropout(
    config: TrainConfig, vocab_size: int, train_tokens: int, batch_size: int, device: torch.device
) -> tuple[TrainConfig, float | None]:
    """``config`` with its automatic dropout (``None``) chosen for this text and budget
    (:func:`~rnn_demo.overfitting.automatic_dropout`), and the passes over the text it was chosen for:
    exact under a step budget, at the estimated speed without dropout under a time budget (the
    shorter, when both are set). A set dropout stays, with no passes."""
    if config.dropout is not None:
        return config, None
    reads = []
    if config.steps is not None:
        reads.append(config.steps * batch_size * config.seq_len / train_tokens)
    if config.seconds is not None:
        rate = estimate_tokens_per_second(replace(config, dropout=0.0), vocab_size, device, batch_size)
        reads.append(config.seconds * rate / train_tokens)
    passes = min(reads, default=None)
    return replace(config, dropout=automatic_dropout(passes)), passes


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
    """Training throughput: on a CPU the timed parts of a step (layers, decoder with its loss,
    optimizer); elsewhere all compute at the probed matmul speed, and on CUDA no faster than its
    kernel launches; plus a fixed overhead per step."""
    device = device or pick_device(config.device)
    if device.type == "cpu":  # with the threads training starts with, whatever this thread was left with
        with cpu_threads(config.threads):
            return _estimate(config, vocab_size, device, batch_size)
    return _estimate(config, vocab_size, device, batch_size)


def _estimate(config: TrainConfig, vocab_size: int, device: torch.device, batch_size: int | None) -> float:
    precision = pick_precision(device, config.precision, config.hidden_size)
    batch = batch_size or config.batch_size
    tokens_per_step = batch * config.seq_len
    overhead = STEP_OVERHEAD.get(device.type, 0.002)
    if device.type == "cpu":
        inputs, seconds = config.embedding_size, overhead
        # Without dropout on the embeddings, layer 0 gathers its input projection from a table
        # over the vocabulary when that pays (model.py): ~14 % less work for a character model.
        table = config.dropout == 0 and recurrence.table_pays(vocab_size, tokens_per_step)
        for layer in range(config.num_layers):
            vocab = vocab_size if layer == 0 and table else None
            per_time_step, per_window = layer_seconds(config.cell, batch, inputs, config.hidden_size, precision, vocab)
            seconds += config.seq_len * per_time_step + per_window
            inputs = config.hidden_size
        per_token, per_step = decoder_seconds(config.hidden_size, vocab_size, precision)
        seconds += tokens_per_step * per_token + per_step + optimizer_seconds(parameter_count(config, vocab_size))
        return tokens_per_step / seconds
    flops = EFFICIENCY.get(device.type, {}).get(precision, 0.1) * matmul_flops(device.type, torch.get_num_threads(), precision)
    compute = tokens_per_step * flops_per_token(config, vocab_size) / flops
    if device.type == "cuda":
        return tokens_per_step / (max(compute, CUDA_TIME_STEP_FLOOR * config.seq_len * config.num_layers) + overhead)
    return tokens_per_step / (compute + overhead)


_probes: dict[tuple, tuple] = {}  # key → (value, when measured)
PROBE_MAX_AGE = 300.0  # seconds; a shared machine's speed drifts with its load


def matmul_flops(device_type: str, threads: int, precision: str = "fp32") -> float:
    """FLOP/s of a mid-sized matmul in ``precision`` on this device (a 50 ms probe, redone every few minutes)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return _probed((device_type, threads, precision), lambda: probe_matmul(torch.device(device_type), dtype, PROBE_SIZE.get(device_type, 1024)))


def _probed(key: tuple, measure: Callable[[], object]):
    """``measure()``, once per key, and again after a few minutes: a shared machine's speed drifts."""
    now = time.monotonic()
    if key not in _probes or now - _probes[key][1] > PROBE_MAX_AGE:
        _probes[key] = (measure(), now)
    return _probes[key][0]


def _per_unit_and_fixed(run: Callable[[int], float], units: int) -> tuple[float, float]:
    """``run(n)`` times n units of work (time steps, rows); timed at ``units`` and twice as many, the
    faster of two each (if quick) after a warm-up (oneDNN creates its primitives, memory is mapped), the
    difference is the cost per unit and the rest is paid once (casting and packing weights: in a
    2048-wide layer more than 16 time steps, so one short run divided by its length was 4.7× slow)."""
    with torch.enable_grad(), memory_kept():  # as in training (a server thread may have grad off)
        repeats = 2 if run(2 * units) < 0.1 else 1  # a long run is steady enough once (a 6 × 2048 model)
        short, long = (min(run(n) for _ in range(repeats)) for n in (units, 2 * units))
    per_unit = max(long - short, 0.1 * long) / units  # (a noisy difference can't go below zero)
    return per_unit, max(short - units * per_unit, 0.0)


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def layer_seconds(cell: str, batch: int, inputs: int, hidden: int, precision: str, vocab: int | None = None) -> tuple[float, float]:
    """Seconds one recurrent layer of this shape takes in a training step on this CPU: per time
    step, and once per window (timed once per shape). ``vocab``: the first layer, reading its input
    projection from a table over that vocabulary (``recurrence.run_on_tokens``)."""
    key = ("layer", cell, batch, inputs, hidden, precision, vocab, torch.get_num_threads())
    return _probed(key, lambda: time_layer(cell, batch, inputs, hidden, precision, vocab))


def time_layer(cell: str, batch: int, inputs: int, hidden: int, precision: str, vocab: int | None = None) -> tuple[float, float]:
    """Forward and backward through the kernels training runs (``recurrence.py``, in its autocast),
    over ``n`` and ``2n`` time steps, ``n`` chosen to take about PROBE_SECONDS at the matmul probe's
    speed (2-32; with a table, enough tokens for the table to be used, as in training). A layer too
    big for that is timed on fewer rows and its per-step cost scaled up: its products are then big
    enough that time grows with the rows."""
    gates = 4 if cell == "lstm" else 3
    speed = matmul_flops("cpu", torch.get_num_threads(), precision)
    guess = 6 * gates * hidden * (inputs + hidden) * batch / speed  # seconds per time step
    rows = min(batch, max(8, int(batch * PROBE_SECONDS / guess)))
    steps = int(min(32, max(2, PROBE_SECONDS / (guess * rows / batch))))
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(inputs, hidden)
    if vocab is not None:
        steps = max(steps, -(-2 * vocab // rows))  # recurrence.table_pays, as for the training step
        embedding = torch.randn(vocab, inputs, requires_grad=True)

    def forward_backward(length: int) -> float:
        if vocab is not None:
            ids = torch.randint(0, vocab, (length, rows))
            run = lambda: recurrence.run_on_tokens(rnn, embedding, ids)  # noqa: E731
        else:
            x = torch.randn(length, rows, inputs, requires_grad=True)
            run = lambda: recurrence.run(rnn, x)  # noqa: E731

        def work():
            with autocast(torch.device("cpu"), precision):
                out = run()[0]
            out.backward(torch.ones_like(out))

        return _timed(work)

    per_step, per_window = _per_unit_and_fixed(forward_backward, steps)
    return per_step * batch / rows, per_window


def decoder_seconds(hidden: int, vocab: int, precision: str) -> tuple[float, float]:
    """Seconds the decoder and its loss take in a training step on this CPU, forward and backward
    (``loss.decoder_loss``: block by block for big vocabularies): per token, and once per step."""
    return _probed(("decoder", hidden, vocab, precision, torch.get_num_threads()), lambda: time_decoder(hidden, vocab, precision))


def time_decoder(hidden: int, vocab: int, precision: str) -> tuple[float, float]:
    """:func:`loss.decoder_loss` over ``n`` and ``2n`` rows, ``n`` (64-4,096) taking about PROBE_SECONDS."""
    guess = 6 * hidden * vocab / matmul_flops("cpu", torch.get_num_threads(), precision)  # seconds per row
    rows = int(min(4096, max(64, PROBE_SECONDS / guess)))
    weight = (torch.randn(vocab, hidden) / hidden**0.5).requires_grad_()
    bias = torch.zeros(vocab, requires_grad=True)

    def forward_backward(n: int) -> float:
        inputs = torch.randn(1, n, hidden, requires_grad=True)
        targets = torch.randint(0, vocab, (1, n))

        def work():
            with autocast(torch.device("cpu"), precision):
                loss = decoder_loss(inputs, targets, weight, bias)
            loss.backward()

        return _timed(work)

    return _per_unit_and_fixed(forward_backward, rows)


def optimizer_seconds(parameters: int) -> float:
    """Seconds of gradient clipping and an Adam step over ``parameters`` on this CPU (passes over
    memory: 32 ms for a 20,000-word model's 9 M parameters, 2.6 ms for the default's 0.7 M)."""
    probed = min(parameters, OPTIMIZER_PROBE_PARAMETERS)  # the time grows with the count
    return _probed(("adam", probed, torch.get_num_threads()), lambda: time_optimizer(probed)) * parameters / probed


def time_optimizer(parameters: int) -> float:
    weight = torch.nn.Parameter(torch.randn(parameters))
    weight.grad = torch.randn(parameters)
    adam = torch.optim.Adam([weight], lr=1e-3)

    def step():
        torch.nn.utils.clip_grad_norm_([weight], 1.0)
        adam.step()

    step()
    return min(_timed(step) for _ in range(2))


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
