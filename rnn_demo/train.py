"""The training loop: one generator of progress events, consumed alike by the CLI, the app and tests.

Truncated BPTT over contiguous windows, Adam, gradient-norm clipping, periodic validation that
keeps the best weights. It stops at a time budget, a step budget, as soon as its consumer stops
iterating (``close()``, a cancelled request), or when its ``stop`` signal is set (Stop pressed, the
tab closed; that reaches inside a step: ``stopping.py``): the ``finally`` block then leaves the
model holding its best weights, ready to sample or save.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace

import torch

from . import checkpoint
from .batches import Dataset, batchify, fit_batch_size, prepare_dataset, window
from .card import model_card
from .config import TrainConfig
from .devices import autocast, describe, pick_device, pick_precision, set_cpu_threads
from .errors import UserError
from .evaluate import Evaluation, evaluate
from .generate import generate_text
from .heap import memory_kept
from .model import RNNLanguageModel
from .overfitting import overfitting
from .stopping import Stopped, stoppable
from .summary import choose_dropout, estimate_tokens_per_second, format_seconds
from .thread_tuner import ThreadTuner

RESUME_MAY_CHANGE = ("seconds", "steps", "device", "precision", "threads")  # a resumed run keeps its other settings
QUICK_VALIDATION_SECONDS = 1.0
# Under a time budget a validation reads at most what fits in this share of the time between
# validations (the final one: of the budget). 32k tokens of a 1024 × 2 LSTM took 8 s on 2 cores,
# more than the 7.5 s between validations of a 60 s run; the default model reads them in ~0.9 s.
VALIDATION_SHARE = 0.15
MIN_VALIDATION_TOKENS = 4096  # a stopped run validates once more only if that is this quick
MIN_STEPS_IN_BUDGET = 3  # a time budget must hold at least this many estimated steps (the estimate is within 0.8–1.6×)
# At most this long between scheduled validations, each with a sample in the app: a learner watching
# a 10-minute run sees the text improve every 15 s, not every 75 s.
MAX_EVAL_INTERVAL = 15.0
# A short text is read many times over between two of the ~8 scheduled validations: 30 kB of
# Shakespeare validated best (1.82) 4 s into a 60 s run and had risen above 1.9 by the first, at
# 7.5 s; the kept model scored 2.06–2.17 (bench/small_texts.py; with the rule below 1.81–1.84).
# So a run also validates after each epoch, at most once a second (each one is a point on the plot)
# and only while these extra validations cost at most EPOCH_VALIDATION_SHARE of the time: a GPU
# reads tiny Shakespeare 40–60 times a minute, with dropout that keeps it from learning it by heart.
MIN_SECONDS_BETWEEN_VALIDATIONS = 1.0
EPOCH_VALIDATION_SHARE = 0.05


@dataclass
class Progress:
    """One report from the loop: after every step, and with ``val_loss`` after a validation."""

    step: int
    tokens: int
    epoch: float
    train_loss: float
    tokens_per_second: float
    elapsed: float
    remaining: float | None
    device: str
    val_loss: float | None = None
    best_val_loss: float | None = None
    sample: str | None = None
    val_tokens: int | None = None  # how many the final validation read, if the budget did not allow all held-out tokens
    # At the end ``val_loss`` scores the kept (best) weights; this, the latest weights on the held-out
    # tokens the periodic validations read: where the validation curve ends (a run that learned its
    # text by heart ends above its best, not back down at it)
    latest_val_loss: float | None = None
    done: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Position:
    """Where training stands; saved with the trainer state so a resumed run continues exactly."""

    step: int = 0
    tokens: int = 0
    epoch: int = 0
    window: int = 0
    elapsed: float = 0.0
    train_seconds: float = 0.0  # elapsed minus validation, sampling and saving: for throughput
    best_val_loss: float = math.inf
    history: list = field(default_factory=list)


class Trainer:
    """Holds the model, optimizer and data of one run; :meth:`run` trains and reports."""

    def __init__(
        self, text: str, config: TrainConfig, *, source: dict | None = None, resume: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:  # fmt: skip
        """``stop``, set from any thread, ends the run within one time step of the recurrence (stopping.py)."""
        config.check()
        saved = checkpoint.load_trainer_state(resume) if resume else None
        if saved:
            # The run's own settings come back; only the budget, device, precision and threads may change.
            keep = {f.name: getattr(config, f.name) for f in fields(config) if f.name in RESUME_MAY_CHANGE}
            config = replace(TrainConfig(**saved[0]["config"]), **keep)
        self.config = config
        self.source = source or {}
        self.stop = stop or threading.Event()
        self.device = pick_device(config.device)
        self.precision = pick_precision(self.device, config.precision, config.hidden_size)
        self.cpu_threads: int | None = None
        self.thread_tuner: ThreadTuner | None = None
        if self.device.type == "cpu":
            self.cpu_threads = set_cpu_threads(config.threads)
            if config.threads is None and config.steps is None and self.cpu_threads > 1:
                self.thread_tuner = ThreadTuner(self.cpu_threads)

        existing = checkpoint.load_model(resume).tokenizer if resume else None
        self.data: Dataset = prepare_dataset(
            text,
            config.tokenizer,
            lang=config.lang,
            val_fraction=config.val_fraction,
            min_freq=config.min_freq,
            max_vocab=config.max_vocab,
            existing=existing,
        )
        if self.data.val_ids.numel() < 2:
            raise UserError("the validation part is too short: upload more text or raise the validation fraction")
        self.batch_size = fit_batch_size(self.data.train_ids.numel(), config.seq_len, config.batch_size)
        # Unset, dropout is chosen by how often the budget reads the text (overfitting.py); passes: how often
        config, self.dropout_chosen_for_passes = choose_dropout(
            config, self.data.tokenizer.vocab_size, self.data.train_ids.numel(), self.batch_size, self.device
        )
        self.config = config
        self.estimated_rate: float | None = None  # training tokens/s estimated before the first step
        self.periodic_validation_tokens: int | None = None  # set by the first validation
        if config.steps is None and saved is None:
            self._refuse_a_budget_too_short_for_the_model()
        self.train_rows = batchify(self.data.train_ids, self.batch_size).to(self.device)
        self.windows_per_epoch = math.ceil((self.train_rows.shape[1] - 1) / config.seq_len)

        # The run draws its random numbers (initial weights, dropout) from its own CPU generator
        # state, so nothing else in the process (another session, the app) can change its result.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = RNNLanguageModel(
                self.data.tokenizer.to_config(),
                cell=config.cell,
                embedding_size=config.embedding_size,
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                dropout=config.dropout,
                tie_weights=config.tie_weights,
                implementation=config.implementation,
            ).to(self.device)
            self.rng_state = torch.get_rng_state()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.position = _Position()
        self.state = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.latest_weights: dict[str, torch.Tensor] | None = None  # set aside while the model holds the best
        self.final: Evaluation | None = None
        self.last_train_loss: float | None = None
        self.validation_seconds: float | None = None  # how long the last validation took
        self.validation_rate: float | None = None  # and its tokens per second
        if saved:
            self._restore(*saved)

    def _refuse_a_budget_too_short_for_the_model(self) -> None:
        """A step runs to its end whatever the clock says, so a model whose steps take longer than
        the budget can hold would overshoot it many times over (a 5 s budget at hidden 2048 × 6
        layers ran 92 s on 2 cores) and learn nothing. Estimated as the upload summary does."""
        if self.device.type not in ("cpu", "cuda"):
            return
        config = self.config
        tokens = self.batch_size * config.seq_len
        vocab = self.data.tokenizer.vocab_size
        rate = self.estimated_rate = estimate_tokens_per_second(config, vocab, self.device, self.batch_size)
        step = tokens / rate
        if step * MIN_STEPS_IN_BUDGET > config.seconds:
            raise UserError(
                f"one training step of this model takes about {format_seconds(step)} here, too long for a "
                f"{format_seconds(config.seconds)} budget: make the model smaller (hidden size, layers, "
                f"embedding size, batch size or sequence length) or give it more time"
            )

    # ----- the loop --------------------------------------------------------------------------

    def run(self) -> Iterator[Progress]:
        with memory_kept():  # malloc keeps each step's freed memory for the next (heap.py)
            yield from self._steps()

    def _steps(self) -> Iterator[Progress]:
        config, model, pos = self.config, self.model, self.position
        began = time.perf_counter() - pos.elapsed
        recent = []
        interval = self._eval_interval()
        clock = pos.step if config.steps is not None else pos.elapsed
        next_eval = (clock // interval + 1) * interval  # a resumed run keeps its validation schedule
        finished, validated_at = False, (pos.step, pos.elapsed)
        self._use_latest_weights()
        try:
            while not self.budget_spent():
                if self.stop.is_set():
                    return
                if self.cpu_threads:  # before every step: the thread count is per thread, and the app's
                    # server may resume this generator on another thread each time
                    set_cpu_threads(self.thread_tuner.threads if self.thread_tuner else self.cpu_threads)
                t0 = time.perf_counter()
                with stoppable(self.stop):
                    loss = self._train_step()
                took = time.perf_counter() - t0
                pos.train_seconds += took
                if self.thread_tuner:
                    self.thread_tuner.step_took(took)
                recent = (recent + [loss])[-20:]
                self.last_train_loss = sum(recent) / len(recent)
                pos.elapsed = time.perf_counter() - began
                progress = self._progress(loss)
                clock = pos.step if config.steps is not None else pos.elapsed
                scheduled = clock >= next_eval
                if (scheduled or self._epoch_validation_due(*validated_at)) and not self.budget_spent():
                    with stoppable(self.stop):
                        self._validate(progress, sample=scheduled)
                    if scheduled:
                        next_eval += interval
                    pos.elapsed = time.perf_counter() - began
                    validated_at = (pos.step, pos.elapsed)
                yield progress
            last = self._progress(self.last_train_loss)
            with stoppable(self.stop):
                self._validate(last)
                self._use_best_weights()
                cap = self.validation_tokens(final=True)
                self.final = evaluate(model, self.data.val_ids, cap)
            finished = True
            last.latest_val_loss = last.val_loss
            last.val_loss, last.done, last.remaining = self.final.loss, True, 0.0
            if cap is not None and cap < self.data.val_ids.numel() - 1:
                last.val_tokens = self.final.tokens
            last.elapsed = pos.elapsed = time.perf_counter() - began
            yield last
        except Stopped:
            pass  # Stop pressed inside a step or a validation: nothing was half-changed
        finally:
            if not finished:  # stopped: keep the best weights, validating the latest first if that is quick
                if self._validation_estimate() <= QUICK_VALIDATION_SECONDS:
                    self._validate(None)
                self._use_best_weights()
            model.eval()

    def _validation_estimate(self) -> float:
        """Seconds one more validation would take: as long as the last one, or, before any, as long as
        training took for as many tokens (evaluating ran at 0.8–1.2× the training speed per token)."""
        if self.validation_seconds is not None:
            return self.validation_seconds
        if not self.tokens_per_second:
            return math.inf  # nothing trained yet
        return min(self.validation_tokens(), self.data.val_ids.numel()) / self.tokens_per_second

    def validation_tokens(self, final: bool = False) -> int | None:
        """How many held-out tokens a validation reads (None: all of them, as the final one does).

        ``eval_tokens`` (the final one: all), but under a time budget no more than fit in
        ``VALIDATION_SHARE`` of the time between validations (the final one: of the budget), at the
        speed of the last validation, or before any, of training (evaluating ran at 0.8–1.2× the
        training speed per token: float32 forward against bf16 forward and backward). The periodic
        ones all read what the first did."""
        c = self.config
        if not final and self.periodic_validation_tokens is not None:
            return self.periodic_validation_tokens
        wanted = None if final else c.eval_tokens
        rate = self.validation_rate or self.tokens_per_second or self.estimated_rate
        if c.seconds is None or not rate:
            return wanted
        span = c.seconds if final else self._eval_interval()
        affordable = max(MIN_VALIDATION_TOKENS, int(rate * VALIDATION_SHARE * span))
        if final:
            return affordable
        # Fixed at the first: validations that read different amounts would not compare (the best
        # weights are chosen by them, and the plot's points would jump with the amount read).
        self.periodic_validation_tokens = min(wanted, affordable)
        return self.periodic_validation_tokens

    def _epoch_validation_due(self, step: int, elapsed: float) -> bool:
        """Whether a whole epoch has been trained since the last validation (at ``step``, ``elapsed``)
        and one more now keeps within MIN_SECONDS_BETWEEN_VALIDATIONS and EPOCH_VALIDATION_SHARE."""
        if self.config.eval_every:  # the user's own schedule
            return False
        pos = self.position
        gap = max(MIN_SECONDS_BETWEEN_VALIDATIONS, (self.validation_seconds or 0.0) / EPOCH_VALIDATION_SHARE)
        return pos.step - step >= self.windows_per_epoch and pos.elapsed - elapsed >= gap

    def _eval_interval(self) -> float:
        """Steps (step budgets) or seconds (time budgets) between validations: ~8 per run, at most 15 s apart."""
        c = self.config
        if c.eval_every:
            return c.eval_every
        if c.steps is not None:
            return max(1, c.steps // 8)
        return min(MAX_EVAL_INTERVAL, max(2.0, c.seconds / 8))

    def _train_step(self) -> float:
        config, model, pos = self.config, self.model, self.position
        if pos.window >= self.windows_per_epoch:
            pos.epoch, pos.window, self.state = pos.epoch + 1, 0, None
        inputs, targets = window(self.train_rows, pos.window * config.seq_len, config.seq_len)
        model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = config.lr * self._lr_factor()
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state)
            with autocast(self.device, self.precision):
                loss, state = model.loss(inputs, targets, self.state)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.rng_state = torch.get_rng_state()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        self.optimizer.step()
        self.state = model.detach_state(state)
        value = loss.item()
        if not math.isfinite(value):
            self._use_best_weights()
            raise UserError(
                f"training diverged at step {pos.step + 1} (loss {value}); lower the learning rate "
                f"(now {config.lr:g}) or the gradient clip"
            )
        pos.step, pos.window, pos.tokens = pos.step + 1, pos.window + 1, pos.tokens + targets.numel()
        return value

    def _lr_factor(self) -> float:
        """Cosine decay over the budget (steps if given, else seconds); 1 for a constant rate."""
        c, pos = self.config, self.position
        if c.lr_schedule == "constant":
            return 1.0
        done = pos.step / c.steps if c.steps is not None else pos.elapsed / c.seconds
        return c.lr_floor + (1 - c.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    def budget_spent(self) -> bool:
        """Whether the run has had its time or step budget (a resumed one counts what it had before)."""
        c, pos = self.config, self.position
        return (c.steps is not None and pos.step >= c.steps) or (c.seconds is not None and pos.elapsed >= c.seconds)

    def _progress(self, loss: float) -> Progress:
        c, pos = self.config, self.position
        remaining = []
        if c.seconds is not None:
            remaining.append(max(0.0, c.seconds - pos.elapsed))
        if c.steps is not None and pos.step:
            remaining.append((c.steps - pos.step) * pos.elapsed / pos.step)
        progress = Progress(
            step=pos.step,
            tokens=pos.tokens,
            epoch=pos.epoch + pos.window / self.windows_per_epoch,
            train_loss=loss,
            tokens_per_second=self.tokens_per_second,
            elapsed=pos.elapsed,
            remaining=min(remaining) if remaining else None,
            device=describe(self.device, self.precision),  # the thread count may change as the load does
            best_val_loss=pos.best_val_loss if math.isfinite(pos.best_val_loss) else None,
        )
        return progress

    def _validate(self, progress: Progress | None, sample: bool = True) -> None:
        """Validate on the first :meth:`validation_tokens` of the validation split; keep the best
        weights. ``sample``: add what the model writes now to ``progress`` (scheduled validations
        only, so that a short text's per-epoch ones don't bury the run in samples)."""
        pos = self.position
        began = time.perf_counter()
        result = evaluate(self.model, self.data.val_ids, self.validation_tokens())
        self.validation_seconds = time.perf_counter() - began
        self.validation_rate = result.tokens / self.validation_seconds
        if result.loss < pos.best_val_loss:
            pos.best_val_loss = result.loss
            self.best_weights = _clone(self.model.state_dict())
        pos.history.append({"step": pos.step, "tokens": pos.tokens, "val_loss": result.loss})
        if progress is not None:
            progress.val_loss, progress.best_val_loss = result.loss, pos.best_val_loss
            progress.sample = self.sample() if sample else None

    def sample(self) -> str | None:
        """What the model writes now (``sample_length`` tokens, seeded by the step), if samples are asked for."""
        if not self.config.sample_length:
            return None
        return generate_text(self.model, length=self.config.sample_length, temperature=0.8, seed=self.position.step)

    def _use_best_weights(self) -> None:
        """Load the best-validating weights, setting the latest aside: resuming continues from those."""
        if self.best_weights is not None and self.latest_weights is None:
            self.latest_weights = _clone(self.model.state_dict())
            self.model.load_state_dict(self.best_weights)

    def _use_latest_weights(self) -> None:
        if self.latest_weights is not None:
            self.model.load_state_dict(self.latest_weights)
            self.latest_weights = None

    # ----- results, saving and resuming ------------------------------------------------------

    @property
    def tokens_per_second(self) -> float:
        """Training throughput: tokens per second of optimisation steps, validation excluded."""
        pos = self.position
        return pos.tokens / pos.train_seconds if pos.train_seconds else 0.0

    def summary(self) -> dict:
        c, pos = self.config, self.position
        return {
            "cell": c.cell,
            "tokenizer": c.tokenizer,
            "vocab_size": self.data.tokenizer.vocab_size,
            "parameters": self.model.parameter_count,
            "steps": pos.step,
            "tokens": pos.tokens,
            "epochs": pos.epoch + pos.window / self.windows_per_epoch,
            "seconds": pos.elapsed,
            "tokens_per_second": self.tokens_per_second,
            "train_loss": self.last_train_loss,
            "val_loss": self.final.loss if self.final else (pos.best_val_loss if math.isfinite(pos.best_val_loss) else None),
            "best_val_loss": pos.best_val_loss if math.isfinite(pos.best_val_loss) else None,
            "overfitting": overfitting(pos.history, self.last_train_loss),
            "val_tokens": self.final.tokens if self.final else self.periodic_validation_tokens,  # what val_loss read
            "batch_size": self.batch_size,
            "device": describe(self.device, self.precision),
            "precision": self.precision,
            "thread_switches": self.thread_tuner.switches if self.thread_tuner else 0,
            "config": asdict(c),
            "source": self.source,
        }

    def save(self, folder: str, *, command: str | None = None) -> str:
        """Write the checkpoint (best weights) and the trainer state (latest weights) to ``folder``."""
        summary = self.summary()
        mid_run = self.latest_weights is None  # during a run the model holds the latest weights, after it the best
        self._use_best_weights()
        samples = {t: generate_text(self.model, length=400, temperature=t, seed=1) for t in (0.5, 0.8, 1.0)}
        checkpoint.save_model(self.model, folder, model_card(self.model, summary, samples, command))
        latest = self.latest_weights or _clone(self.model.state_dict())
        if mid_run:
            self._use_latest_weights()
        tensors = {f"model.{k}": v for k, v in latest.items()}
        tensors.update({f"best.{k}": v for k, v in (self.best_weights or {}).items()})
        for index, param_state in self.optimizer.state_dict()["state"].items():
            tensors.update({f"optim.{index}.{name}": value for name, value in param_state.items()})
        tensors["rng"] = self.rng_state
        if self.state is not None:
            hidden = self.state if isinstance(self.state, tuple) else (self.state,)
            tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
        info = {
            "config": asdict(self.config),
            "position": asdict(self.position),
            "param_groups": self.optimizer.state_dict()["param_groups"],
        }
        checkpoint.save_trainer_state(folder, info, tensors)
        return str(folder)

    def _restore(self, info: dict, tensors: dict[str, torch.Tensor]) -> None:
        def group(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.model.load_state_dict({k: v.to(self.device) for k, v in group("model.").items()})
        best = group("best.")
        self.best_weights = {k: v.to(self.device) for k, v in best.items()} or None
        optim_state: dict[int, dict] = {}
        for key, value in group("optim.").items():
            index, name = key.split(".", 1)
            optim_state.setdefault(int(index), {})[name] = value
        self.optimizer.load_state_dict({"state": optim_state, "param_groups": info["param_groups"]})
        self.position = _Position(**info["position"])
        self.rng_state = tensors["rng"]
        hidden = [group("hidden.")[str(i)].to(self.device) for i in range(len(group("hidden.")))]
        if hidden and hidden[0].shape[1] != self.batch_size:
            hidden = []  # resumed on another text, which fits another batch size: start from a fresh state
        self.state = (tuple(hidden) if len(hidden) == 2 else hidden[0]) if hidden else None


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a state dict; tied weights become two tensors, as safetensors requires."""
    return {k: v.detach().clone() for k, v in state.items()}
