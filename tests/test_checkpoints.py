"""The bundled pretrained checkpoints (checkpoints/): load strictly, round-trip exactly, sample
reproducibly, stay small, and never unpickle anything."""

import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnn_demo.catalog import BUNDLED_DIR, open_model, pretrained_models
from rnn_demo.checkpoint import load_model, save_model
from rnn_demo.checkpoint_layout import zip_folder
from rnn_demo.generate import generate_text
from rnn_demo.inside import read_text
from rnn_demo.train import Trainer
from tests.helpers import english_text, tiny_config

EXPECTED = {"shakespeare-lstm": "lstm", "shakespeare-gru": "gru", "tang-poems-lstm": "lstm"}
FOLDERS = [BUNDLED_DIR / name for name in EXPECTED]


def test_the_bundled_checkpoints_are_all_there():
    assert sorted(p.name for p in pretrained_models(configured="")) == sorted(EXPECTED)


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch):
    """Any unpickling while these tests run is a failure, whoever attempts it."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_hub_layout_and_size(folder):
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors"]
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 16 * 2**20
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "pipeline_tag: text-generation" in card and "library_name: rnn-demo" in card
    for heading in ("validation loss", "python -m rnn_demo train", "Temperature 0.5", "Temperature 0.8", "Temperature 1.0"):
        assert heading in card, heading
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["cell"] == EXPECTED[folder.name] and config["tokenizer"]["type"] == "char"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_loads_strictly_and_round_trips_bit_exactly(folder, tmp_path):
    model = load_model(folder)
    stored = load_file(folder / "model.safetensors")
    state = model.state_dict()
    assert set(stored) <= set(state)
    assert all(torch.equal(stored[k], state[k]) for k in stored)

    again = load_model(save_model(model, tmp_path / "copy"))
    assert json.loads((tmp_path / "copy" / "config.json").read_text()) == json.loads((folder / "config.json").read_text())
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_same_seed_same_text(folder):
    model, origin = open_model(folder.name, catalog=pretrained_models(configured=""))
    assert origin == f"bundled checkpoints/{folder.name}"
    first = generate_text(model, length=200, temperature=0.8, seed=7)
    assert first == generate_text(model, length=200, temperature=0.8, seed=7)
    assert first != generate_text(model, length=200, temperature=0.8, seed=8)


def test_shakespeare_models_write_play_text():
    """A light check that the weights are trained ones: a greedy continuation of a speaker's cue
    uses the play's vocabulary rather than noise."""
    for name in ("shakespeare-lstm", "shakespeare-gru"):
        text = generate_text(load_model(BUNDLED_DIR / name), "ROMEO:\n", length=300, temperature=0.5, seed=1)
        words = text.lower().split()
        common = {"the", "and", "i", "to", "of", "my", "you", "a", "that", "in", "is", "not", "with", "me"}
        assert sum(w.strip(",.;:!?") in common for w in words) >= 10, text


def test_tang_model_writes_poem_lines():
    text = generate_text(load_model(BUNDLED_DIR / "tang-poems-lstm"), length=400, temperature=0.5, seed=1)
    lines = [line for line in text.split("\n")[1:-1] if line]  # whole lines only
    # One couplet per line: two halves of 5 or 7 characters, each closed by a full-width mark.
    well_formed = [line for line in lines if len(line) in (12, 16) and line[-1] in "。？！" and line[len(line) // 2 - 1] in "，、"]
    assert len(well_formed) >= len(lines) * 0.8, text


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask-022", "umask-077"])
def test_saved_files_get_the_mode_the_umask_gives(umask, tmp_path):
    """safetensors wrote model.safetensors and the trainer state 0600 (unreadable to the group and
    others, also once unzipped from the app's download) while the rest got 0644."""
    trainer = Trainer(english_text(8000), tiny_config(steps=2))
    for _ in trainer.run():
        pass
    old = os.umask(umask)
    try:
        folder = Path(trainer.save(str(tmp_path / "run")))
        archive = zip_folder(folder, tmp_path / "run")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert "model.safetensors" in modes and "trainer_state.safetensors" in modes
    assert modes == dict.fromkeys(modes, expected), {k: oct(v) for k, v in modes.items()}
    with zipfile.ZipFile(archive) as zipped:
        assert {i.filename: (i.external_attr >> 16) & 0o777 for i in zipped.infolist()} == dict.fromkeys(zipped.namelist(), expected)


def test_the_forget_gates_how_it_works_points_to_shut_at_word_and_line_ends():
    """The app's How it works sends learners to two units of the Shakespeare LSTM (``1:149``, ``2:344``)."""
    text = (
        "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
        "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name.\n"
    )
    reading = read_text(load_model(BUNDLED_DIR / "shakespeare-lstm"), text)
    forget = reading.signals["forget"]
    space = torch.tensor([p == " " for p in reading.pieces])
    newline = torch.tensor([p == "\n" for p in reading.pieces])
    letter = torch.tensor([p.isalpha() for p in reading.pieces])
    word_unit, line_unit = forget[:, 0, 149], forget[:, 1, 344]  # layer 1, unit 149; layer 2, unit 344
    assert word_unit[space | newline].max() < 0.1 and word_unit[letter].mean() > 0.5
    assert line_unit[newline].max() < 0.1 and line_unit[space].min() > 0.9
    line_start = torch.tensor([n > 0 and reading.pieces[n - 1] == "\n" for n in range(len(reading.pieces))])
    elsewhere = ~(newline | line_start)
    elsewhere[0] = False  # the first letter, read right after the line break generation starts from
    assert line_unit[line_start].max() < 0.1 and line_unit[elsewhere].min() > 0.5
