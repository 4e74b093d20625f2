"""The web app: pick LSTM or GRU, upload a corpus, train with a live loss plot, stop, and sample.

``python app.py`` serves on 127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change
that), offline. Limits and endpoints come from ``RNN_DEMO_*`` environment variables (see
:class:`rnn_demo.app_settings.AppSettings`). This file only builds the UI and wires events: every bit of
logic is a call into ``rnn_demo``. Public API endpoints (``gradio_client``): ``/train``,
``/generate``, ``/look_inside``, ``/summarize``, ``/load_model``, ``/models``, ``/push``.
"""

import spaces  # noqa: I001  — first: on ZeroGPU it must come before anything initializes CUDA

import functools
import html
import importlib
import inspect
import math
from types import ModuleType

import gradio as gr
import pandas as pd

from rnn_demo.app_settings import NOT_READ, NOT_TRAINED, TRAINED, AppSettings
from rnn_demo.catalog import ModelShelf, describe_architecture
from rnn_demo.config import MAX_LENGTH, MAX_LR, WORD_LANGUAGES, TrainConfig
from rnn_demo.data import SUFFIXES, read_corpus
from rnn_demo.errors import UserError
from rnn_demo import signals
from rnn_demo.overfitting import AUTOMATIC_RULE


class Deferred:
    """A module imported at its first use, by whichever thread gets there first (``import_module``
    holds the import lock). The page is built from torch-free modules only; these three import torch,
    a third of the app's start-up on 2 cores, with the first request that summarizes an upload,
    trains, samples or opens a model."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str):
        module: ModuleType = importlib.import_module(self.name)
        return getattr(module, attribute)


session = Deferred("rnn_demo.session")
summaries = Deferred("rnn_demo.summary")
sampling = Deferred("rnn_demo.generate")
inside = Deferred("rnn_demo.inside")


def train_events(text: str, config: TrainConfig, source: dict):
    """One run's events (:func:`rnn_demo.session.train_events`); on ZeroGPU, in the GPU worker."""
    yield from session.train_events(text, config, source)


def gpu_duration(text: str, config: TrainConfig, *args, **kwargs) -> int:
    """The seconds of GPU a ZeroGPU run asks for (:func:`rnn_demo.session.gpu_duration`)."""
    return session.gpu_duration(text, config, *args, **kwargs)


# On ZeroGPU each run borrows a GPU for its budget plus overhead; elsewhere this is the function itself.
train_on_device = spaces.GPU(duration=gpu_duration)(train_events)
ON_ZERO_GPU = train_on_device is not train_events


def settings_from_env() -> AppSettings:
    """This deployment's limits; on ZeroGPU training runs on a GPU, so the GPU defaults apply."""
    return AppSettings.from_env(gpu=ON_ZERO_GPU or None)


PLOT_COLUMNS = ["step", "loss", "series"]


SERIES = {"training": "#2563eb", "validation": "#ea580c"}
EMPTY_PLOT_STEPS = 100


def loss_frame(rows: list[dict]) -> pd.DataFrame:
    """The loss plot's data: numeric step and loss columns even when empty (else the axes turn categorical),
    and a blank (NaN, not drawn) row for each series without points yet: the browser fixes the colour of
    each series when it first draws the chart, from the series present then. Before any point, the blanks
    span steps 0 to EMPTY_PLOT_STEPS, so the empty chart shows a step axis, not one lone tick at 0."""
    present = {row["series"] for row in rows}
    steps = (0,) if rows else (0, EMPTY_PLOT_STEPS)
    blanks = [{"step": step, "loss": float("nan"), "series": name} for name in SERIES if name not in present for step in steps]
    frame = pd.DataFrame([*blanks, *rows], columns=PLOT_COLUMNS)
    return frame.astype({"step": "int64", "loss": "float64", "series": "str"})

TRAIN_FIELDS = [
    "cell", "tokenizer", "lang", "seconds", "hidden_size", "num_layers", "embedding_size",
    "dropout", "seq_len", "batch_size", "lr", "lr_schedule", "seed",
]  # fmt: skip

INTRO = """
# Recurrent networks that write: train an LSTM or a GRU in your browser

A recurrent network reads text one character (or word) at a time. It carries a *hidden state* — its memory of
what it has read so far — and learns to predict what comes next. **① Upload** any text and **train** it for a
minute while the loss falls, **② generate**: the network writes new text in the style of yours, then **③ look
inside** it as it reads: where it is surprised, and what its gates do.
"""
HOW_IT_WORKS = f"""
- **LSTM or GRU?** Both are recurrent cells with *gates* that decide what to keep in memory. The LSTM has a
  separate memory cell and four gates (forget, input, candidate, output); the GRU merges them into two
  (reset, update) and is a little cheaper. On small texts they learn about equally fast.
- **Loss** is the average surprise of the model at each next token (in nats, the natural-log unit). Guessing
  blindly among *V* tokens scores ln *V*. For English characters, below ~2 words appear, below ~1.6 spelling
  and rhythm look right.
- **Training vs validation**: the model learns from the first 90 % of your text; the last 10 % is only used to
  measure it. When the validation loss stops falling while the training loss keeps falling, the model has
  started to memorise. The app keeps the weights with the best validation loss, and says when that happened.
  *Dropout* (Advanced) zeroes a share of the signals while training, so no single path can store the text:
  it helps when the budget reads a short text many times, and slows learning on a long one. At -1 (the
  default on a CPU), it is chosen for you that way: {AUTOMATIC_RULE}.
- **Gates** are numbers from 0 (shut) to 1 (open), one per memory unit, recomputed at every token from that
  token and the hidden state. Watch them in ③: in the pretrained shakespeare-lstm, the forget gate of unit
  149 of layer 1 shuts at every space and line break (it forgets the word just read), and that of unit 344
  of layer 2 only at a line break and the letter after it (it forgets the line) — type `1:149` or `2:344`
  under *Which memory unit*.
  Coloured by surprise, the text shows where in a word the model is still guessing and where it knows the rest.
- **Temperature** divides the model's scores before sampling: 0 always picks the likeliest token (repetitive),
  1 samples the model's own probabilities, above 1 gets wild. **Top-k** and **top-p** cut off unlikely tokens.
  The same **seed** with the same settings gives the same text.
"""
# ③'s two fields before any reading (and again when another model is chosen): the signals of both
# cells, and no unit to choose while the colour is surprise.
SIGNAL_AFRESH = {"choices": signals.signal_choices(), "value": signals.SURPRISE, "info": "Surprise, or a gate or state of the model's cell."}
UNIT_AFRESH = {"choices": [("—", signals.MEAN)], "value": signals.MEAN, "interactive": False}
# The dropout field's "automatic" (TrainConfig's None): a number, as the seed's -1 is, since gradio's
# number field turns an empty value into 0 as soon as it is drawn.
AUTOMATIC = -1
AUTOMATIC_DROPOUT = f"-1 = automatic: {AUTOMATIC_RULE}"
OR_PRETRAINED = ", or pick a pretrained model"  # what else Generate can do without a model of yours
NO_CORPUS = "Upload a `.txt`, `.md` or `.csv` (with a `text` column) file, in any common encoding. Tip: a few hundred KB of text from one author trains well in a minute."
CSS = """
.status-box { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 14px !important; min-height: 4.5em; }
.samples textarea { font-family: var(--font-mono); font-size: 0.85em; }
.generated textarea { font-family: var(--font-mono); }
/* Vega lays the chart out once, for its first labels: a long run's slanted step labels ("1,200,000")
   reach ~25 px further down, pushing the legend below the drawing, into this strip. */
.loss-plot svg.marks { overflow: visible; }
.loss-plot { padding-bottom: 28px !important; }
/* Likewise the y labels, absent from the empty chart: when they appear they push the y title left of
   the drawing, where the block's edge cut it in half. This margin holds it (labels up to "10.0"). */
.loss-plot .vega-embed { margin-left: 28px; width: calc(100% - 28px) !important; }
/* The text a model read, as text: gradio lays the tokens out as padded chips in a flex box, which
   spaces out every character and ignores line breaks. Inline and unpadded instead; the blank text
   nodes between gradio's spans take no room (font-size 0); each token's own text keeps its size, and
   takes its colour from the token around it, whose zero-size box would show none. */
.reading .textfield { display: block !important; font-size: 0; word-break: normal !important; white-space: nowrap; }
.reading .token-container, .reading .token { display: inline; font-size: 0; white-space: nowrap; }
.reading .token.highlighted { margin: 0 !important; padding: 0 !important; border-radius: 0 !important; }
.reading .text { font-family: var(--font-mono); font-size: var(--text-md); line-height: 1.6; background-color: inherit; }
/* Lines wrap only after a space (or between CJK characters): Chrome wraps after any token whose text
   may wrap (gradio's pre-wrap), inside words ("win|dow"). The others are marked (KEEP_WORDS_WHOLE). */
.reading .text[data-keep] { white-space: pre; }
"""
# Marks the tokens of the text read that no line may wrap after (data-keep, see CSS): all but those
# ending in whitespace (a space; a word token with its space) and CJK characters. CSS cannot tell
# gradio's token spans apart by their text. Re-marked whenever the page changes; without it, lines
# wrap after any token, as before.
KEEP_WORDS_WHOLE = r"""
() => {
  const wraps = /\s$|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;
  let queued = false;
  const mark = () => {
    queued = false;
    for (const text of document.querySelectorAll('.reading .text')) {
      text.toggleAttribute('data-keep', !wraps.test(text.textContent));
    }
  };
  new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(mark); } })
    .observe(document.body, { subtree: true, childList: true, characterData: true });
}
"""


# The core names settings as TrainConfig, the CLI and generate.py do: the app says them with its own
# labels, and leaves out the remedies it has no field for (the held-out share, the gradient clip).
FIELD_LABELS = {"prompt": "Prompt (the model continues it)", "length": "Length (tokens)", "temperature": "Temperature", "top-k": "Top-k", "top-p": "Top-p"}
APP_PHRASES = {
    "upload more text or raise the validation fraction": "upload more text (the last 10 % of it is held out to measure the model)",
    "lower the sequence length": "lower Window (tokens) under Advanced",
    "(hidden size, layers, embedding size, batch size or sequence length) or give it more time": (
        "(Hidden size, Layers, Embedding size, Batch size or Window, under Advanced) or raise the Time budget"
    ),
    "lower the learning rate": "lower the Learning rate (Adam) under Advanced",
    " or the gradient clip": "",
}


def in_app_terms(message: str) -> str:
    """A core message in the app's words: "temperature must …" → "Temperature: must …", and remedies
    that name settings the app labels differently, or doesn't have."""
    name, _, rest = message.partition(" must ")
    if name in FIELD_LABELS:
        message = f"{FIELD_LABELS[name]}: must {rest}"
    for core, ours in APP_PHRASES.items():
        message = message.replace(core, ours)
    return message


def user_errors(fn):
    """A :class:`UserError` becomes a ``gr.Error`` with its message in the app's words, no traceback;
    the app keeps serving."""

    def to_gradio(error: UserError) -> gr.Error:
        # The modal renders HTML: escape file names and other user-given text.
        return gr.Error(html.escape(in_app_terms(str(error)), quote=False), print_exception=False)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except UserError as error:
                raise to_gradio(error) from None

        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as error:
            raise to_gradio(error) from None

    return call


def _named_errors(component):
    """Make an input's refusal of a value (out of range; not one of the choices) name the field
    ("Temperature: Value -1 is less than minimum value 0.0.") and be a user error, not a logged
    traceback; gradio's own omits the field. And make None its default (a slider compared it).
    Patched on the instance: subclassing a gradio component writes a .pyi stub beside this file."""
    check = component.preprocess

    def preprocess(payload):
        if payload is None:  # a script's None (or a field it leaves out) means the field's default
            payload = component.value
        try:
            _refuse_what_gradio_passes(component, payload)
            return check(payload)
        except gr.Error as error:
            raise gr.Error(f"{component.label}: {error.message}", print_exception=False) from None

    component.preprocess = preprocess
    if getattr(component, "data_model", None) is not None:  # a file field
        component.data_model = _file_data_named(component.data_model, component.label)
    return component


def _file_data_named(data_model: type, label: str) -> type:
    """A file field's payload is validated before its preprocess runs: a script that sends a path as
    a plain string (``"poems.txt"`` rather than ``handle_file("poems.txt")``) got gradio's generic
    error and a logged traceback. Same model and name (gradio_client finds files by it), clear refusal."""

    def model_validate(cls, payload, **kwargs):
        try:
            return data_model.model_validate(payload, **kwargs)
        except ValueError:  # pydantic's ValidationError
            raise gr.Error(
                f"{label}: send a file, got {payload!r} (from gradio_client: handle_file(path))", print_exception=False
            ) from None

    return type(data_model.__name__, (data_model,), {"model_validate": classmethod(model_validate), "__module__": data_model.__module__})


def _refuse_what_gradio_passes(component: gr.components.Component, payload: object) -> None:
    """NaN passes gradio's bounds (every comparison with it is false), and a whole-number field
    (``precision=0``) silently rounds 2.5 to 2: a script sending either is told so instead. A script's
    text for a number ("abc") failed inside gradio's bounds check with a logged traceback."""
    if isinstance(component, (gr.Number, gr.Slider)) and not isinstance(payload, (int, float)):
        raise gr.Error(f"must be a number, got {payload!r}")
    if not isinstance(payload, float):
        return
    if not math.isfinite(payload):
        raise gr.Error(f"must be a finite number, got {payload}")
    if getattr(component, "precision", None) == 0 and not payload.is_integer():
        raise gr.Error(f"must be a whole number, got {payload:g}")


def language_choices() -> tuple[list[tuple[str, str]], str]:
    """The word tokenizer's languages as short choices ("zh: Chinese") and a line saying what the
    special ones do: the whole description, as a choice, was cut off in the closed menu."""
    named = {code: what.partition(": ") for code, what in WORD_LANGUAGES.items()}
    choices = [(f"{code}: {name}", code) for code, (name, _, _) in named.items()]
    return choices, " · ".join(f"{code}: {how}" for code, (_, _, how) in named.items() if how)


def loss_plot(frame: pd.DataFrame) -> gr.LinePlot:
    """The loss chart. Its step labels are slanted: upright, Vega-Lite packs them edge to edge, and the
    last one (flush with the axis end) ran into the one before ("11,00012,000"); gradio offers no tick
    count or label spacing to set. The ``loss-plot`` class gives slanted labels room to grow (CSS)."""
    return gr.LinePlot(
        frame, x="step", y="loss", color="series", color_map=SERIES, x_label_angle=-40, elem_classes="loss-plot",
        x_title="training step", y_title="loss (nats per token)", color_title="", label="Loss (lower is better)",
    )  # fmt: skip


def waiting(settings: AppSettings) -> str:
    """The status of a run queued behind other sessions' trainings."""
    runs = "one run" if settings.train_concurrency == 1 else f"{settings.train_concurrency} runs"
    return (
        f"**Waiting for a free training slot…** This server trains {runs} at a time, and other sessions are "
        "using it: yours starts as soon as one ends. **Stop** takes it off the queue."
    )


NOT_STARTED = "■ **Not started:** taken off the queue by Stop, or refused (an error message then says why)."


def Slider(*args, **kwargs) -> gr.Slider:  # noqa: N802 — reads like the component it builds
    return _named_errors(gr.Slider(*args, **kwargs))


def Number(*args, **kwargs) -> gr.Number:  # noqa: N802
    return _named_errors(gr.Number(*args, **kwargs))


def Radio(*args, **kwargs) -> gr.Radio:  # noqa: N802
    return _named_errors(gr.Radio(*args, **kwargs))


def Dropdown(*args, **kwargs) -> gr.Dropdown:  # noqa: N802
    return _named_errors(gr.Dropdown(*args, **kwargs))


def build_demo(settings: AppSettings | None = None) -> gr.Blocks:
    """The whole app; ``settings`` default to the ``RNN_DEMO_*`` environment variables."""
    settings = settings or settings_from_env()
    defaults = settings.defaults()  # the benchmarked ones for this CPU or GPU: the UI shows these, never its own
    shelf = ModelShelf(settings)
    pretrained = shelf.names()
    model_choices = [("My model (trained above)", TRAINED), *[(name, name) for name in pretrained]]
    waiting_status = waiting(settings)

    # ----- handlers: each one a thin call into rnn_demo ----------------------------------------
    # ``workspace`` (a session.Workspace, or None before the session's first run) has no type hint:
    # gradio reads the handlers' hints while the page is built, and naming that class imports torch.

    def config_from(fields: dict) -> TrainConfig:
        given = {name: fields[name] for name in TRAIN_FIELDS}
        if given["dropout"] is not None and given["dropout"] < 0:  # AUTOMATIC, or on its way up from it to 0
            given["dropout"] = None  # the default: automatic on a CPU
        return settings.train_config(**given)

    @user_errors
    def summarize(corpus, cell, tokenizer, lang, seconds, hidden_size, num_layers, embedding_size, dropout, seq_len, batch_size, lr, lr_schedule, seed):
        if not corpus:
            return NO_CORPUS
        # On ZeroGPU this process must not touch CUDA: the GPU exists only inside the training call.
        device = "a ZeroGPU GPU, borrowed for each run" if ON_ZERO_GPU else None
        return summaries.summarize_corpus(corpus, config_from(locals()), max_bytes=settings.max_bytes, device=device).markdown()

    @user_errors
    def train(
        corpus, cell, tokenizer, lang, seconds, hidden_size, num_layers, embedding_size, dropout, seq_len, batch_size, lr, lr_schedule, seed,
        workspace, request: gr.Request,
    ):  # fmt: skip
        if not corpus:
            raise UserError("upload a corpus first: a .txt, .md or .csv file")
        config = config_from(locals())
        text = read_corpus(corpus, max_bytes=settings.max_bytes)
        ws = workspace if workspace is not None else session.Workspace(request.session_hash)
        source = {"name": text.name, "size_bytes": text.size_bytes, "encoding": text.encoding}
        view = session.RunView(config, text.name, previous=ws.trained)
        stop = ws.start_run()  # refused while this session trains already; from here on, the finally below ends it
        ws.last_run, outcome = view, "stopped"
        if ON_ZERO_GPU:  # a forked worker: only its yields come back
            events = train_on_device(text.text, config, source)
        else:
            events = session.train_events(text.text, config, source, on_stop=ws.keep, stop=stop)
        try:
            yield view.status, loss_frame([]), view.samples_text, ws
            for event in events:
                view.update(event)
                if event.model is not None:
                    ws.keep(event.model)
                yield view.status, loss_frame(view.rows), view.samples_text, ws
            outcome = "done" if view.progress.get("done") else "stopped"
            if outcome == "stopped":  # by /stop: the script's /train stream ends saying so
                yield view.stopped_status(ws.trained), loss_frame(view.rows), view.samples_text, ws
        except Exception as error:
            reason = getattr(error, "message", None) or (in_app_terms(str(error)) if isinstance(error, UserError) else "an internal error")
            outcome = f"{view.headline}\n\n✗ **Training failed:** {html.escape(str(reason), quote=False)}"
            raise
        finally:
            events.close()  # a stopped run hands over its best weights (train_events' on_stop)
            ws.running = False
            ws.last_status = {"done": view.status, "stopped": view.stopped_status(ws.trained)}.get(outcome, outcome)

    @user_errors
    def finish(workspace, repo_id: str, shown: str):
        """After a run ends, fails or is stopped: the final status, plot and samples at once (a stopped
        run's last update is dropped with its cancelled event), the model selected and described
        (selecting it again fires no change event, so the description is sent along). A run that never
        left the queue (Stop cancels it, and gradio then reports a failure too) says so."""
        if workspace is not None:
            workspace.wait_idle()
        last = workspace.last_status if workspace is not None else ""
        status = last or (NOT_STARTED if shown == waiting_status else gr.skip())
        run = workspace.last_run if workspace is not None else None
        shown_run = (loss_frame(run.rows), run.samples_text) if run is not None else (gr.skip(), gr.skip())
        if workspace is None or workspace.trained is None:
            return status, gr.skip(), gr.skip(), gr.Button(interactive=False), *shown_run
        info = load_model(TRAINED, repo_id, workspace) if not (repo_id or "").strip() else gr.skip()
        return status, gr.Dropdown(value=TRAINED), info, gr.Button(interactive=False), *shown_run

    @user_errors
    def offer_download(workspace):
        """Then the download: saving a big model with its card's samples takes seconds. Train again
        only after it, so the button never offers the last model while a new one trains."""
        if workspace is None or workspace.trained is None:
            return gr.DownloadButton(visible=False), gr.Button(interactive=True)
        archive = workspace.checkpoint_zip()
        return gr.DownloadButton(f"↓ Download {archive.name}", value=str(archive), visible=True), gr.Button(interactive=True)

    @user_errors
    def download(workspace) -> str:
        """The model this session trained, as a zipped checkpoint folder (scripts: ``/download``)."""
        if workspace is None:
            raise UserError(NOT_TRAINED)
        workspace.wait_idle()
        return str(workspace.checkpoint_zip())

    def resolve(model: str, repo_id: str, workspace):
        if (repo_id or "").strip():
            return shelf.open(repo_id)
        if model == TRAINED:
            if workspace is None:
                raise UserError(NOT_TRAINED + OR_PRETRAINED)
            trained = workspace.require_model(remedy=OR_PRETRAINED)
            return trained.model(), f"this session ({trained.title})"
        return shelf.open(model)

    @user_errors
    def load_model(model, repo_id, workspace):
        """Which model, and from where: read from its config.json (no torch until the first generation)."""
        if (repo_id or "").strip():
            return shelf.describe_model(repo_id)
        if model != TRAINED:
            return shelf.describe_model(model)
        trained = workspace.trained if workspace is not None else None
        if trained is None:
            return "No model trained in this session yet: train one above. It appears here at its first validation."
        return describe_architecture(trained.architecture, f"this session ({trained.title})")

    @user_errors
    def generate(model, repo_id, prompt, length, temperature, top_k, top_p, seed, workspace, request: gr.Request):
        lm, origin = resolve(model, repo_id, workspace)
        generation = sampling.Generation(
            lm, prompt or "", length=length, temperature=float(temperature), top_k=top_k, top_p=float(top_p),
            seed=session.seed_or_random(seed),
        )  # fmt: skip
        ws = workspace if workspace is not None else session.Workspace(request.session_hash)
        note = f"Model: {origin} · seed **{generation.seed}** (the same seed and settings give the same text)"
        if generation.unknown:
            skipped = " ".join(repr(p) for p in generation.unknown[:20])
            note += f" · not in the model's vocabulary (skipped, or read as `<unk>`): {html.escape(skipped, quote=False)}"
        ws.last_generation = note
        for text in session.text_stream(generation, prompt or ""):
            yield text, ws

    @user_errors
    def look_inside(model, repo_id, text, generated, signal, unit, workspace, request: gr.Request):
        """The selected model reads the text (or, with none typed, the generated one): each token coloured."""
        lm, origin = resolve(model, repo_id, workspace)
        text = text if (text or "").strip() else (generated or "")
        if not text.strip():
            raise UserError("nothing to read: type a text in the box, or generate one above")
        ws = workspace if workspace is not None else session.Workspace(request.session_hash)
        shown = inside.view(ws.reading(lm, text), signal, unit, origin)
        return (
            shown.highlights, gr.Dropdown(shown.signal_choices, value=shown.signal, info=f"Surprise, or a gate or state of this {shown.cell}."),
            gr.Dropdown(shown.unit_choices, value=shown.unit, interactive=shown.signal != signals.SURPRISE),
            shown.note + "\n\n*Click a token to see what the model expected there.*", "", ws,
        )  # fmt: skip

    def look_afresh():
        """Another model chosen: ③ as before any reading (the last model's gates and units may not
        exist in this one, and its colours are not this model's)."""
        return None, gr.Dropdown(**SIGNAL_AFRESH), gr.Dropdown(**UNIT_AFRESH), "", ""

    @user_errors
    def token_note(workspace, evt: gr.SelectData):
        """A click on a token: the chance the model gave it, and what it expected instead."""
        if workspace is None:
            raise UserError(NOT_READ)
        return workspace.last_reading.token_note(evt.index)

    def starting():
        """Train pressed: Stop instead of Train, no download of the model being replaced; and when every
        training slot is taken, a status saying the run waits (gradio draws its place in the queue on the plot)."""
        busy = session.training_sessions() >= settings.train_concurrency
        return gr.Button(interactive=False), gr.Button(interactive=True), gr.DownloadButton(visible=False), waiting_status if busy else gr.skip()

    def stop(request: gr.Request):
        """Stop this session's run within a time step of its recurrence (scripts: ``/stop``)."""
        session.stop_session(request.session_hash)

    def release_workspace(workspace):
        """A session's state expired: free its model."""
        session.release(workspace)

    def release_on_close(request: gr.Request):
        """The tab was closed: free its model now rather than when its state expires."""
        session.release_session(request.session_hash)

    def generation_note(workspace):
        return workspace.last_generation if workspace is not None else ""

    @user_errors
    def push(repo_id, token, private, workspace):
        if workspace is None:
            raise UserError(NOT_TRAINED)
        url = workspace.push(repo_id, token, private=bool(private), endpoint=settings.hub_endpoint)
        return f"✓ Pushed to {url} — the token was used for this upload only, and has been cleared.", ""

    # ----- layout ----------------------------------------------------------------------------

    with gr.Blocks(title="RNN demo: train an LSTM or GRU", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        state = gr.State(None, time_to_live=settings.session_ttl, delete_callback=release_workspace)
        gr.Markdown(INTRO)
        with gr.Accordion("How it works (a two-minute read)", open=False):
            gr.Markdown(HOW_IT_WORKS)

        gr.Markdown("## ① Upload a text and train")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                corpus = _named_errors(gr.File(label="Your corpus (.txt, .md, .csv)", file_types=list(SUFFIXES), type="filepath", height=120))
                summary = gr.Markdown(NO_CORPUS, label="Corpus summary")
                with gr.Row():
                    cell = Radio(["lstm", "gru"], value=defaults.cell, label="Cell", info="LSTM: 4 gates and a memory cell. GRU: 2 gates, a bit cheaper.")
                    tokenizer = Radio(["char", "word"], value=defaults.tokenizer, label="Tokens", info="Characters learn spelling; words need more text.")
                languages, special = language_choices()
                lang = Dropdown(
                    languages, value=defaults.lang, label="Language (for word tokens)", info=special,
                    visible=defaults.tokenizer == "word",
                )  # fmt: skip
                seconds = Slider(
                    5, settings.max_seconds, value=min(defaults.seconds or 60, settings.max_seconds), step=1,
                    label="Time budget (seconds)", info="Training stops here, or when you press Stop.",
                )  # fmt: skip
                with gr.Accordion("Advanced: model size and optimizer (the defaults learn fastest in a brief run)", open=False):
                    gr.Markdown(
                        "*Hidden size*: memory units per layer. *Window*: how many steps the gradient flows back "
                        "through. *Dropout*: the share of the embeddings and of each layer's outputs zeroed while "
                        "training. The same *seed* gives the same starting weights; "
                        "the learning rate decays with the clock (cosine over the budget), so two timed runs differ slightly."
                    )
                    with gr.Row():
                        hidden_size = Number(defaults.hidden_size, label="Hidden size", minimum=1, maximum=2048, precision=0)
                        num_layers = Number(defaults.num_layers, label="Layers", minimum=1, maximum=6, precision=0)
                    with gr.Row():
                        embedding_size = Number(defaults.embedding_size, label="Embedding size", minimum=1, maximum=1024, precision=0)
                        seq_len = Number(defaults.seq_len, label="Window (tokens)", minimum=2, maximum=1024, precision=0)
                    with gr.Row():
                        batch_size = Number(defaults.batch_size, label="Batch size", minimum=1, maximum=1024, precision=0)
                        lr = Number(defaults.lr, label="Learning rate (Adam)", minimum=1e-6, maximum=MAX_LR, step=0.001)
                        lr_schedule = Radio(
                            [("cosine decay", "cosine"), ("constant", "constant")], value=defaults.lr_schedule,
                            label="Learning-rate schedule", info="Decaying over the budget wins from ~30 s on; constant, in shorter runs.",
                        )  # fmt: skip
                    with gr.Row():
                        dropout = Number(
                            AUTOMATIC if defaults.dropout is None else defaults.dropout, label="Dropout", minimum=AUTOMATIC,
                            maximum=0.9, step=0.05, info=AUTOMATIC_DROPOUT if defaults.dropout is None else None,
                        )  # fmt: skip
                        train_seed = Number(defaults.seed, label="Seed", minimum=0, maximum=2**31 - 1, precision=0)
                with gr.Row():
                    train_btn = gr.Button("▶ Train", variant="primary")
                    stop_btn = gr.Button("■ Stop", variant="stop", interactive=False)
            with gr.Column(scale=3, min_width=420):
                status = gr.Markdown(
                    "Upload a text, then press **Train**. The loss curve and samples appear here as it learns.",
                    label="Status", elem_classes="status-box",
                )
                plot = loss_plot(loss_frame([]))
                samples = gr.Textbox(
                    "A sample appears here at each validation: watch the text get better.",
                    label="What the model writes at each validation (newest first)", lines=10, max_lines=10,
                    interactive=False, autoscroll=False, elem_classes="samples",
                )  # fmt: skip
                with gr.Row():
                    download_btn = gr.DownloadButton("↓ Download the model (.zip)", visible=False, variant="secondary")
                with gr.Accordion("Share your model on the Hugging Face Hub", open=False):
                    gr.Markdown("Paste a token with *write* access ([create one](https://huggingface.co/settings/tokens)). It is used for this one upload and never stored or logged.")
                    with gr.Row():
                        push_repo = gr.Textbox("", label="Repo id", placeholder="your-name/my-first-lstm")
                        push_token = gr.Textbox("", label="Access token", type="password", placeholder="hf_…")
                    push_private = gr.Checkbox(label="Private repo", value=False)
                    push_btn = gr.Button("Push to the Hub")
                    push_status = gr.Markdown(label="Push result")

        gr.Markdown("## ② Generate text")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                model = Dropdown(
                    model_choices, value=pretrained[0] if pretrained else TRAINED, label="Model",
                    info="yours, once trained, or a pretrained one",
                )  # fmt: skip
                repo_id = gr.Textbox("", label="…or any compatible Hub repo id", placeholder="owner/name (leave empty to use the model above)")
                model_info = gr.Markdown(label="Model info")
                prompt = gr.Textbox("", label="Prompt (the model continues it)", placeholder="e.g. ROMEO:", lines=2)
                length = Slider(1, MAX_LENGTH, value=500, step=1, precision=0, label="Length (tokens)")
                temperature = Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature", info="0 = always the likeliest token; higher = more surprising")
                with gr.Row():
                    top_k = Slider(0, 200, value=0, step=1, precision=0, label="Top-k", info="0 = off")
                    top_p = Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", info="1 = off")
                gen_seed = Number(-1, label="Seed", precision=0, minimum=-1, maximum=2**31 - 1, info="-1 = a new random seed each time")
                generate_btn = gr.Button("Generate", variant="primary")
            with gr.Column(scale=3, min_width=420):
                output = gr.Textbox("", label="Generated text", lines=18, max_lines=30, interactive=False, elem_classes="generated", buttons=["copy"])
                gen_note = gr.Markdown(label="Generation note")

        gr.Markdown("## ③ Look inside: what the model expects, and what its gates do")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                gr.Markdown(
                    "The model chosen in ② reads a text one token at a time, as it does when it writes. Colour each "
                    "token by how surprised the model was by it, or by what one of its gates decided there."
                )
                look_text = gr.Textbox("", label="Text to read", placeholder="Leave empty to read the generated text above", lines=4)
                look_signal = Dropdown(**SIGNAL_AFRESH, label="Colour each token by")
                look_unit = Dropdown(
                    **UNIT_AFRESH, label="Which memory unit", allow_custom_value=True,
                    info="Their mean, or one of the units that change most on this text (or type layer:unit, e.g. 1:17).",
                )  # fmt: skip
                look_btn = gr.Button("Read it", variant="primary")
            with gr.Column(scale=3, min_width=420):
                look_view = gr.HighlightedText(label="The text as the model read it", show_legend=False, interactive=False, elem_classes="reading")
                look_note = gr.Markdown(label="How to read the colours")
                look_token = gr.Markdown(label="The token clicked")

        models_json = gr.JSON(visible=False, label="Models")
        model_zip = gr.File(visible=False, label="Model checkpoint (.zip)")  # what /download returns

        # ----- events ----------------------------------------------------------------------------

        train_inputs = [corpus, cell, tokenizer, lang, seconds, hidden_size, num_layers, embedding_size, dropout, seq_len, batch_size, lr, lr_schedule, train_seed]
        # First: the browser sends a trigger's events in the order they were registered, and one waits
        # for the one before it to finish, so after the summary this appeared with it (3.4 s for 2.6 MB).
        tokenizer.change(lambda t: gr.Dropdown(visible=t == "word"), tokenizer, lang, api_visibility="private", queue=False)
        # One event for every field: a session then runs one summary at a time, each with the latest
        # values. One event per field ran them side by side, and a slow one (a new shape to time) could
        # land after a quick later one and show settings no longer in the fields.
        summary_triggers = (corpus, cell, tokenizer, lang, seconds, hidden_size, num_layers, embedding_size, dropout, seq_len, batch_size)
        gr.on(
            [field.change for field in summary_triggers], summarize, train_inputs, summary, api_name="summarize",
            show_progress="minimal", trigger_mode="always_last",
        )  # fmt: skip

        started = train_btn.click(
            starting, None, [train_btn, stop_btn, download_btn, status], api_visibility="private", queue=False,
        )  # fmt: skip
        # The queue position ("queue: 1/1 | 12.3s") shows over the empty plot: on the status, a Markdown,
        # gradio drew it in a zero-height box, out of sight; the status says in words that the run waits.
        training = started.then(
            train, [*train_inputs, state], [status, plot, samples, state], api_name="train", show_progress="full",
            show_progress_on=[plot], concurrency_limit=settings.train_concurrency, concurrency_id="train",
        )  # fmt: skip
        stopped = stop_btn.click(stop, None, None, cancels=[training], queue=False, api_name="stop")
        for after in (training.then, training.failure, stopped.then):  # gradio 6.31 runs .then only after success
            after(finish, [state, repo_id, status], [status, model, model_info, stop_btn, plot, samples], api_visibility="private").then(
                offer_download, state, [download_btn, train_btn], api_visibility="private"
            )

        model_inputs = [model, repo_id, state]
        model.change(load_model, model_inputs, model_info, api_name="load_model", show_progress="minimal")
        repo_id.submit(load_model, model_inputs, model_info, api_visibility="private", show_progress="minimal")
        generate_inputs = [model, repo_id, prompt, length, temperature, top_k, top_p, gen_seed, state]
        generating = generate_btn.click(
            generate, generate_inputs, [output, state], api_name="generate",
            concurrency_limit=settings.generate_concurrency, concurrency_id="generate", show_progress="minimal",
        )  # fmt: skip
        prompt.submit(
            generate, generate_inputs, [output, state], api_visibility="private",
            concurrency_limit=settings.generate_concurrency, concurrency_id="generate", show_progress="minimal",
        ).success(generation_note, state, gen_note, api_visibility="private")  # fmt: skip
        generating.success(generation_note, state, gen_note, api_visibility="private")
        look_inputs = [model, repo_id, look_text, output, look_signal, look_unit, state]
        look_outputs = [look_view, look_signal, look_unit, look_note, look_token, state]
        look_btn.click(
            look_inside, look_inputs, look_outputs, api_name="look_inside", concurrency_limit=settings.generate_concurrency,
            concurrency_id="generate", show_progress="minimal",
        )  # fmt: skip
        gr.on(
            [look_signal.input, look_unit.input], look_inside, look_inputs, look_outputs, api_visibility="private",
            concurrency_limit=settings.generate_concurrency, concurrency_id="generate", show_progress="minimal", trigger_mode="always_last",
        )  # fmt: skip
        look_view.select(token_note, state, look_token, api_visibility="private", show_progress="hidden")
        gr.on([model.change, repo_id.submit], look_afresh, None, look_outputs[:-1], api_visibility="private", queue=False)
        push_btn.click(push, [push_repo, push_token, push_private, state], [push_status, push_token], api_name="push")
        download_btn.click(download, state, model_zip, api_name="download")  # the button downloads by itself; scripts call this

        demo.load(shelf.describe, None, models_json, api_name="models")
        demo.load(load_model, model_inputs, model_info, api_visibility="private")
        demo.unload(release_on_close)

    demo.queue(max_size=settings.queue_size)
    return demo


def launch_options(settings: AppSettings | None = None) -> dict:
    """What ``launch()`` needs besides the address: upload cap, look, no run history (it would keep tokens)."""
    settings = settings or settings_from_env()
    return dict(
        max_file_size=settings.max_bytes,
        theme=gr.themes.Soft(primary_hue="blue", secondary_hue="orange"),
        css=CSS,
        js=KEEP_WORDS_WHOLE,
        run_history=False,
        footer_links=["api", "gradio"],
    )


if __name__ == "__main__":
    app_settings = settings_from_env()
    build_demo(app_settings).launch(**launch_options(app_settings))
