"""Looking inside a model as it reads: the recorded gates and probabilities are the model's own."""

from __future__ import annotations

import math

import pytest
import torch

from rnn_demo import inside
from rnn_demo.errors import UserError
from rnn_demo.inside import parse_unit, read_text, view
from rnn_demo.model import RNNLanguageModel
from rnn_demo.session import Workspace
from rnn_demo.signals import MEAN, SIGNALS, SURPRISE, signal_choices
from rnn_demo.tokenizers import fit_tokenizer

TEXT = "the cat sees the dog.\nthe dog sees the cat!\n"


def model_for(cell: str, layers: int = 2, kind: str = "char") -> RNNLanguageModel:
    torch.manual_seed(0)
    tokenizer, _ = fit_tokenizer(kind, TEXT * 3)
    return RNNLanguageModel(
        tokenizer.to_config(), cell=cell, embedding_size=8, hidden_size=12, num_layers=layers
    ).eval()


def forward_probabilities(model: RNNLanguageModel, text: str) -> torch.Tensor:
    """p(token t | the tokens before it), the model primed with a line break as generation is."""
    ids = model.tokenizer.encode(text)
    inputs = torch.cat([torch.tensor([model.tokenizer.index["\n"]]), ids[:-1]])[None]
    with torch.no_grad():
        logits, _ = model(inputs)
    return torch.softmax(logits[0], -1).gather(1, ids[:, None])[:, 0]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_chances_read_are_the_models_own(cell):
    model = model_for(cell)
    reading = read_text(model, TEXT)
    assert reading.pieces == list(TEXT)
    torch.testing.assert_close(reading.probability, forward_probabilities(model, TEXT))
    assert reading.mean_surprise == pytest.approx(float(-forward_probabilities(model, TEXT).log().mean()), rel=1e-5)
    top = reading.guess_ids[:, 0]
    assert reading.guess_probabilities[:, 0].ge(reading.probability - 1e-6).all()  # the likeliest is at least as likely
    assert reading.vocab[int(top[5])] in reading.token_note(5)


def test_the_lstm_gates_recorded_give_the_hidden_states_the_model_computes():
    """h = o ⊙ tanh(c) at every token and layer: the output gate and the cell recorded are the ones used."""
    model = model_for("lstm")
    reading = read_text(model, TEXT)
    ids = model.tokenizer.encode(TEXT)[None]
    primer = model.tokenizer.encode("\n")[None]
    with torch.no_grad():
        _, state = model(primer)
        hidden, _ = model.hidden_states(ids, state)
    top_layer = reading.signals["output"][:, -1] * reading.signals["cell"][:, -1]
    torch.testing.assert_close(top_layer, hidden[0])
    for gate in ("forget", "input", "output"):
        values = reading.signals[gate]
        assert values.min() >= 0 and values.max() <= 1 and values.std() > 0


def test_the_gru_hidden_state_recorded_is_the_models_output():
    model = model_for("gru")
    reading = read_text(model, TEXT)
    ids = model.tokenizer.encode(TEXT)[None]
    with torch.no_grad():
        _, state = model(model.tokenizer.encode("\n")[None])
        hidden, _ = model.hidden_states(ids, state)
    torch.testing.assert_close(reading.signals["hidden"][:, -1], hidden[0])
    assert set(reading.signals) == {"update", "reset", "hidden"}


def test_characters_the_model_never_saw_are_skipped_and_left_uncoloured():
    model = model_for("lstm", layers=1)
    text = "the €at"
    reading = read_text(model, text)
    assert reading.read.tolist() == [c != "€" for c in text]
    scores = reading.scores("forget", (0, 3))
    assert scores[4] is None and all(s is not None for i, s in enumerate(scores) if i != 4)
    # the model reads on as if the character were not there, as generation skips it
    torch.testing.assert_close(reading.probability[5:], read_text(model, "the at").probability[4:])
    assert "skipped" in reading.token_note(4)
    assert "1 characters it never saw were skipped" in view(reading, SURPRISE, MEAN, "a test").note
    with pytest.raises(UserError, match="knows none of this text's characters"):
        read_text(model, "€€€")


def test_scores_run_from_blue_to_red_as_the_app_colours_them():
    model = model_for("lstm")
    reading = read_text(model, TEXT)
    surprise = reading.scores(SURPRISE)
    assert all(0 <= s <= 1 for s in surprise)
    blind = math.log(model.tokenizer.vocab_size)
    assert surprise == [round(min(1.0, float(s) / blind), 3) for s in reading.surprise]
    gate = reading.scores("forget", (1, 2))
    assert gate == [round(2 * float(v) - 1, 3) for v in reading.signals["forget"][:, 1, 2]]


def test_the_liveliest_units_change_most_and_the_mean_averages_every_unit():
    model = model_for("lstm")
    reading = read_text(model, TEXT)
    units = reading.liveliest_units("cell", count=3)
    spreads = reading.signals["cell"].std(dim=0)
    assert [float(spreads[u]) for u in units] == sorted(spreads.flatten().tolist(), reverse=True)[:3]
    torch.testing.assert_close(reading.values("cell"), reading.signals["cell"].mean(dim=(1, 2)))


def test_the_note_names_the_kinds_of_token_where_a_signal_is_lowest_and_highest():
    model = model_for("lstm")
    reading = read_text(model, TEXT)
    ranked = reading.by_token("forget", (1, 4))
    values = reading.signals["forget"][:, 1, 4]
    spaces = [float(v) for p, v in zip(reading.pieces, values) if p == " "]
    assert (" ", pytest.approx(sum(spaces) / len(spaces)), len(spaces)) in ranked
    assert [mean for _, mean, _ in ranked] == sorted(mean for _, mean, _ in ranked)
    assert all(times >= 2 for _, _, times in ranked)
    assert "!" not in [piece for piece, _, _ in ranked]  # seen once
    lowest, highest = ranked[0], ranked[-1]
    note = view(reading, "forget", "2:4", "a test").note
    assert f"highest at {inside._shown(highest[0])} {highest[1]:.2f} ({highest[2]}×)" in note
    assert f"lowest at {inside._shown(lowest[0])} {lowest[1]:.2f} ({lowest[2]}×)" in note
    assert "hardest to predict: " in view(reading, SURPRISE, MEAN, "a test").note
    # with one kind of token, there is no lowest and highest to tell apart
    assert "On average" not in view(read_text(model, "tt"), "forget", MEAN, "a test").note
    two_kinds = view(read_text(model, "ttaa"), "forget", MEAN, "a test").note.split("\n\n")[-1]
    assert two_kinds.startswith("On average") and "`t` " in two_kinds and "`a` " in two_kinds


def test_the_view_offers_the_cells_own_gates_and_falls_back_on_others():
    reading = read_text(model_for("gru"), TEXT)
    shown = view(reading, "forget", "2:3", "a test")
    assert shown.signal == SURPRISE and "A GRU has no forget signal" in shown.note
    assert [name for _, name in shown.signal_choices] == [SURPRISE, "update", "reset", "hidden"]
    shown = view(reading, "update", "2:3", "a test")
    assert shown.unit == "2:3" and ("layer 2, unit 3", "2:3") in shown.unit_choices  # kept, though not the liveliest
    assert shown.highlights[0] == ("t", reading.scores("update", (1, 3))[0])
    assert [piece for piece, _ in shown.highlights].count("↵\n") == TEXT.count("\n")  # a line break shows
    assert "update gate z" in shown.note and "layer 2, unit 3" in shown.note


def test_before_a_text_is_read_both_cells_signals_are_offered_each_labelled_with_its_cell():
    names = [name for _, name in signal_choices()]
    assert names[0] == SURPRISE and sorted(names) == sorted(set(SIGNALS["lstm"]) | set(SIGNALS["gru"]))
    assert ("update gate z (GRU)", "update") in signal_choices()
    assert ("forget gate f", "forget") in signal_choices("lstm")


@pytest.mark.parametrize(
    "value, message", [("x:y", "layer:unit"), ("3:1", "no unit 1 in layer 3"), ("1:12", "no unit 12 in layer 1")]
)
def test_a_unit_outside_the_model_is_refused(value, message):
    reading = read_text(model_for("lstm"), TEXT)
    with pytest.raises(UserError, match=message):
        view(reading, "cell", value, "a test")
    assert parse_unit(MEAN) is None and parse_unit("2:11") == (1, 11)


def test_a_long_text_is_read_up_to_the_limit_and_says_so(monkeypatch):
    monkeypatch.setattr(inside, "MAX_READ_TOKENS", 10)
    reading = read_text(model_for("lstm"), TEXT)
    assert len(reading.pieces) == 10 and reading.total_pieces == len(TEXT)
    assert f"the first 10 of its {len(TEXT)} tokens" in view(reading, SURPRISE, MEAN, "a test").note


def test_a_word_model_reads_words_and_reads_unknown_ones_as_unk():
    model = model_for("lstm", kind="word")
    reading = read_text(model, "the zebra sees the cat.")
    assert reading.pieces[:3] == ["the ", "zebra ", "sees "]
    assert reading.read.all()  # <unk> is a word the model learned
    assert "**`zebra␣` (not in the vocabulary, read as `<unk>`)**: the model gave it a" in reading.token_note(1)
    assert "not in the vocabulary" not in reading.token_note(2)
    torch.testing.assert_close(reading.probability, forward_probabilities(model, "the zebra sees the cat."))


def test_an_empty_text_is_refused():
    with pytest.raises(UserError, match="empty"):
        read_text(model_for("lstm"), "")


def test_a_session_reads_a_text_once_per_model():
    model, other = model_for("lstm"), model_for("gru")
    workspace = Workspace()
    first = workspace.reading(model, TEXT)
    assert workspace.reading(model, TEXT) is first and workspace.last_reading is first
    assert workspace.reading(model, TEXT + "x") is not first
    assert workspace.reading(other, TEXT).cell == "gru"
    workspace.clear()
    with pytest.raises(UserError, match="read a text first"):
        _ = workspace.last_reading
