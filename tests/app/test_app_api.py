"""The app through gradio_client, launched in-process: train, stop, generate, bad inputs, two sessions."""

from __future__ import annotations

import math
import re
import time
import zipfile

import gradio as gr
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import app
from rnn_demo import session
from rnn_demo.batches import fit_batch_size
from rnn_demo.catalog import open_model
from rnn_demo.config import GPU_DEFAULTS, MAX_LENGTH, TrainConfig
from rnn_demo.errors import UserError
from rnn_demo.generate import check_settings, generate_text
from rnn_demo.train import Trainer
from tests.app.conftest import SMALL, settings


def losses(plot: dict, series: str) -> list[float]:
    """The ``series`` losses of a LinePlot value as gradio_client returns it ({columns, data, ...})."""
    columns = plot["columns"]
    loss, kind = columns.index("loss"), columns.index("series")
    return [row[loss] for row in plot["data"] if row[kind] == series and row[loss] is not None]


def loss_read(note: str) -> float:
    """The loss a /look_inside note reports."""
    return float(re.search(r"its loss on this text: \*\*([0-9.]+) nats per token", note).group(1))


def test_train_streams_falling_loss_and_the_model_generates(client, corpus_file):
    job = client.submit(handle_file(str(corpus_file)), seconds=6, api_name="/train", **SMALL)
    updates = list(job)
    status, plot, samples = updates[-1]

    assert len(updates) >= 5, "training should stream several updates"
    training = losses(plot, "training")
    validation = losses(plot, "validation")
    assert len(training) >= 4 and len(validation) >= 3
    assert training[-1] < 0.7 * training[0], f"the loss should fall: {training}"
    # the validation curve starts at step 0 with the untrained model's loss, near ln(vocabulary)
    step, loss, kind = (plot["columns"].index(c) for c in ("step", "loss", "series"))
    assert min(r[step] for r in plot["data"] if r[kind] == "validation" and r[loss] is not None) == 0
    assert validation[0] > training[-1] + 0.5 and "Untrained, this one scores" in status
    assert "Done" in status and "english.txt" in status
    assert "validation loss" in samples and samples.strip()
    # 60 kB is a pass every ~0.5 s here: validated after each epoch too (at most once a second), without
    # samples; the app's own schedule had turned that off
    assert len(validation) >= samples.count("── step") + 2, (validation, samples.count("── step"))
    # the untrained model writes first (oldest at the bottom), shown before the first validation
    assert samples[samples.rindex("── step") :].startswith("── step 0 (untrained) · validation loss")
    assert any(u[2].count("── step") == 1 and "step 0 (untrained)" in u[2] for u in updates)
    # the plot grows: each update draws at least the points of the one before (blank rows aside)
    sizes = [len(losses(u[1], "training")) + len(losses(u[1], "validation")) for u in updates if u[1]]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]

    info = client.predict(model=session.TRAINED, repo_id="", api_name="/load_model")
    assert "this session" in info and "english.txt" in info
    text = client.predict(model=session.TRAINED, prompt="The ", length=80, seed=3, api_name="/generate")
    assert text.startswith("The ") and len(text) > 40
    # and it reads: a model that learned the corpus is less surprised by its text than by its letters reversed
    read = client.predict(model=session.TRAINED, text="The cat sees the dog.\n", api_name="/look_inside")[3]
    backwards = client.predict(model=session.TRAINED, text="The cat sees the dog.\n"[::-1], api_name="/look_inside")[3]
    assert "this session" in read and loss_read(read) < loss_read(backwards) - 0.5, (read, backwards)


def test_cancelling_stops_training_and_keeps_the_model(client, corpus_file, tmp_path):
    job = client.submit(handle_file(str(corpus_file)), seconds=20, api_name="/train", **SMALL)
    seen = 0
    for status, plot, _ in job:  # wait for a validation after the untrained model's, then stop
        seen += 1
        if plot and len(losses(plot, "validation")) >= 2:
            break
    assert session.training_sessions() == 1
    started = time.monotonic()
    job.cancel()
    assert seen < 60, "should have validated within a few seconds"
    while session.training_sessions() and time.monotonic() - started < 5:
        time.sleep(0.05)
    stopped_after = time.monotonic() - started
    print(f"stopped after {stopped_after:.2f} s")
    assert stopped_after < 2.0, f"Stop took {stopped_after:.1f} s to end training"

    # Stop keeps the model trained so far, and it generates.
    text = client.predict(model=session.TRAINED, prompt="A", length=60, seed=1, api_name="/generate")
    assert text.startswith("A") and len(text) > 30
    assert "this session" in client.predict(model=session.TRAINED, api_name="/load_model")

    # A script downloads it as the button does: a zipped checkpoint folder, safetensors and JSON.
    archive = client.predict(api_name="/download")
    with zipfile.ZipFile(archive) as zipped:
        names = {name.rsplit("/", 1)[-1] for name in zipped.namelist()}
        assert zipped.getinfo("model.safetensors").compress_type == zipfile.ZIP_STORED  # deflating weights: slow, ~9 %
        zipped.extractall(tmp_path / "unzipped")
    assert {"model.safetensors", "config.json", "README.md"} <= names
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl", ".ckpt")) for name in names)
    unzipped, _ = open_model(str(tmp_path / "unzipped"))  # the downloaded model is the session's
    served = client.predict(model=session.TRAINED, prompt="A", length=40, temperature=0, api_name="/generate")
    assert generate_text(unzipped, "A", length=40, temperature=0) == served


def test_stop_endpoint_ends_the_run_inside_its_step_and_the_stream_says_so(client, corpus_file):
    job = client.submit(handle_file(str(corpus_file)), seconds=20, api_name="/train", **SMALL)
    for status, plot, _ in job:  # wait for a validation after the untrained model's, then stop
        if plot and len(losses(plot, "validation")) >= 2:
            break
    started = time.monotonic()
    client.predict(api_name="/stop")  # a script's Stop button: same session, its own run
    while not job.done() and time.monotonic() - started < 10:
        time.sleep(0.05)
    print(f"/train ended {time.monotonic() - started:.2f} s after /stop")
    status, plot, samples = job.result()
    assert "■ **Stopped** at step" in status and "Done" not in status, status
    assert session.training_sessions() == 0
    text = client.predict(model=session.TRAINED, prompt="A", length=40, seed=1, api_name="/generate")
    assert text.startswith("A") and len(text) > 20


def test_generate_is_reproducible_with_a_seed(client):
    # Every parameter has a default: a bundled model writes 500 tokens.
    default = client.predict(api_name="/generate")
    assert isinstance(default, str) and len(default) >= 400

    first = client.predict(model="tiny-gru", prompt="The cat", length=120, temperature=1.0, top_k=20, top_p=0.95, seed=42, api_name="/generate")
    second = client.predict(model="tiny-gru", prompt="The cat", length=120, temperature=1.0, top_k=20, top_p=0.95, seed=42, api_name="/generate")
    other = client.predict(model="tiny-gru", prompt="The cat", length=120, temperature=1.0, top_k=20, top_p=0.95, seed=43, api_name="/generate")
    assert first == second
    assert first != other
    assert first.startswith("The cat")


def test_models_lists_the_bundled_lstm_and_gru(client):
    models = {m["name"]: m for m in client.predict(api_name="/models")}
    assert {"tiny-lstm", "tiny-gru"} <= set(models)
    assert "GRU" in client.predict(model="tiny-gru", api_name="/load_model")
    assert "bundled" in client.predict(model="tiny-lstm", api_name="/load_model")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bad")
    files = {
        "image.png": b"\x89PNG\r\n\x1a\n" + bytes(200),
        "image-renamed.txt": b"\x89PNG\r\n\x1a\n" + bytes(200),
        "empty.txt": b"",
        "blank.md": b"  \n\n \t\n",
        "short.txt": b"To be or not to be.\n",
        "tiny.txt": b"To be.\n",
        "table.csv": b"title,author\nHamlet,Shakespeare\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


BAD_TRAINING = [
    ("image.png", {}, r"^Your corpus \(\.txt, \.md, \.csv\): Invalid file type"),
    ("image-renamed.txt", {}, r"PNG image, not text"),
    ("empty.txt", {}, r"empty"),
    ("blank.md", {}, r"only whitespace"),
    ("short.txt", {}, r"too short: .* \(upload more text or lower Window \(tokens\) under Advanced\)$"),
    ("tiny.txt", {}, r"the validation part is too short: upload more text \(the last 10 % of it is held out"),
    ("table.csv", {}, r"'text' column"),
    (None, {"seconds": 0}, r"^Time budget \(seconds\): Value 0 is less than minimum"),
    (None, {"hidden_size": 0}, r"^Hidden size: Value 0 is less than minimum"),
    (None, {"hidden_size": 47.5}, r"^Hidden size: must be a whole number, got 47.5"),  # gradio rounded it to 48
    (None, {"seed": 1.5}, r"^Seed: must be a whole number, got 1.5"),
    (None, {"seconds": "abc"}, r"^Time budget \(seconds\): must be a number, got 'abc'"),  # failed inside gradio
    (None, {"lr": -1.0}, r"^Learning rate \(Adam\): Value -1.0 is less than minimum"),
    (None, {"lr_schedule": "weekly"}, r"^Learning-rate schedule: .*weekly.*not in the list of choices"),
    (None, {"cell": "rnn"}, r"^Cell: .*rnn.*not in the list of choices"),
    (None, {"num_layers": 6, "hidden_size": 2048, "embedding_size": 1024, "seq_len": 64, "batch_size": 256, "seconds": 5}, r"step of this model takes about .* too long for a 5\.0 s budget: .*\(Hidden size, Layers, Embedding size, Batch size or Window, under Advanced\) or raise the Time budget"),
]
BAD_GENERATION = [
    ({"temperature": -0.5}, r"^Temperature: Value -0.5 is less than minimum value 0"),
    ({"temperature": 0.0005}, r"^Temperature: must be 0 \(always the likeliest token\) or at least 0.001, got 0.0005"),
    ({"length": 2.5}, r"^Length \(tokens\): must be a whole number, got 2.5"),  # int() made it 2, silently
    ({"top_k": 2.5}, r"^Top-k: must be a whole number, got 2.5"),
    ({"seed": 1.5}, r"^Seed: must be a whole number, got 1.5"),
    ({"seed": "abc"}, r"^Seed: must be a number, got 'abc'"),  # gradio's bounds check failed on it, with a traceback
    ({"temperature": "hot"}, r"^Temperature: must be a number, got 'hot'"),
    ({"length": 0}, r"^Length \(tokens\): Value 0 is less than minimum"),
    ({"length": MAX_LENGTH + 1}, r"^Length \(tokens\): Value 10001 is greater than maximum"),
    ({"top_p": 0.0}, r"^Top-p: Value 0.0 is less than minimum"),
    ({"prompt": "To be " * 1000}, r"^Prompt \(the model continues it\): must be at most 5,000 characters, got 6,000"),  # primed for 88 s at 260k
    ({"model": "no-such-model"}, r"^Model: .*not in the list of choices"),
    ({"repo_id": "not a repo id"}, r"neither a pretrained model .* nor a Hub repo id"),
    ({"repo_id": "../../etc"}, r"neither a pretrained model .* nor a Hub repo id"),
    ({"repo_id": "x" * 300 + "/y"}, r"neither a pretrained model .* nor a Hub repo id"),  # too long for a path, too
    ({"repo_id": "someone/model.zip"}, r"'someone/model\.zip' is not a Hub repo id"),  # the CLI unpacks a .zip: never on the server
]


@pytest.mark.parametrize("name, fields, message", BAD_TRAINING, ids=[c[0] or next(iter(c[1])) for c in BAD_TRAINING])
def test_bad_training_input_is_a_clear_error_and_the_app_keeps_serving(client, bad_files, corpus_file, name, fields, message):
    corpus = bad_files[name] if name else corpus_file
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(corpus)), api_name="/train", **{**SMALL, **fields})
    # the summary refuses it the same way as soon as it is uploaded
    if name:
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(corpus)), api_name="/summarize")
    summary = client.predict(handle_file(str(corpus_file)), api_name="/summarize")
    assert "english.txt" in summary and "Vocabulary" in summary


@pytest.mark.parametrize("api_name", ["/train", "/summarize"])
def test_a_path_sent_as_plain_text_is_told_to_send_a_file(client, corpus_file, api_name):
    """gradio validated the payload before the field's own checks: a generic error and a logged traceback."""
    with pytest.raises(AppError, match=r"^Your corpus \(\.txt, \.md, \.csv\): send a file, got '.*english\.txt' \(from gradio_client: handle_file\(path\)\)"):
        client.predict(str(corpus_file), api_name=api_name)
    assert "english.txt" in client.predict(handle_file(str(corpus_file)), api_name="/summarize")


@pytest.mark.parametrize("fields, message", BAD_GENERATION, ids=[next(iter(c[0])) + "=" + str(next(iter(c[0].values()))) for c in BAD_GENERATION])
def test_bad_generation_input_is_a_clear_error_and_the_app_keeps_serving(client, fields, message):
    with pytest.raises(AppError, match=message):
        client.predict(**{"model": "tiny-lstm", "length": 20, **fields}, api_name="/generate")
    assert len(client.predict(model="tiny-lstm", length=20, seed=1, api_name="/generate")) == 20


def test_look_inside_colours_each_token_and_offers_the_cells_own_gates(client):
    text = "The cat sees the dog.\n"
    shown, signals, units, note, clicked = client.predict(model="tiny-lstm", text=text, api_name="/look_inside")
    assert [t["token"] for t in shown] == [*"The cat sees the dog.", "↵\n"] and clicked == ""
    assert all(0 <= t["class_or_confidence"] <= 1 for t in shown)  # surprise: white to red
    assert [value for _, value in signals["choices"]] == ["surprise", "forget", "input", "output", "cell"]
    assert units["interactive"] is False and "tiny-lstm" in note and loss_read(note) > 0
    shown, _, units, note, _ = client.predict(model="tiny-lstm", text=text, signal="forget", api_name="/look_inside")
    assert "forget gate f" in note and "mean over all units" in note
    liveliest = units["choices"][1][1]
    one, _, units, note, _ = client.predict(model="tiny-lstm", text=text, signal="forget", unit=liveliest, api_name="/look_inside")
    assert units["value"] == liveliest and len(one) == len(text)
    assert [t["class_or_confidence"] for t in one] != [t["class_or_confidence"] for t in shown]
    assert all(-1 <= t["class_or_confidence"] <= 1 for t in one)
    # with no text typed, the generated text is read; a GRU offers its own gates
    shown, signals, _, note, _ = client.predict(model="tiny-gru", generated="the dog", signal="forget", api_name="/look_inside")
    assert "".join(t["token"] for t in shown) == "the dog" and "A GRU has no forget signal" in note
    assert [value for _, value in signals["choices"]] == ["surprise", "update", "reset", "hidden"]


BAD_READING = [
    ({}, r"nothing to read: type a text in the box, or generate one above"),
    ({"text": "   ", "generated": ""}, r"nothing to read"),
    ({"text": "the cat", "signal": "cell", "unit": "one"}, r"layer:unit, such as 1:17; got 'one'"),
    ({"text": "the cat", "signal": "cell", "unit": "1:100000"}, r"no unit 100000 in layer 1"),
    ({"text": "€€", "model": "tiny-lstm"}, r"knows none of this text's characters"),
    ({"text": "the cat", "model": session.TRAINED}, r"you haven't trained a model in this session yet: train one first, or pick a pretrained model"),
    ({"text": "the cat", "model": "no-such-model"}, r"^Model: .*not in the list of choices"),
    ({"text": "the cat", "signal": "joy"}, r"^Colour each token by: .*joy.*not in the list of choices"),
]


@pytest.mark.parametrize("fields, message", BAD_READING, ids=[str(i) for i in range(len(BAD_READING))])
def test_bad_look_inside_input_is_a_clear_error_and_the_app_keeps_serving(client, fields, message):
    with pytest.raises(AppError, match=message):
        client.predict(**{"model": "tiny-lstm", **fields}, api_name="/look_inside")
    assert len(client.predict(model="tiny-lstm", text="the cat", api_name="/look_inside")[0]) == 7


def test_a_training_message_names_no_setting_the_app_lacks():
    """Whatever the app shows: no "sequence length", "validation fraction", "gradient clip" or "eval_every"."""
    messages = []
    for refused in (lambda: fit_batch_size(100, 64, 64), lambda: Trainer("To be.\n", TrainConfig()), lambda: TrainConfig(eval_every=-1).check()):
        with pytest.raises(UserError) as error:
            refused()
        messages.append(app.in_app_terms(str(error.value)))
    messages.append(app.in_app_terms("training diverged at step 9 (loss nan); lower the learning rate (now 0.5) or the gradient clip"))
    for message in messages:
        assert not re.search(r"sequence length|validation fraction|gradient clip|eval_every", message), message
    assert "lower Window (tokens) under Advanced" in messages[0]
    assert messages[-1].endswith("lower the Learning rate (Adam) under Advanced (now 0.5)")


@pytest.mark.parametrize("setting, label", [("length", "Length (tokens)"), ("temperature", "Temperature"), ("top_k", "Top-k"), ("top_p", "Top-p")])
def test_every_generation_setting_refused_is_named_as_labelled(bundled, setting, label):
    """generate.py's own checks, and what gradio's bounds let through (NaN: a raw HTTP request can send it)."""
    with pytest.raises(UserError) as error:
        check_settings(**{"length": 10, "temperature": 1.0, "top_k": 0, "top_p": 1.0, setting: -1})
    assert app.in_app_terms(str(error.value)).startswith(f"{label}: must ")
    field = next(b for b in app.build_demo(settings(bundled)).blocks.values() if getattr(b, "label", None) == label)
    with pytest.raises(gr.Error) as refused:
        field.preprocess(math.nan)
    assert refused.value.message == f"{label}: must be a finite number, got nan"


def test_none_for_any_field_means_its_default(client, corpus_file):
    """Scripts send None for a field they mean to leave alone: sliders compared it and failed."""
    defaults = client.predict(model="tiny-lstm", prompt="The ", seed=5, api_name="/generate")
    nones = client.predict(model="tiny-lstm", prompt="The ", seed=5, length=None, temperature=None, top_k=None,
                           top_p=None, api_name="/generate")  # fmt: skip
    assert nones == defaults and len(nones) > 100
    summary = client.predict(handle_file(str(corpus_file)), seconds=None, cell=None, hidden_size=None, api_name="/summarize")
    assert "english.txt" in summary and "Vocabulary" in summary


def test_dropout_minus_one_is_chosen_for_the_text_and_the_summary_says_so(client, corpus_file):
    """60 kB read ~50 times in a minute: dropout 0.3, chosen as training will choose it; a dropout set stays."""
    for automatic in ({}, {"dropout": -1}, {"dropout": None}):  # the default is -1
        assert "so training uses dropout 0.3, which holds that off" in client.predict(handle_file(str(corpus_file)), **automatic, api_name="/summarize")
    own = client.predict(handle_file(str(corpus_file)), dropout=0.0, api_name="/summarize")
    assert "so training uses" not in own and "Dropout 0.3 (under Advanced) holds that off" in own


def test_my_model_before_the_first_run_validates_says_it_is_still_training():
    workspace = session.Workspace()
    workspace.running = True  # a run that has not validated yet: no model to use
    with pytest.raises(UserError, match="your model is still training: it becomes usable at its first validation"):
        workspace.require_model(wait=0.1)
    workspace.running = False
    with pytest.raises(UserError, match="you haven't trained a model in this session yet"):
        workspace.require_model(wait=0.1)


def test_my_model_before_training_is_a_clear_error(client):
    with pytest.raises(AppError, match="haven't trained a model in this session yet: train one first, or pick a pretrained model$"):
        client.predict(model=session.TRAINED, api_name="/generate")
    assert "No model trained" in client.predict(model=session.TRAINED, api_name="/load_model")
    client.predict(model="tiny-lstm", length=5, api_name="/generate")  # the session now has a workspace, without a model
    with pytest.raises(AppError, match="haven't trained a model in this session yet: train one first, or pick a pretrained model$"):
        client.predict(model=session.TRAINED, api_name="/generate")
    for endpoint, arguments in (("/download", {}), ("/push", {"repo_id": "me/rnn", "token": "hf_x"})):
        with pytest.raises(AppError, match="haven't trained a model in this session yet: train one first$"):  # no pretrained remedy
            client.predict(**arguments, api_name=endpoint)


def test_a_session_trains_one_model_at_a_time(client, corpus_file):
    """The server trains two runs at once (two sessions'); a second from the same session would race
    the first to become its model, and /stop would reach only one: it is refused, the first goes on."""
    job = client.submit(handle_file(str(corpus_file)), seconds=20, api_name="/train", **SMALL)
    for status, _, _ in job:
        if status.startswith("Training a"):
            break
    with pytest.raises(AppError, match="^this session is already training a model: stop it, or wait for it to end"):
        client.predict(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL)
    assert session.training_sessions() == 1
    client.predict(api_name="/stop")
    assert "Stopped" in job.result()[0]
    assert "Done" in client.predict(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL)[0]  # then it may train again


def test_two_clients_training_at_once_never_see_each_others_models(make_client, corpus_file, corpus_b):
    alice, bob, carol = make_client(), make_client(), make_client()
    jobs = [
        alice.submit(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL),
        bob.submit(handle_file(str(corpus_b)), seconds=5, api_name="/train", **SMALL),
    ]
    results = [job.result() for job in jobs]  # both run at the same time (two trainings allowed)
    assert all("Done" in status for status, _, _ in results)

    assert "english.txt" in alice.predict(model=session.TRAINED, api_name="/load_model")
    assert "numbers.txt" in bob.predict(model=session.TRAINED, api_name="/load_model")
    # Bob's model never saw a letter, so it can't write one; Alice's writes English.
    bobs = bob.predict(model=session.TRAINED, length=200, seed=0, api_name="/generate")
    alices = alice.predict(model=session.TRAINED, length=200, seed=0, api_name="/generate")
    assert not any(c.isalpha() for c in bobs)
    assert sum(c.isalpha() for c in alices) > 100
    with pytest.raises(AppError, match="haven't trained a model"):
        carol.predict(model=session.TRAINED, api_name="/generate")

    # Closing a session frees its model (the tab-close handler), not an hour later.
    held = session.live_sessions()
    assert held >= 2
    alice.close()
    bob.close()
    deadline = time.monotonic() + 10
    while session.live_sessions() > held - 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session.live_sessions() <= held - 2


def test_the_zero_gpu_path_streams_cpu_data_from_another_process_and_stop_keeps_the_last_validation(
    client, corpus_file, monkeypatch
):
    """On ZeroGPU training runs in a forked worker: only its (pickled) yields come back."""
    import app
    from tests.app.zero_gpu_stand_in import train_in_another_process

    monkeypatch.setattr(app, "ON_ZERO_GPU", True)
    monkeypatch.setattr(app, "train_on_device", train_in_another_process)
    assert "ZeroGPU" in client.predict(handle_file(str(corpus_file)), api_name="/summarize")

    job = client.submit(handle_file(str(corpus_file)), seconds=20, api_name="/train", **SMALL)
    for status, plot, _ in job:
        if plot and len(losses(plot, "validation")) >= 3:  # the untrained model's, and two more
            break
    job.cancel()
    text = client.predict(model=session.TRAINED, prompt="The", length=50, seed=2, api_name="/generate")
    assert text.startswith("The") and len(text) > 30
    assert "this session" in client.predict(model=session.TRAINED, api_name="/load_model")


def test_the_empty_loss_plot_spans_a_step_axis_and_blanks_only_fill_missing_series():
    empty = app.loss_frame([])
    assert set(empty["series"]) == set(app.SERIES) and empty["loss"].isna().all()
    assert (empty["step"].min(), empty["step"].max()) == (0, app.EMPTY_PLOT_STEPS)  # not one lone tick at 0
    started = app.loss_frame([{"step": 5, "loss": 3.0, "series": "training"}])
    blanks = started[started["loss"].isna()]
    assert list(blanks["series"]) == ["validation"] and list(blanks["step"]) == [0]
    assert not any(math.isnan(x) for x in started[started["series"] == "training"]["loss"])


@pytest.mark.parametrize("gpu, expected", [(False, TrainConfig()), (True, TrainConfig(**GPU_DEFAULTS))])
def test_the_advanced_fields_show_the_defaults_for_where_training_runs(bundled, gpu, expected):
    """A deployment that trains on a GPU (CUDA, ZeroGPU) offers the GPU defaults, and applies the ones not shown."""
    demo = app.build_demo(settings(bundled, gpu=gpu))
    shown = {b.label: b.value for b in demo.blocks.values() if getattr(b, "label", None) in ("Hidden size", "Layers", "Dropout", "Batch size")}
    dropout = app.AUTOMATIC if expected.dropout is None else expected.dropout  # automatic on a CPU
    assert shown == {"Hidden size": expected.hidden_size, "Layers": expected.num_layers, "Dropout": dropout, "Batch size": expected.batch_size}
    assert settings(bundled, gpu=gpu).train_config(seconds=30).eval_tokens == expected.eval_tokens


@pytest.mark.parametrize("final_loss, warned", [(2.1, False), (7.3, True)])
def test_the_done_line_warns_when_training_ended_worse_than_untrained(final_loss, warned):
    view = session.RunView(TrainConfig(seconds=5), "poems.txt")
    info = {"vocab_size": 40, "parameters": 1000, "train_tokens": 9000}
    view.update(session.TrainEvent({"step": 0, "val_loss": 3.44}, info=info))
    view.update(session.TrainEvent({"step": 1, "val_loss": final_loss, "done": True, "elapsed": 5.0, "tokens_per_second": 900, "device": "cpu"}))
    assert "1 step in" in view.status
    assert ("worse than the untrained model's 3.440" in view.status) is warned


@pytest.mark.parametrize("read, over", [(None, "over the whole held-out text"), (400, "over 400 of the 1,000 held-out tokens")])  # fmt: skip
def test_the_done_line_says_how_much_of_the_held_out_text_the_final_validation_read(read, over):
    view = session.RunView(TrainConfig(seconds=5), "poems.txt")
    view.update(session.TrainEvent({"step": 0, "val_loss": 3.44}, info={"vocab_size": 40, "parameters": 1000, "train_tokens": 9000, "val_tokens": 1000}))
    view.update(session.TrainEvent({"step": 9, "val_loss": 2.0, "val_tokens": read, "done": True, "elapsed": 5.0, "tokens_per_second": 900, "device": "cpu"}))
    assert f"Validation loss **2.000** {over}" in view.status


def test_a_second_run_says_it_replaces_my_model_and_when(client, corpus_file):
    first = client.predict(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL)[0]
    assert "replaces your previous" not in first
    statuses = [status for status, _, _ in client.submit(handle_file(str(corpus_file)), seconds=5, api_name="/train", **SMALL)]
    assert "This run's model replaces your previous one (LSTM trained on english.txt" in statuses[0]
    assert "until then, Generate still uses the previous one" in statuses[0]
    assert "replaces your previous" not in statuses[-1] and "Done" in statuses[-1]


def _previous() -> session.TrainedModel:
    return session.TrainedModel({}, {}, {"cell": "gru", "steps": 120, "val_loss": 2.5, "best_val_loss": 2.5, "source": {"name": "old.txt"}})


def test_the_replacement_note_lasts_until_this_run_hands_over_a_model():
    view = session.RunView(TrainConfig(seconds=5), "poems.txt", previous=_previous())
    note = "replaces your previous one (GRU trained on old.txt (120 steps, validation loss 2.500)) as “my model”"
    assert note in view.status  # from the first update on: "Preparing …"
    view.update(session.TrainEvent({"step": 0, "val_loss": 3.44}, info={"vocab_size": 40, "parameters": 1000, "train_tokens": 9000}))
    view.update(session.TrainEvent({"step": 5, "train_loss": 3.0, "tokens_per_second": 900, "device": "cpu"}))
    assert note in view.status
    view.update(session.TrainEvent({"step": 9, "train_loss": 2.9, "val_loss": 2.95, "tokens_per_second": 900, "device": "cpu"}, model=_previous()))
    assert "replaces your previous" not in view.status
    assert "replaces" not in session.RunView(TrainConfig(seconds=5), "poems.txt").status  # nothing to replace


def test_stopped_before_learning_anything_says_my_model_is_still_the_previous_one():
    previous = _previous()
    view = session.RunView(TrainConfig(seconds=5), "poems.txt", previous=previous)
    stopped = view.stopped_status(previous)  # the session's model is still the earlier run's
    assert "Stopped** before the model learned anything: nothing kept. “my model” is still your previous model." in stopped
    assert "Kept the" not in stopped
