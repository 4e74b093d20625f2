"""Describing a model from its config.json alone (what the app shows before torch is needed) says
what loading it would: the same size, parameters and vocabulary."""

from __future__ import annotations

import json

import pytest

from rnn_demo.app_settings import AppSettings
from rnn_demo.catalog import ModelShelf, describe_architecture
from rnn_demo.checkpoint import save_model
from rnn_demo.errors import UserError
from rnn_demo.model import RNNLanguageModel

CHARS = {"type": "char", "vocab": ["<unk>", " ", "a", "b", "c", "\n"]}
CHINESE_WORDS = {"type": "word", "lang": "zh", "vocab": ["<unk>", "春", "风", "。"]}


@pytest.mark.parametrize(
    "tokenizer, settings, unit",
    [
        (CHARS, dict(cell="lstm", embedding_size=8, hidden_size=12, num_layers=1), "characters"),
        (CHARS, dict(cell="gru", embedding_size=8, hidden_size=12, num_layers=3), "characters"),
        (CHARS, dict(cell="lstm", embedding_size=12, hidden_size=12, num_layers=2, tie_weights=True), "characters"),
        (CHINESE_WORDS, dict(cell="gru", embedding_size=4, hidden_size=6, num_layers=2), "characters"),
        ({"type": "word", "lang": "en", "vocab": ["<unk>", "the ", "cat "]}, dict(cell="lstm", hidden_size=5), "words"),
    ],
)
def test_a_description_from_config_json_counts_what_the_model_holds(tokenizer, settings, unit):
    model = RNNLanguageModel(tokenizer, **settings)
    line = describe_architecture(json.loads(json.dumps(model.architecture())), "bundled checkpoints/x")
    cell, layers, hidden = model.cell.upper(), model.num_layers, model.hidden_size
    assert line == (
        f"{cell} {layers}×{hidden}, {model.parameter_count:,} parameters, {len(tokenizer['vocab'])} {unit} in its vocabulary"
        " — served from **bundled checkpoints/x**"
    )


def test_the_shelf_describes_a_bundled_model_and_refuses_a_foreign_config(tmp_path):
    save_model(RNNLanguageModel(CHARS, hidden_size=10), tmp_path / "ours")
    foreign = tmp_path / "gpt2"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 12}))
    (foreign / "model.safetensors").write_bytes(b"{}")
    shelf = ModelShelf(AppSettings(bundled_dir=tmp_path, models=""))
    assert shelf.names() == ["gpt2", "ours"]
    assert shelf.describe_model("ours").startswith("LSTM 1×10, ")
    assert shelf.describe_model("ours").endswith("served from **bundled checkpoints/ours**")
    with pytest.raises(UserError, match=r"^gpt2: not a compatible checkpoint \(its config.json does not describe"):
        shelf.describe_model("gpt2")
    model, origin = shelf.open("ours")
    assert (model.hidden_size, origin) == (10, "bundled checkpoints/ours") and not model.training
    assert shelf.open("ours")[0] is model  # loaded once, shared
