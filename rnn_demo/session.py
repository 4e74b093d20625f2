"""What the web app needs beyond the core: per-session models, training and sampling streams.

Nothing here imports gradio; ``app.py`` wires these functions to widgets, and the tests call them
the same way.

- :func:`train_events`: one training run as a stream of :class:`TrainEvent` holding only CPU data
  (plain numbers, CPU tensors), so it can run in a ZeroGPU worker process whose yields are pickled.
- :class:`TrainedModel` and :class:`Workspace`: what one browser session owns — the model trained in
  it, as CPU tensors — and a weak registry by session id so closing a tab can free it at once.
- :func:`text_stream`: a :class:`~rnn_demo.generate.Generation` as growing text, a few updates a second.
- :func:`finish_turns`: at exit, lets the torch work of those two streams end before the process does.

The deployment's settings are in ``app_settings.py``, the pretrained models in ``catalog.py``: the
app builds its page from those, and imports this module (and torch) with the first request that needs it.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import hub
from .app_settings import NOT_READ, NOT_TRAINED, TRAINED
from .card import model_card
from .checkpoint import save_model
from .checkpoint_layout import zip_folder
from .config import TrainConfig, token_unit
from .errors import UserError
from .evaluate import evaluate
from .generate import Generation, generate_text
from .inside import Reading, read_text
from .model import RNNLanguageModel
from .overfitting import describe_overfitting
from .stopping import Stopped, stoppable
from .summary import format_seconds
from .train import Progress, Trainer

# ----- training -------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    """A model trained in a session, held as CPU tensors: its architecture, weights and run summary."""

    architecture: dict
    weights: dict[str, torch.Tensor]
    summary: dict
    _model: RNNLanguageModel | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_model(cls, model: RNNLanguageModel, summary: dict) -> "TrainedModel":
        weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return cls(model.architecture(), weights, summary)

    def model(self) -> RNNLanguageModel:
        """The module, built on the CPU once (sampling steps batch-1 on the CPU, NOTES §2)."""
        if self._model is None:
            model = RNNLanguageModel(**self.architecture)
            model.load_state_dict(self.weights)
            self._model = model.eval()
        return self._model

    @property
    def title(self) -> str:
        s = self.summary
        val = s.get("val_loss")  # over the whole held-out text when the run ended, as its status said
        corpus = (s.get("source") or {}).get("name", "your corpus")
        loss = f", validation loss {val:.3f}" if val is not None else ""
        return f"{s['cell'].upper()} trained on {corpus} ({s['steps']:,} steps{loss})"

    def save(self, folder: str | Path) -> Path:
        """A checkpoint folder (config.json, model.safetensors, README.md model card), as the CLI writes."""
        model = self.model()
        samples = {t: generate_text(model, length=300, temperature=t, seed=1) for t in (0.5, 0.8)}
        return save_model(model, folder, model_card(model, self.summary, samples, command="trained in the rnn-demo web app"))


@dataclass
class TrainEvent:
    """One report of :func:`train_events`: plain data and CPU tensors only (picklable)."""

    progress: dict  # Progress.as_dict(): step, tokens, train_loss, val_loss, sample, done, ...
    model: TrainedModel | None = None  # the best weights so far: at each validation that improved on them, and at the end
    info: dict | None = None  # the first event only: what is being trained (sizes, device)


# ----- exiting while serving ------------------------------------------------------------------
# The server runs handlers in daemon threads. If the process exits (Ctrl-C) while one of them is
# inside a torch op, the interpreter stops that thread in the middle of C++ code and libstdc++
# aborts the process ("terminate called without an active exception", exit code 134). So the
# long streams below do their torch work in short turns; at exit the running turns are waited for,
# and a thread that wants another one waits, doing nothing, until the process has ended.

_turns = threading.Condition()
_running_turns = 0
_exiting = False


class _Exiting(Exception):
    """Raised instead of waiting for ever in a thread the interpreter waits for (the main thread)."""


@contextlib.contextmanager
def _turn() -> Iterator[None]:
    """One stretch of torch work; once the process is exiting, it never starts."""
    global _running_turns
    with _turns:
        while _exiting:
            if not threading.current_thread().daemon:  # e.g. the main thread closing a stream at exit
                raise _Exiting
            _turns.wait()
        _running_turns += 1
    try:
        yield
    finally:
        with _turns:
            _running_turns -= 1
            _turns.notify_all()


def finish_turns(timeout: float = 30.0) -> bool:
    """Start no new turn, and wait up to ``timeout`` s for the running ones; whether they all ended.

    Registered with :mod:`atexit`, which runs before the interpreter stops daemon threads."""
    global _exiting
    with _turns:
        _exiting = True
    with _live_lock:
        sessions = list(_live.values())
    for workspace in sessions:
        workspace.stop()  # ends a running step at once (a big model's would hold the exit for seconds)
    with _turns:
        return _turns.wait_for(lambda: _running_turns == 0, timeout)


atexit.register(finish_turns)


def train_events(
    text: str,
    config: TrainConfig,
    source: dict | None = None,
    *,
    every: float = 0.5,
    on_stop: Callable[[TrainedModel], None] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[TrainEvent]:
    """Train on ``text``, reporting at most every ``every`` seconds, at each validation, and at the end.

    Stopping early ends training: setting ``stop`` within one time step of the recurrence, closing
    the generator after the current step. The trainer keeps its best weights (validating the latest
    once more if that is quick), which go to ``on_stop``. When the process
    exits, the run ends after its current step (:func:`finish_turns`). That callback only
    reaches the caller when this runs in the caller's process: under ZeroGPU the generator runs in
    a worker, so callers also keep the ``model`` of the last validation event.
    """
    with _turn():
        trainer = Trainer(text, config, source=source, stop=stop)
        data = trainer.data
        # The untrained model's validation loss: the validation curve starts there, so it is drawn as
        # a line from the first real validation on (a one-point series shows nothing). And what it
        # writes (~15 ms): noise, the first sample, so a learner sees the text improve from there.
        try:
            with stoppable(trainer.stop):  # a big model's takes seconds
                untrained = evaluate(trainer.model, data.val_ids, trainer.validation_tokens()).loss
        except Stopped:
            return  # stopped before the first step: nothing to keep
        sample = trainer.sample()
    yield TrainEvent(
        progress={"step": 0, "tokens": 0, "train_loss": None, "val_loss": untrained, "sample": sample, "done": False},
        info={
            "parameters": trainer.model.parameter_count,
            "vocab_size": data.tokenizer.vocab_size,
            "train_tokens": data.train_ids.numel(),
            "val_tokens": data.val_ids.numel(),
            "batch_size": trainer.batch_size,
            "device": str(trainer.device),
            "dropout": trainer.config.dropout,
            "dropout_automatic": trainer.dropout_chosen_for_passes is not None,
        },
    )
    run, finished, last, latest, handed_over = trainer.run(), False, -math.inf, None, False
    interval = _IntervalLoss(trainer.position.tokens)
    try:
        while not finished:
            with _turn():  # one training step (and validation, and the snapshot of a new best)
                progress = next(run, None)
                if progress is None:
                    break
                latest = progress
                interval.add(progress)
                validated = progress.val_loss is not None
                # The step that spends the budget is always reported: the final validation follows,
                # seconds for a big vocabulary or model, and the status says so meanwhile.
                spent = progress.remaining == 0
                if not (validated or progress.done or spent or time.monotonic() - last >= every):
                    continue
                improved = validated and progress.val_loss == progress.best_val_loss
                model = _snapshot(trainer) if improved or progress.done else None  # else the last one sent is still the best
            last, finished = time.monotonic(), progress.done
            yield TrainEvent({**progress.as_dict(), "train_loss": interval.take(progress.train_loss)}, model=model)
        if not finished and latest is not None:  # ``stop`` was set: the trainer has kept its best weights
            with _turn():
                event = _stopped_event(trainer, latest, interval.take(trainer.last_train_loss))
            handed_over = True
            if on_stop is not None:
                on_stop(event.model)
            yield event
    finally:
        if not finished and not handed_over:
            with contextlib.suppress(_Exiting), _turn():
                run.close()  # a run still going keeps its best weights (train.py)
                if on_stop is not None and trainer.position.step > 0:
                    on_stop(_snapshot(trainer, use_model=True))


class _IntervalLoss:
    """The training loss over all the tokens trained since the last report, not the loss of the
    step that happened to be reported: one step's is noisy, and a row's short last window (its
    remainder, 10 tokens against 64) read 0.444 among steps at 1.1-1.2 on the plot."""

    def __init__(self, tokens: int) -> None:
        self.tokens, self.loss_sum, self.trained = tokens, 0.0, 0

    def add(self, progress: Progress) -> None:
        trained, self.tokens = progress.tokens - self.tokens, progress.tokens
        self.loss_sum += progress.train_loss * trained
        self.trained += trained

    def take(self, otherwise: float | None) -> float | None:
        """The mean since the last call (``otherwise`` if no tokens were trained since), and start anew."""
        mean = self.loss_sum / self.trained if self.trained else otherwise
        self.loss_sum, self.trained = 0.0, 0
        return mean


def _stopped_event(trainer: Trainer, latest: Progress, train_loss: float | None) -> TrainEvent:
    """The last event of a stopped run: its last step, the kept weights, and the validation the
    trainer made on stopping (when that was quick) with a sample from it, so that the plot and the
    samples end where the run did (a run stopped before its first periodic validation otherwise
    showed a validation "curve" of one point, which draws nothing)."""
    pos = trainer.position
    progress = {**latest.as_dict(), "train_loss": train_loss, "val_loss": None, "sample": None}
    history = pos.history
    if history and history[-1]["step"] == pos.step and (len(history) < 2 or history[-2]["step"] != pos.step):
        loss = history[-1]["val_loss"]
        progress.update(val_loss=loss, best_val_loss=pos.best_val_loss)
        if loss == pos.best_val_loss:  # the model now holds these weights: the sample is theirs
            progress["sample"] = trainer.sample()
    return TrainEvent(progress, model=_snapshot(trainer, use_model=True))


def _snapshot(trainer: Trainer, use_model: bool = False) -> TrainedModel:
    """The best weights so far (or the model's own, once the trainer has loaded the best into it)."""
    weights = trainer.model.state_dict() if use_model or trainer.best_weights is None else trainer.best_weights
    model = TrainedModel(trainer.model.architecture(), {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}, trainer.summary())
    return model


GPU_OVERHEAD_SECONDS = 30  # data preparation, the final full validation, the model's move to the GPU


def gpu_duration(text: str, config: TrainConfig, *args, **kwargs) -> int:
    """``spaces.GPU(duration=...)`` for :func:`train_events`: the time budget plus overhead, in seconds."""
    return int((config.seconds or 60) + GPU_OVERHEAD_SECONDS)


class RunView:
    """What the app shows of a run, built from its :class:`TrainEvent` s: a status line, loss rows, samples."""

    def __init__(self, config: TrainConfig, corpus_name: str, previous: TrainedModel | None = None) -> None:
        """``previous``: the session's model from an earlier run, which this one's replaces (``Workspace.keep``)."""
        self.config = config
        self.corpus_name = corpus_name
        self.previous = previous
        self.replaced = False  # this run has handed over weights of its own
        self.rows: list[dict] = []  # {"step", "loss", "series"} for the loss plot
        self.samples: list[tuple[int, float, str]] = []  # (step, validation loss, text), oldest first
        self.info: dict = {}
        self.progress: dict = {}
        self.headline = f"Preparing **{corpus_name}** (reading, splitting, building the vocabulary)…"
        self.line = ""
        self.untrained_loss: float | None = None
        self.overfitting: dict | None = None  # from the summary of the latest weights handed over

    def update(self, event: TrainEvent) -> None:
        p = self.progress = event.progress
        if event.model is not None:
            self.replaced, self.overfitting = True, event.model.summary.get("overfitting")
        if event.info is not None:
            self.info = event.info
            vocab = self.info["vocab_size"]
            unit = token_unit(self.config.tokenizer, self.config.lang)
            model = f"{self.info['parameters']:,} parameters"
            if self.info.get("dropout"):
                model += f", dropout {self.info['dropout']:g}"
                if self.info.get("dropout_automatic"):
                    model += ", chosen as this budget reads the text many times over"
            self.headline = (
                f"Training a **{self.config.cell.upper()}** ({model}) on "
                f"{self.info['train_tokens']:,} {unit} of **{self.corpus_name}**. The loss is how surprised the "
                f"model is by the next token: guessing blindly among {vocab:,} scores ln {vocab:,} = {math.log(vocab):.2f}."
            )
            if p.get("val_loss") is not None:
                self.untrained_loss = p["val_loss"]
                self.headline += f" Untrained, this one scores {p['val_loss']:.2f} on the validation text."
                self.rows.append({"step": 0, "loss": round(p["val_loss"], 4), "series": "validation"})
                if p.get("sample"):
                    self.samples.append((0, p["val_loss"], p["sample"]))
            self.line = "Starting…"
            return
        last_step = max((r["step"] for r in self.rows if r["series"] == "training"), default=-1)
        if p.get("train_loss") is not None and not p.get("done") and p["step"] > last_step:
            self.rows.append({"step": p["step"], "loss": round(p["train_loss"], 4), "series": "training"})
        if p.get("val_loss") is not None:
            curve = p["latest_val_loss"] if p.get("latest_val_loss") is not None else p["val_loss"]
            self.rows.append({"step": p["step"], "loss": round(curve, 4), "series": "validation"})
            if p.get("sample"):
                self.samples.append((p["step"], curve, p["sample"]))  # the latest weights wrote it
        self.line = self._line(p)

    def _line(self, p: dict) -> str:
        speed = f"{p.get('tokens_per_second', 0):,.0f} tokens/s on {p.get('device', '?')}"
        if p.get("done"):
            read = p.get("val_tokens")  # set only when the budget allowed less than all
            over = "the whole held-out text" if read is None else f"{read:,} of the {self.info.get('val_tokens', 0):,} held-out tokens (all would have run well past the budget)"
            done = (
                f"✓ **Done:** {p['step']:,} step{'' if p['step'] == 1 else 's'} in {format_seconds(p.get('elapsed', 0.0))} ({speed}). Validation loss "
                f"**{p['val_loss']:.3f}** over {over}. Your model is now “{TRAINED}” under Generate, "
                "and ready to download."
            )
            if self.untrained_loss is not None and p["val_loss"] > self.untrained_loss:
                done += (
                    f"\n\n⚠ That is worse than the untrained model's {self.untrained_loss:.3f}: training went astray. "
                    "Lower the learning rate (Advanced), or give it more time."
                )
            return done + self._overfitting_note(self.overfitting)
        parts = [f"**Step {p['step']:,}**"]
        if p.get("train_loss") is not None:
            parts.append(f"training loss {p['train_loss']:.3f}")
        if p.get("best_val_loss") is not None:
            parts.append(f"best validation loss {p['best_val_loss']:.3f}")
        if p.get("remaining") == 0:
            parts.append(f"{format_seconds(p.get('elapsed', 0.0))} elapsed: time's up, scoring the model on the held-out text…")
        elif p.get("remaining") is not None:
            parts.append(f"{format_seconds(p.get('elapsed', 0.0))} elapsed, {format_seconds(p['remaining'])} left")
        parts.append(speed)
        return " · ".join(parts)

    @property
    def status(self) -> str:
        return "\n\n".join(part for part in (self.headline, self.replacing, self.line) if part)

    @property
    def replacing(self) -> str:
        """While the session's earlier model is still “my model”: that this run replaces it, and when
        (a run stopped sooner says what it kept: :meth:`stopped_status`)."""
        if self.previous is None or self.replaced:
            return ""
        return (
            f"↻ This run's model replaces your previous one ({self.previous.title}) as “{TRAINED}” at its first "
            "validation; until then, Generate still uses the previous one."
        )

    @property
    def samples_text(self) -> str:
        """Newest first, so the latest sample is on top."""
        if not self.samples:
            return "A sample appears here at each validation: watch the text get better."
        return "\n\n".join(
            f"── step {step:,}{' (untrained)' if step == 0 else ''} · validation loss {loss:.3f} ──\n{text.strip()}"
            for step, loss, text in reversed(self.samples)
        )

    def stopped_status(self, trained: TrainedModel | None) -> str:
        """The status after Stop: what was kept (``trained``: the session's model now, maybe still the previous one)."""
        if trained is None or trained is self.previous:
            kept = "" if trained is None else f" “{TRAINED}” is still your previous model."
            return f"{self.headline}\n\n■ **Stopped** before the model learned anything: nothing kept.{kept}"
        s = trained.summary
        best = s.get("best_val_loss")
        kept = f"best weights, with validation loss {best:.3f}" if best is not None else "weights trained so far"
        return (
            f"{self.headline}\n\n■ **Stopped** at step {s['steps']:,} after {format_seconds(s['seconds'])}. Kept the "
            f"{kept}: your model is now “{TRAINED}” under Generate, and ready to download."
        ) + self._overfitting_note(s.get("overfitting"))

    def _overfitting_note(self, found: dict | None) -> str:
        if not found:
            return ""
        dropout = self.info.get("dropout") or 0.0
        return f"\n\n⚠ **Learning by heart:** {describe_overfitting(found, dropout, '{} under Advanced')}"


# ----- sessions -------------------------------------------------------------------------------

_live: "weakref.WeakValueDictionary[str, Workspace]" = weakref.WeakValueDictionary()
_live_lock = threading.Lock()


class Workspace:
    """Everything one browser (or gradio_client) session owns: the model it trained, its files.

    Held in the session's ``gr.State`` (time-to-live, ``delete_callback=release``) and registered
    weakly by session id, so the tab-close handler can free it at once with :func:`release_session`.
    """

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id
        self.trained: TrainedModel | None = None
        self.running = False  # a training run of this session is in progress
        self.last_status: str = ""  # the status line when the last run ended (done, stopped, failed)
        # What the last run showed. Stop also cancels the run's event, and gradio then drops the run's
        # last update, which carries the validation made on stopping: the app sends this again.
        self.last_run: RunView | None = None
        self.last_generation: str = ""  # a line about the last generation (model source, seed)
        # The last text a model read in "Look inside", kept so another signal or a click on a token
        # shows at once: (model, text, reading).
        self._reading: tuple[RNNLanguageModel, str, Reading] | None = None
        self._folder: Path | None = None
        self._zip: tuple[TrainedModel, Path] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()  # the current run's stop signal
        if session_id:
            with _live_lock:
                old = _live.get(session_id)
                _live[session_id] = self
            if old is not None and old is not self:
                old.clear()

    @property
    def folder(self) -> Path:
        """A private temporary folder for this session's checkpoint and zip, removed by :meth:`clear`."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="rnn-demo-session-"))
            # Also when gradio drops the state without its delete callback (LRU eviction): remove on collection.
            weakref.finalize(self, shutil.rmtree, str(self._folder), True)
        return self._folder

    def keep(self, model: TrainedModel) -> None:
        self.trained = model

    def start_run(self) -> threading.Event:
        """Mark this session's training run as started; return its stop signal (:func:`train_events`'
        ``stop``). One at a time: a second (a script's, when the server trains several at once) would
        race the first to become "my model", and Stop would reach only one of them."""
        with self._lock:
            if self.running:
                raise UserError("this session is already training a model: stop it, or wait for it to end, before training another")
            self.running = True
            self._stop = threading.Event()
            return self._stop

    def stop(self) -> None:
        """End this session's run now: within one time step, not after its step (a big model's takes seconds)."""
        self._stop.set()

    def require_model(self, wait: float = 5.0, remedy: str = "") -> TrainedModel:
        """The trained model; if a stopped run is still wrapping up, wait up to ``wait`` seconds for it.
        ``remedy``: what else the caller could do without one (sampling: pick a pretrained model)."""
        deadline = time.monotonic() + wait
        while self.trained is None and self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.trained is None and self.running:
            raise UserError("your model is still training: it becomes usable at its first validation, in a few seconds")
        if self.trained is None:
            raise UserError(NOT_TRAINED + remedy)
        return self.trained

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait (up to ``timeout`` s) for a stopped run to finish wrapping up."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)

    def checkpoint_zip(self) -> Path:
        """The trained model as a zipped checkpoint folder (made once per model); return the zip's path."""
        trained = self.require_model()
        with self._lock:
            if self._zip is not None and self._zip[0] is trained and self._zip[1].is_file():
                return self._zip[1]
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"rnn-demo-{trained.summary['cell']}-{stamp}"
            folder = trained.save(self.folder / name)
            archive = zip_folder(folder, self.folder / name)
            shutil.rmtree(folder, ignore_errors=True)
            self._zip = (trained, archive)
            return archive

    def push(self, repo_id: str, token: str, *, private: bool = False, endpoint: str | None = None) -> str:
        """Upload the trained model to a Hub repo with ``token`` (used for this call only); return the URL."""
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise UserError("give the Hub repo to push to, as owner/name")
        if not (token or "").strip():
            raise UserError("paste a Hugging Face access token with write permission (it is used once, never stored)")
        trained = self.require_model()
        folder = Path(tempfile.mkdtemp(prefix="push-", dir=self.folder))
        try:
            trained.save(folder)
            return hub.push(folder, repo_id, private=private, token=token.strip(), endpoint=endpoint)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def reading(self, model: RNNLanguageModel, text: str) -> Reading:
        """``model``'s reading of ``text`` (:func:`rnn_demo.inside.read_text`), made once per model and text."""
        kept = self._reading
        if kept is not None and kept[0] is model and kept[1] == text:
            return kept[2]
        with _turn():
            reading = read_text(model, text)
        self._reading = (model, text, reading)
        return reading

    @property
    def last_reading(self) -> Reading:
        if self._reading is None:
            raise UserError(NOT_READ)
        return self._reading[2]

    def clear(self) -> None:
        """Drop the model and delete this session's files."""
        self.trained = None
        self._zip = None
        self._reading = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def release(workspace: Workspace | None) -> None:
    """``gr.State``'s delete callback: free a session's model when its state expires."""
    if workspace is not None:
        workspace.stop()
        workspace.clear()


def release_session(session_id: str | None) -> None:
    """Stop the run and free the workspace of a session whose tab was closed."""
    if not session_id:
        return
    with _live_lock:
        workspace = _live.pop(session_id, None)
    release(workspace)


def stop_session(session_id: str | None) -> None:
    """Stop the run of a session, if it has one (the Stop button, a script's ``/stop``)."""
    with _live_lock:
        workspace = _live.get(session_id) if session_id else None
    if workspace is not None:
        workspace.stop()


def live_sessions() -> int:
    """How many sessions currently hold a trained model (memory held by finished sessions shows here)."""
    with _live_lock:
        return sum(1 for w in list(_live.values()) if w.trained is not None)


def training_sessions() -> int:
    """How many sessions are training right now."""
    with _live_lock:
        return sum(1 for w in list(_live.values()) if w.running)


# ----- pretrained models ----------------------------------------------------------------------


# ----- sampling -------------------------------------------------------------------------------


def text_stream(generation: Generation, prompt: str = "", every: float = 0.05) -> Iterator[str]:
    """The prompt plus the generated text so far, at most every ``every`` seconds, and once complete."""
    text, last, pieces = prompt, time.monotonic(), iter(generation)
    while True:
        with _turn():  # one token
            piece = next(pieces, None)
        if piece is None:
            break
        text += piece
        if time.monotonic() - last >= every:
            last = time.monotonic()
            yield text
    yield text


def seed_or_random(seed: float | None) -> int | None:
    """A negative or missing seed means "pick one at random" (the generation reports which)."""
    if seed is None or seed < 0:
        return None
    if float(seed) != int(seed):
        raise UserError(f"the seed must be a whole number, got {seed}")
    return int(seed)
