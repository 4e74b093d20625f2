"""Sampling text from a trained model, one token at a time, streamed as it is produced.

The prompt is run through the model first (priming its state); then each step turns the
next-token logits into a choice: greedy at temperature 0, otherwise sampling from the softmax of
``logits / temperature`` restricted to the ``top_k`` most likely tokens and to the smallest set
whose probability reaches ``top_p`` (nucleus sampling). A seeded generator makes it repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch

from .errors import UserError
from .model import RNNLanguageModel

MAX_LENGTH = 10_000


def check_settings(length: int, temperature: float, top_k: int, top_p: float) -> None:
    if not 1 <= length <= MAX_LENGTH:
        raise UserError(f"length must be between 1 and {MAX_LENGTH:,}, got {length}")
    if temperature < 0:
        raise UserError(f"temperature must be ≥ 0 (0 = always the likeliest token), got {temperature}")
    if top_k < 0:
        raise UserError(f"top-k must be ≥ 0 (0 = no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise UserError(f"top-p must be in (0, 1], got {top_p}")


class Generation:
    """Iterate to get text pieces; ``unknown`` lists prompt pieces the vocabulary lacks.

    Unknown prompt characters are skipped (a character model never saw ``<unk>`` in training);
    unknown words become ``<unk>`` (a word model did).
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
        check_settings(length, temperature, top_k, top_p)
        self.model = model
        self.length, self.temperature, self.top_k, self.top_p = length, temperature, top_k, top_p
        self.seed = random.randrange(2**31) if seed is None else int(seed)
        tokenizer = model.tokenizer
        self.unknown = tokenizer.unknown_pieces(prompt) if prompt else []
        ids = tokenizer.encode(prompt).tolist() if prompt else []
        if tokenizer.kind == "char":
            ids = [i for i in ids if i != 0]
        self.prompt_ids = ids

    def __iter__(self) -> Iterator[str]:
        model, vocab = self.model, self.model.tokenizer.vocab
        device = next(model.parameters()).device
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        with torch.inference_mode():
            state = model.initial_state(1, device)
            # Prime with the prompt; with none, start as after a line break (or the commonest token).
            primer = self.prompt_ids or [model.tokenizer.index.get("\n", 1)]
            token = torch.tensor([primer[0]], device=device)
            for next_id in primer[1:]:
                _, state = model.step(token, state)
                token.fill_(next_id)
            for _ in range(self.length):
                logits, state = model.step(token, state)
                choice = self._choose(logits[0].float().cpu(), generator)
                token.fill_(choice)
                yield vocab[choice]

    def _choose(self, logits: torch.Tensor, generator: torch.Generator) -> int:
        if logits.numel() > 1:
            logits[0] = -float("inf")  # never emit <unk>
        if self.temperature == 0:
            return int(logits.argmax())
        logits = logits / self.temperature
        if 0 < self.top_k < logits.numel():
            cutoff = torch.topk(logits, self.top_k).values[-1]
            logits = logits.masked_fill(logits < cutoff, -float("inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            # Keep tokens until the mass *before* each reaches top_p, so at least one survives.
            drop = sorted_probs.cumsum(0) - sorted_probs >= self.top_p
            probs = probs.index_fill(0, order[drop], 0.0)
        return int(torch.multinomial(probs, 1, generator=generator))


def generate_text(model: RNNLanguageModel, prompt: str = "", **settings) -> str:
    """The prompt followed by ``length`` generated tokens, as one string."""
    return prompt + "".join(Generation(model, prompt, **settings))
