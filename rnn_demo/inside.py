"""Looking inside a model as it reads a text: how expected each token was, and what its gates did.

The model reads the text one token at a time through the hand-written cells of ``cells.py``, on
the weights it was trained with, and every gate's activation is kept. A learner can then see, token
by token, where the model was surprised (its loss) and when a gate opened or shut — the way Karpathy,
Johnson and Fei-Fei found cells that track quotes or line length ("Visualizing and Understanding
Recurrent Networks", 2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .cells import gru_gates, gru_update, lstm_gates, lstm_update
from .errors import UserError
from .model import RNNLanguageModel
from .signals import GATES_OPEN_AT_ONE, MEAN, SIGNALS, SURPRISE, signal_choices

MAX_READ_TOKENS = 1_000  # a reading keeps every gate of every token: ~6 MB at the default size
GUESSES = 5  # the model's likeliest next tokens kept at each position
DECODE_ROWS = 512  # positions decoded at once (a word model's logits are vocabulary-wide)

Unit = tuple[int, int]  # (layer, unit), both from 0


@dataclass
class Reading:
    """What the model did at each token of a text it read."""

    cell: str
    vocab_size: int
    pieces: list[str]  # the text's tokens as text, in order
    ids: Tensor  # (T,) their ids; 0 (<unk>) for a word outside a word model's vocabulary
    read: Tensor  # (T,) bool: fed to the model (a character model skips characters it never saw)
    probability: Tensor  # (T,) the probability the model gave each token before it came; NaN if not read
    guess_ids: Tensor  # (T, ≤ GUESSES) the likeliest tokens at each position, and their probabilities
    guess_probabilities: Tensor
    signals: dict[str, Tensor]  # name → (T, layers, hidden): each gate and the state; NaN rows if not read
    vocab: list[str]
    total_pieces: int  # the text's tokens, of which the first MAX_READ_TOKENS are read

    @property
    def surprise(self) -> Tensor:
        """−ln p per token, in nats: the loss the model takes on it."""
        return -self.probability.log()

    @property
    def layers(self) -> int:
        return next(iter(self.signals.values())).shape[1]

    @property
    def mean_surprise(self) -> float:
        """The model's loss on this text (nats per token, over the tokens it read)."""
        return float(self.surprise[self.read].mean())

    def values(self, signal: str, unit: Unit | None = None) -> Tensor:
        """(T,) one signal at each token: one unit's, or the mean over every unit of every layer."""
        if signal == SURPRISE:
            return self.surprise
        if signal not in self.signals:
            raise UserError(f"a {self.cell.upper()} has no {signal!r}: choose one of {', '.join(SIGNALS[self.cell])}")
        trace = self.signals[signal]
        if unit is None:
            return trace.mean(dim=(1, 2))
        layer, index = unit
        if not (0 <= layer < trace.shape[1] and 0 <= index < trace.shape[2]):
            raise UserError(f"this model has no unit {index} in layer {layer + 1}")
        return trace[:, layer, index]

    def liveliest_units(self, signal: str, count: int = 8) -> list[Unit]:
        """The units whose ``signal`` changes most over the text (largest spread): the ones worth a look."""
        if signal == SURPRISE:
            return []
        trace = self.signals[signal][self.read]
        if trace.shape[0] < 2:
            return []
        spread = trace.std(dim=0).flatten()
        hidden = trace.shape[2]
        return [(int(i) // hidden, int(i) % hidden) for i in spread.topk(min(count, spread.numel())).indices]

    def by_token(self, signal: str, unit: Unit | None = None) -> list[tuple[str, float, int]]:
        """(token, mean value, times seen) for each token of the text, lowest mean first: what a unit
        does at each kind of token (a forget gate that shuts at every space). Only tokens seen twice or
        more count, unless there are none such."""
        values = self.values(signal, unit).tolist()
        seen: dict[str, list[float]] = {}
        for piece, value, read in zip(self.pieces, values, self.read.tolist()):
            if read:
                seen.setdefault(piece, []).append(value)
        repeated = {piece: v for piece, v in seen.items() if len(v) >= 2} or seen
        means = [(piece, sum(v) / len(v), len(v)) for piece, v in repeated.items()]
        return sorted(means, key=lambda item: item[1])

    def scores(self, signal: str, unit: Unit | None = None) -> list[float | None]:
        """Each token's colour from −1 (blue) to +1 (red); None for a token the model did not read.

        Surprise: 0 when the model was sure, +1 at a blind guess's surprise (ln V) or more. A gate:
        −1 shut, +1 wide open. A state: its value, in −1…1 already.
        """
        values = self.values(signal, unit)
        if signal == SURPRISE:
            values = (values / math.log(max(self.vocab_size, 2))).clamp(max=1.0)
        elif signal in GATES_OPEN_AT_ONE:
            values = 2 * values - 1
        return [round(float(v), 3) if read else None for v, read in zip(values, self.read.tolist())]

    def token_note(self, position: int) -> str:
        """Markdown: the token at ``position``, the chance the model gave it, and what it expected instead."""
        if not 0 <= position < len(self.pieces):
            raise UserError(f"no token {position + 1}: the text read has {len(self.pieces)} tokens")
        piece = _shown(self.pieces[position])
        if not self.read[position]:
            return f"**{piece}** is not in the model's vocabulary: the model skipped it."
        guesses = ", ".join(
            f"{_shown(self.vocab[int(i)])} {float(p):.0%}"
            for i, p in zip(self.guess_ids[position], self.guess_probabilities[position])
        )
        chance = float(self.probability[position])
        if self.ids[position] == 0 and self.vocab[0] != self.pieces[position].rstrip():
            piece += f" (not in the vocabulary, read as {_shown(self.vocab[0])})"
        return (
            f"Token {position + 1}, **{piece}**: the model gave it a **{chance:.1%}** chance "
            f"(surprise {-math.log(max(chance, 1e-30)):.2f} nats). It expected: {guesses}."
        )


def _shown(piece: str) -> str:
    """A token as code, its whitespace made visible (a newline as ↵, a space as ␣)."""
    return "`" + piece.replace("\n", "↵").replace(" ", "␣").replace("`", "'") + "`"


@torch.inference_mode()
def read_text(model: RNNLanguageModel, text: str) -> Reading:
    """Run ``model`` over ``text`` (its first :data:`MAX_READ_TOKENS` tokens) and keep everything it did.

    The model starts as generation does, as after a line break, so even the first token has a
    prediction. Words outside a word model's vocabulary are read as ``<unk>``, as in training;
    characters outside a character model's are skipped, as in generation.
    """
    tokenizer = model.tokenizer
    all_pieces = list(tokenizer.pieces(text)) if text else []
    if not all_pieces:
        raise UserError("the text to read is empty")
    pieces = all_pieces[:MAX_READ_TOKENS]
    ids = tokenizer.encode_pieces(pieces)
    read = ids != 0 if tokenizer.kind == "char" else torch.ones(len(pieces), dtype=torch.bool)
    if not read.any():
        raise UserError("the model knows none of this text's characters: it was trained on a different alphabet")
    layers = [tuple(w.detach().float().cpu() for w in model._layer_weights(n)) for n in range(model.num_layers)]
    embedding = model.embedding.weight.detach().float().cpu()
    lstm = model.cell == "lstm"
    steps, hidden = len(pieces), model.hidden_size
    signals = {
        name: torch.full((steps, model.num_layers, hidden), math.nan)
        for name in SIGNALS[model.cell]
        if name != SURPRISE
    }
    tops = torch.zeros(steps, hidden)  # the top layer's output after the token before each one

    h = [torch.zeros(1, hidden) for _ in layers]
    c = [torch.zeros(1, hidden) for _ in layers]

    def feed(token: int) -> tuple[Tensor, list[dict[str, Tensor]]]:
        """One token through every layer: the top layer's output, and each layer's signals."""
        x = embedding[token : token + 1]
        recorded = []
        for n, weights in enumerate(layers):
            if lstm:
                gates = lstm_gates(x, h[n], *weights)
                h[n], c[n] = lstm_update(gates, c[n])
                recorded.append(
                    {"forget": gates.forget, "input": gates.input, "output": gates.output, "cell": torch.tanh(c[n])}
                )
            else:
                gates = gru_gates(x, h[n], *weights)
                h[n] = gru_update(gates, h[n])
                recorded.append({"update": gates.update, "reset": gates.reset, "hidden": h[n]})
            x = h[n]
        return x, recorded

    last, _ = feed(tokenizer.index.get("\n", 1))  # as generation starts with no prompt
    for t, token in enumerate(ids.tolist()):
        tops[t] = last[0]
        if not read[t]:
            continue
        last, recorded = feed(token)
        for n, layer_signals in enumerate(recorded):
            for name, value in layer_signals.items():
                signals[name][t, n] = value[0]

    probability = torch.full((steps,), math.nan)
    guesses = min(GUESSES, tokenizer.vocab_size)
    guess_ids = torch.zeros(steps, guesses, dtype=torch.long)
    guess_probabilities = torch.zeros(steps, guesses)
    weight, bias = model.decoder.weight.detach().float().cpu(), model.decoder.bias.detach().float().cpu()
    for start in range(0, steps, DECODE_ROWS):
        rows = slice(start, start + DECODE_ROWS)
        log_p = torch.log_softmax(torch.addmm(bias, tops[rows], weight.t()), dim=-1)
        probability[rows] = log_p.gather(1, ids[rows, None])[:, 0].exp()
        top = log_p.topk(guesses, dim=-1)
        guess_ids[rows], guess_probabilities[rows] = top.indices, top.values.exp()
    probability[~read] = math.nan
    return Reading(
        cell=model.cell, vocab_size=tokenizer.vocab_size, pieces=pieces, ids=ids, read=read, probability=probability,
        guess_ids=guess_ids, guess_probabilities=guess_probabilities, signals=signals, vocab=tokenizer.vocab,
        total_pieces=len(all_pieces),
    )  # fmt: skip


# ----- what the app shows -----------------------------------------------------------------------


def unit_choices(reading: Reading, signal: str, keep: Unit | None = None) -> list[tuple[str, str]]:
    """(label, value) for the unit field: the mean, then the units that change most on this text
    (and ``keep``, a unit chosen before, so a new signal shows the same unit)."""
    if signal == SURPRISE:
        return [("—", MEAN)]
    units = reading.liveliest_units(signal)
    if keep is not None and keep not in units:
        units.append(keep)
    return [("all units: their mean", MEAN), *[(_unit_label(unit, reading.layers), unit_value(unit)) for unit in units]]


def unit_value(unit: Unit) -> str:
    return f"{unit[0] + 1}:{unit[1]}"


def parse_unit(value: str | None) -> Unit | None:
    """A unit field's value ("2:17": layer 2, unit 17) → (1, 17); the mean (or nothing) → None."""
    if not value or value == MEAN:
        return None
    layer, _, index = str(value).partition(":")
    if not (layer.isdigit() and index.isdigit()):
        raise UserError(f"unit must be {MEAN!r} or layer:unit, such as 1:17; got {value!r}")
    return int(layer) - 1, int(index)


def _unit_label(unit: Unit, layers: int) -> str:
    return f"unit {unit[1]}" if layers == 1 else f"layer {unit[0] + 1}, unit {unit[1]}"


def describe(reading: Reading, signal: str, unit: Unit | None, origin: str) -> str:
    """Markdown under the coloured text: which model read what, its loss on it, and how to read the colours."""
    read = int(reading.read.sum())
    cut = (
        f" (the first {len(reading.pieces):,} of its {reading.total_pieces:,} tokens)"
        if reading.total_pieces > len(reading.pieces)
        else ""
    )
    skipped = len(reading.pieces) - read
    lines = [
        f"Model: {origin} · read {read:,} tokens{cut} · its loss on this text: **{reading.mean_surprise:.3f} nats per token**"
        + (f" · {skipped:,} characters it never saw were skipped (no colour)" if skipped else "")
    ]
    label, meaning = SIGNALS[reading.cell][signal]
    if signal == SURPRISE:
        lines.append(
            f"**{label}**, {meaning}: white where it was sure, deeper red the less chance it gave the token; "
            f"full red at ln {reading.vocab_size:,} = {math.log(max(reading.vocab_size, 2)):.2f} nats, a blind guess's surprise, or more."
        )
    else:
        which = "the mean over all units" if unit is None else _unit_label(unit, reading.layers)
        scale = (
            "blue = shut (0), white = half open, red = wide open (1)"
            if signal in GATES_OPEN_AT_ONE
            else "blue = −1, white = 0, red = +1"
        )
        at = (
            "a gate's value at a token is what it decided on reading that token"
            if signal in GATES_OPEN_AT_ONE
            else "a state's value at a token is what it holds after reading that token"
        )
        lines.append(f"**{label}**, {meaning} — {which}: {scale}; {at}.")
    lines.append(_extremes(reading, signal, unit))
    return "\n\n".join(line for line in lines if line)


def _extremes(reading: Reading, signal: str, unit: Unit | None, count: int = 3) -> str:
    """A line on the kinds of token where the signal is lowest and highest on average; none with
    fewer than two kinds to tell apart."""
    ranked = reading.by_token(signal, unit)
    if len(ranked) < 2:
        return ""
    shown = min(count, len(ranked) // 2)
    low, high = ranked[:shown], ranked[::-1][:shown]
    unit_of = " nats" if signal == SURPRISE else ""

    def listed(items: list[tuple[str, float, int]]) -> str:
        return ", ".join(f"{_shown(piece)} {mean:.2f}{unit_of} ({times}×)" for piece, mean, times in items)

    if signal == SURPRISE:
        return f"On average over this text, hardest to predict: {listed(high)}; easiest: {listed(low)}."
    return f"On average over this text, highest at {listed(high)}; lowest at {listed(low)}."


@dataclass
class View:
    """Everything the app's "Look inside" section shows for one reading, signal and unit."""

    # (token, colour) for gradio's HighlightedText; a line break shows as "↵" ending its line, so that
    # its colour can be seen (the model reads it as a token like any other)
    highlights: list[tuple[str, float | None]]
    cell: str  # "LSTM" or "GRU"
    signal: str
    signal_choices: list[tuple[str, str]]
    unit: str
    unit_choices: list[tuple[str, str]]
    note: str


def view(reading: Reading, signal: str | None, unit: str | None, origin: str) -> View:
    """The reading coloured by ``signal`` at ``unit`` (a unit field's value). A signal this cell lacks
    (a GRU has no forget gate) falls back to surprise, and says so."""
    fallback = ""
    if signal not in SIGNALS[reading.cell]:
        if signal:
            fallback = f"A {reading.cell.upper()} has no {signal} signal: showing surprise.\n\n"
        signal = SURPRISE
    chosen = parse_unit(unit) if signal != SURPRISE else None
    scores = reading.scores(signal, chosen)
    units = unit_choices(reading, signal, keep=chosen)
    return View(
        highlights=[(piece.replace("\n", "↵\n"), score) for piece, score in zip(reading.pieces, scores)],
        cell=reading.cell.upper(),
        signal=signal,
        signal_choices=signal_choices(reading.cell),
        unit=unit_value(chosen) if chosen is not None else MEAN,
        unit_choices=units,
        note=fallback + describe(reading, signal, chosen, origin),
    )
