"""Sampling text from a trained model, one token at a time, streamed as it is produced.

The prompt is run through the model first (priming its state); then each step turns the
next-token logits into a choice: greedy at temperature 0, otherwise sampling from the softmax of
``logits / temperature`` restricted to the ``top_k`` most likely tokens and to the smallest set
whose probability reaches ``top_p`` (nucleus sampling). A seeded generator makes it repeatable.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

import torch

from .config import MAX_LENGTH, MAX_PROMPT_CHARS
from .errors import UserError
from .model import RNNLanguageModel
from .tokenizers import Tokenizer

MIN_TEMPERATURE = 1e-3  # below, logits ÷ temperature overflow float32 and the draw is garbage
TABLE_LIMIT = 4_000_000  # floats (16 MB): above this, project the embedding at each step
NOISE_BLOCK = 64  # sampling steps whose Gumbel noise is drawn at once
STREAM_BLOCK = 16  # tokens drawn between yields (~1.3 ms of them at the default size)


def check_settings(length: int, temperature: float, top_k: int, top_p: float, prompt: str = "") -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"prompt must be at most {MAX_PROMPT_CHARS:,} characters, got {len(prompt):,}")
    if not 1 <= length <= MAX_LENGTH:
        raise UserError(f"length must be between 1 and {MAX_LENGTH:,}, got {length}")
    if not (temperature == 0 or MIN_TEMPERATURE <= temperature < math.inf):  # NaN fails too
        raise UserError(
            f"temperature must be 0 (always the likeliest token) or at least {MIN_TEMPERATURE:g}, got {temperature}"
        )
    if top_k < 0:
        raise UserError(f"top-k must be ≥ 0 (0 = no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise UserError(f"top-p must be in (0, 1], got {top_p}")


class Generation:
    """Iterate to get text pieces; ``unknown`` lists prompt pieces the vocabulary lacks.

    Unknown prompt characters are skipped (a character model never saw ``<unk>`` in training);
    unknown words become ``<unk>`` (a word model did), and a prompt ending in one still gets the
    space the model's words take before a generated word.
    """

    def __init__(
        self,
        model: RNNLanguageModel,
        prompt: str = "",
        *,
        length: int = 500,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        check_settings(length, temperature, top_k, top_p, prompt)
        self.model = model
        self.length, self.temperature, self.top_k, self.top_p = length, temperature, top_k, top_p
        # None or negative: a random seed, reported as .seed (as the app's -1; random.Random(-s) would repeat s)
        self.seed = random.randrange(2**31) if seed is None or seed < 0 else int(seed)
        tokenizer = model.tokenizer
        pieces = list(tokenizer.pieces(prompt)) if prompt else []
        # Text owed between the prompt and the first generated piece; if ``bridge_words_only``, only
        # when that piece is a word (not punctuation that attaches to the word before it).
        self.bridge, self.bridge_words_only = _prompt_bridge(tokenizer, pieces)
        self.unknown = list(dict.fromkeys(p for p in pieces if not tokenizer.is_known(p)))
        ids = tokenizer.encode_pieces(pieces).tolist() if pieces else []
        if tokenizer.kind == "char":
            ids = [i for i in ids if i != 0]
        if tokenizer.vocab_size < 2:
            raise UserError("the model's vocabulary is empty: nothing to generate")
        self.prompt_ids = ids

    def __iter__(self) -> Iterator[str]:
        # Inference mode is entered and left within each piece, never held across a ``yield``: it is
        # per thread, and a server resumes a stream on any of its threads. Held across, it stayed on
        # in the thread that paused the stream (whose next training step then had no gradients) and
        # was off in the one resuming it (where updating the sampler's tensors failed).
        vocab = self.model.tokenizer.vocab
        generator = random.Random(self.seed)
        with torch.inference_mode():
            stepper = _Stepper(self.model, self.temperature)
            # Prime with the prompt; with none, start as after a line break (or the commonest token).
            primer = self.prompt_ids or [self.model.tokenizer.index.get("\n", 1)]
            for token in primer[:-1]:
                stepper.advance(token)
        tokens = self._tokens(stepper, primer[-1], generator)
        bridge = self.bridge
        while True:
            with torch.inference_mode():  # per block of tokens: entering it per token cost 7–10 % of the speed
                block = list(itertools.islice(tokens, STREAM_BLOCK))
            if not block:
                return
            for token in block:
                piece = vocab[token]
                if bridge:
                    piece, bridge = (piece if self.bridge_words_only and _attaches(piece) else bridge + piece), ""
                yield piece

    def _tokens(self, stepper: "_Stepper", token: int, generator: random.Random) -> Iterator[int]:
        vocab_size = stepper.decoder_bias.numel()
        if self.temperature == 0 or 0 < self.top_k < vocab_size or self.top_p < 1.0:
            for _ in range(self.length):
                token = self._choose(stepper.logits(token), generator)
                yield token
            return
        # Plain sampling, the default: the Gumbel-max trick. argmax(logits + G) with G = −log E,
        # E ~ Exp(1), is a draw from softmax(logits); the noise for many steps comes from one call
        # and joins the decoder's bias, so a step is one product and an argmax (6 ops fewer).
        noise = torch.Generator().manual_seed(generator.getrandbits(63))
        for start in range(0, self.length, NOISE_BLOCK):
            rows = min(NOISE_BLOCK, self.length - start)
            exponential = torch.empty(rows, vocab_size).exponential_(generator=noise).clamp_min_(1e-30)
            for bias in (stepper.decoder_bias - exponential.log_()).unbind(0):
                token = stepper.draw(token, bias)
                yield token

    def _choose(self, logits: torch.Tensor, generator: random.Random) -> int:
        """Pick the next token from logits already divided by the temperature."""
        if self.temperature == 0:
            return int(logits.argmax())
        if 0 < self.top_k < logits.numel():
            cutoff = torch.topk(logits, self.top_k).values[-1]
            logits = logits.masked_fill(logits < cutoff, -float("inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            # Keep tokens until the mass *before* each reaches top_p, so at least one survives.
            drop = sorted_probs.cumsum(0) - sorted_probs >= self.top_p
            probs = probs.index_fill(0, order[drop], 0.0)
        # Inverse-CDF sampling: ~8× cheaper than torch.multinomial at a 6,000-token vocabulary.
        cumulative = probs.cumsum(0)
        draw = generator.random() * float(cumulative[-1])
        return min(int(torch.searchsorted(cumulative, draw)), logits.numel() - 1)


ATTACHING = frozenset(".,;:!?)]}%…'’”")  # a piece opening with one of these joins the word before it


def _prompt_bridge(tokenizer: Tokenizer, pieces: list[str]) -> tuple[str, bool]:
    """What goes between a word prompt's last word and the first generated piece, and whether only
    before a word. Words carry their trailing space (``"sees "``), so a prompt ending in a bare word
    would otherwise have the continuation glued to it.

    A known word (``"sees"`` meets ``"sees "`` in the vocabulary; ``pieces`` is changed to it) takes
    the space whatever follows: the model reads the word with its space. An unknown one is read as
    ``<unk>``, which stood for words before spaces and punctuation alike: the separator goes in
    unless the model continues with punctuation (``"zebra."``, ``"zebra sees"``, not ``"zebrasees"``).
    """
    index = tokenizer.index
    if tokenizer.kind != "word" or not pieces or pieces[-1][-1:].isspace() or index.get(pieces[-1], 0):
        return "", False  # no word at the end, or a known piece as it is (<unk>, id 0, is no known word)
    if index.get(pieces[-1] + " ", 0):
        pieces[-1] += " "
        return " ", False
    return tokenizer.separator, True


def _attaches(piece: str) -> bool:
    """Whether a piece joins the text before it with no separator: punctuation such as ``.``, or whitespace."""
    return piece[:1] in ATTACHING or piece[:1].isspace()


class _Stepper:
    """``model.step`` for batch 1, rearranged for speed (same numbers, fewer tensor ops).

    At batch 1 the time goes to per-op overhead, not arithmetic (NOTES §2), so the weights are
    transposed once, the state lives in per-layer tensors (no stacking per step; the LSTM writes
    its gates, cell and hidden state into buffers made once), the LSTM's four gates take one
    sigmoid (``tanh(a) = 2σ(2a) − 1`` for ``g``), the decoder is pre-divided by the temperature,
    and ``<unk>``'s bias is set to −∞ so it is never emitted.
    """

    def __init__(self, model: RNNLanguageModel, temperature: float) -> None:
        self.lstm = model.cell == "lstm"
        self.layers = []
        hidden = model.hidden_size
        for layer in range(model.num_layers):
            w_ih, w_hh, b_ih, b_hh = (w.float().cpu() for w in model._layer_weights(layer))
            # Copies (a transposed (n, 1) weight counts as contiguous, and .contiguous() would alias it).
            w_ih, w_hh = (w.t().clone(memory_format=torch.contiguous_format) for w in (w_ih, w_hh))
            bias = (b_ih + b_hh) if self.lstm else b_ih  # the GRU needs b_hh apart, inside r ⊙ (…)
            if self.lstm:  # g's pre-activation doubled: tanh(a) = 2σ(2a) − 1, one sigmoid for all four gates
                for tensor in (w_ih, w_hh, bias):
                    tensor[..., 2 * hidden : 3 * hidden] *= 2
            self.layers.append((w_ih, w_hh, bias.unsqueeze(0), b_hh.unsqueeze(0)))
        self.minus_one = torch.tensor(-1.0)
        # Layer 0's input projection of every token, when that table is small (character models).
        embedding = model.embedding.weight.float().cpu()
        w_ih, _, bias, _ = self.layers[0]
        self.input_table = torch.addmm(bias, embedding, w_ih) if embedding.shape[0] * w_ih.shape[1] <= TABLE_LIMIT else None
        self.embedding = embedding
        scale = 1.0 / temperature if temperature > 0 else 1.0
        self.decoder_weight = (model.decoder.weight.float().cpu().t() * scale).contiguous()
        self.decoder_bias = model.decoder.bias.float().cpu() * scale
        if self.decoder_bias.numel() > 1:
            self.decoder_bias[0] = -float("inf")
        self.h = [torch.zeros(1, model.hidden_size) for _ in range(model.num_layers)]
        self.c = [torch.zeros(1, model.hidden_size) for _ in range(model.num_layers)] if self.lstm else None
        if self.lstm:  # per layer: the gates' buffer and its i, f, g, o views; tanh(c)
            self.gates = [torch.empty(1, 4 * hidden) for _ in range(model.num_layers)]
            self.gate_views = [gates.chunk(4, 1) for gates in self.gates]
            self.tanh_c = [torch.empty(1, hidden) for _ in range(model.num_layers)]

    def advance(self, token: int) -> torch.Tensor:
        """Feed one token; return the top layer's new hidden state (1, hidden)."""
        x = self.embedding[token : token + 1]
        for n, (w_ih, w_hh, bias, b_hh) in enumerate(self.layers):
            if n == 0 and self.input_table is not None:
                projected = self.input_table[token : token + 1]
            else:
                projected = torch.addmm(bias, x, w_ih)
            if self.lstm:
                torch.addmm(projected, self.h[n], w_hh, out=self.gates[n]).sigmoid_()
                i, f, g, o = self.gate_views[n]
                torch.add(self.minus_one, g, alpha=2, out=g)  # g = tanh(a_g)
                cell = self.c[n].mul_(f).addcmul_(i, g)  # c = f ⊙ c + i ⊙ g
                torch.mul(o, torch.tanh(cell, out=self.tanh_c[n]), out=self.h[n])  # h = o ⊙ tanh(c)
            else:
                x_r, x_z, x_n = projected.chunk(3, 1)
                h_r, h_z, h_n = torch.addmm(b_hh, self.h[n], w_hh).chunk(3, 1)
                r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
                candidate = torch.addcmul(x_n, r, h_n).tanh()
                self.h[n] = torch.addcmul(candidate, z, self.h[n] - candidate)  # (1 − z) n + z h
            x = self.h[n]
        return x

    def logits(self, token: int) -> torch.Tensor:
        """Feed one token; return next-token logits ÷ temperature, shape (vocab,)."""
        return torch.addmm(self.decoder_bias, self.advance(token), self.decoder_weight)[0]

    def draw(self, token: int, bias: torch.Tensor) -> int:
        """Feed one token; return the next one, the likeliest under the logits plus ``bias`` (vocab,)."""
        return int(torch.addmm(bias, self.advance(token), self.decoder_weight).argmax())


def generate_text(model: RNNLanguageModel, prompt: str = "", **settings) -> str:
    """The prompt followed by ``length`` generated tokens, as one string."""
    return prompt + "".join(Generation(model, prompt, **settings))
