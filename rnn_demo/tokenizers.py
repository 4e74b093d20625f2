"""Text ⇄ token ids, at the character level or the word level (spaCy's tokenizer).

Both keep text exact: ``decode(encode(text)) == text`` for in-vocabulary text. The word tokenizer
attaches each token's trailing whitespace to it (``"Hello "``, ``","``, ``"world"``, ``"\\n"``),
so generated text reads as ordinary prose instead of ``word , word .``.

The vocabulary is built from the training split only; pieces seen fewer than ``min_freq`` times,
or beyond ``max_vocab``, become ``<unk>`` (id 0), so a huge vocabulary can't exhaust memory. A
literal ``<unk>`` in the text (WikiText marks its rare words so) is read as that same id 0, like
any unknown word: it decodes to a bare ``<unk>`` (its trailing whitespace, as an unknown word's, is
not kept), and the sampler never writes it.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from .config import DEFAULT_MAX_VOCAB
from .errors import UserError

UNK = "<unk>"
_CHUNK = re.compile(r"\s*\S+\s*|\s+")  # a word with the whitespace around it (leading only at a line's start)
KINDS = ("char", "word")
DEFAULT_MIN_FREQ = {"char": 1, "word": 2}  # the tutorial's min_freq=2 for words
# The upload summary mentions the share of <unk> tokens from NOTICEABLE_UNKNOWN_SHARE on, and warns
# from LARGE_UNKNOWN_SHARE on: a model then mostly learns to predict <unk>, and its loss looks far
# better than its text (a file of numbers, word-level: 87 % <unk>, loss 0.000). English prose at
# the default min_freq of 2 has a few %: the words seen once.
NOTICEABLE_UNKNOWN_SHARE = 0.01
LARGE_UNKNOWN_SHARE = 0.2
# A word vocabulary whose words end in a space this often comes from a language that separates its
# words with spaces (English: ~70 % of them); spaCy's blank Chinese, or Chinese text cut by the
# English rules, has almost none.
SPACED_WORDS_SHARE = 0.25
# A text whose letters are this often Chinese characters needs the zh word language: the other
# languages' rules split words at spaces, which Chinese has none of, so they keep whole phrases
# ("寒随穷律变") as words, most of them seen once (the upload summary says so).
MOSTLY_HAN_SHARE = 0.5
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class Tokenizer:
    """A vocabulary plus a way to cut text into pieces; ids index ``vocab``."""

    kind: str

    def __init__(self, vocab: Sequence[str]) -> None:
        if not vocab or vocab[0] != UNK:
            raise UserError(f"vocabulary must start with {UNK}")
        self.vocab = list(vocab)
        self.index = {piece: i for i, piece in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def pieces(self, text: str) -> Sequence[str]:
        raise NotImplementedError

    def encode_pieces(self, pieces: Sequence[str]) -> torch.Tensor:
        index = self.index
        return torch.tensor([index.get(p, 0) for p in pieces], dtype=torch.long)

    def encode(self, text: str) -> torch.Tensor:
        return self.encode_pieces(self.pieces(text))

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        vocab = self.vocab
        return "".join(vocab[i] for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids))

    def is_known(self, piece: str) -> bool:
        """In the vocabulary, or a literal ``<unk>``, which stands for the unknown token itself."""
        return piece in self.index or is_unk_literal(piece)

    def unknown_pieces(self, text: str) -> list[str]:
        """The pieces of ``text`` outside the vocabulary, each once, in order of appearance."""
        return list(dict.fromkeys(p for p in self.pieces(text) if not self.is_known(p)))

    def to_config(self) -> dict:
        return {"type": self.kind, "vocab": self.vocab}


class CharTokenizer(Tokenizer):
    kind = "char"

    def pieces(self, text: str) -> str:
        return text  # a str is already a sequence of characters

    def encode_pieces(self, pieces: Sequence[str]) -> torch.Tensor:
        # Vectorised through code points: ~50× faster than a dict lookup per character on MBs.
        codes = np.frombuffer("".join(pieces).encode("utf-32-le"), dtype=np.uint32)
        unique, inverse = np.unique(codes, return_inverse=True)
        ids = np.array([self.index.get(chr(c), 0) for c in unique], dtype=np.int64)
        return torch.from_numpy(ids[inverse])


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, vocab: Sequence[str], lang: str = "en") -> None:
        super().__init__(vocab)
        self.lang = lang

    def pieces(self, text: str) -> list[str]:
        """spaCy's tokens with their trailing whitespace, and ``"\n"`` between lines.

        spaCy's tokenizer splits at whitespace first and only then applies its rules inside each
        piece, so a line cut into ``word + its whitespace`` chunks tokenizes chunk by chunk to the
        same tokens (checked on 10 MB of English and on fuzzed lines in en/de/zh/xx). Real text
        repeats its words, so each distinct chunk goes through spaCy once: 10 MB of English in
        ~1.6 s instead of ~6.6 s line by line.
        """
        tokenize = blank_pipeline(self.lang).tokenizer
        known: dict[str, list[str]] = {}
        pieces: list[str] = []
        for n, line in enumerate(text.split("\n")):
            if n:
                pieces.append("\n")
            for chunk in _CHUNK.findall(line):
                tokens = known.get(chunk)
                if tokens is None:
                    tokens = known[chunk] = _chunk_pieces(chunk, tokenize)
                pieces.extend(tokens)
        return pieces

    @functools.cached_property
    def separator(self) -> str:
        """What usually follows a word: ``" "``, or ``""`` for a script written without spaces.

        Read off the vocabulary (its words keep their trailing space), not the language setting:
        Chinese text cut by the English rules has no spaces either.
        """
        words = [p for p in self.vocab[1:] if any(c.isalnum() for c in p)]
        spaced = sum(p.endswith(" ") for p in words)
        return " " if words and spaced >= SPACED_WORDS_SHARE * len(words) else ""

    def to_config(self) -> dict:
        return {**super().to_config(), "lang": self.lang}


def _chunk_pieces(chunk: str, tokenize) -> list[str]:
    """One chunk's pieces, with a literal ``<unk>`` kept whole (and its trailing whitespace on it).

    Corpora such as WikiText mark their rare words with ``<unk>``; spaCy would cut it into
    ``<``, ``unk``, ``>``, and a model would then learn, and write, fragments like ``unk>``. Kept
    whole, it is read as the unknown token (:func:`is_unk_literal`).
    """
    if UNK not in chunk:
        return [token.text_with_ws for token in tokenize(chunk)]
    pieces: list[str] = []
    for n, part in enumerate(chunk.split(UNK)):
        if n:
            pieces.append(UNK)
        if part.isspace() and pieces:
            pieces[-1] += part
        elif part:
            pieces.extend(token.text_with_ws for token in tokenize(part))
    return pieces


def is_unk_literal(piece: str) -> bool:
    """A literal ``<unk>`` piece (with any trailing whitespace): encoded as id 0, never a word of its own.

    Kept apart, ``"<unk> "`` became a second unknown token that the sampler, which never writes
    id 0, wrote all the same.
    """
    return piece.rstrip() == UNK


def han_share(text: str, sample: int = 100_000) -> float:
    """The share of Chinese characters among the letters of ``text`` (its first ``sample`` characters)."""
    head = text[:sample]
    letters = sum(ch.isalpha() for ch in head)  # Chinese characters are letters too (category Lo)
    return len(_HAN.findall(head)) / letters if letters else 0.0


def format_share(share: float) -> str:
    """``12.3 %``; a share that rounds to zero without being zero reads ``< 0.1 %``."""
    return "< 0.1 %" if 0 < share < 0.0005 else f"{share * 100:.1f} %"


def blank_pipeline(lang: str):
    """``spacy.blank(lang)``: the tokenizer rules alone, no model download. Imported on demand."""
    import spacy  # slow to import (~5 s): only when word level is asked for

    try:
        return spacy.blank(lang)
    except (ImportError, KeyError, ValueError) as error:
        raise UserError(f"spaCy cannot tokenize language {lang!r} without extra packages ({error})") from None


def build_vocab(pieces: Sequence[str], min_freq: int, max_vocab: int) -> list[str]:
    """``<unk>`` then the pieces seen at least ``min_freq`` times, most frequent first (a literal ``<unk>`` is id 0)."""
    counts = Counter(pieces)
    for piece in [p for p in counts if is_unk_literal(p)]:
        del counts[piece]
    ranked = sorted((p for p, n in counts.items() if n >= min_freq), key=lambda p: (-counts[p], p))
    return [UNK] + ranked[: max_vocab - 1]


def fit_tokenizer(
    kind: str,
    train_text: str,
    *,
    lang: str = "en",
    min_freq: int | None = None,
    max_vocab: int = DEFAULT_MAX_VOCAB,
) -> tuple[Tokenizer, torch.Tensor]:
    """Build the vocabulary on the training text; return the tokenizer and that text's ids."""
    if kind not in KINDS:
        raise UserError(f"unknown tokenizer {kind!r}: choose char or word")
    if max_vocab < 2:
        raise UserError("max_vocab must be at least 2")
    min_freq = DEFAULT_MIN_FREQ[kind] if min_freq is None else min_freq
    empty = CharTokenizer([UNK]) if kind == "char" else WordTokenizer([UNK], lang)
    pieces = empty.pieces(train_text)
    vocab = build_vocab(pieces, min_freq, max_vocab)
    if len(vocab) < 2:  # a model over <unk> alone would train, then have nothing to generate
        remedies = "upload more text, use character tokens," if kind == "word" else "upload more text"
        raise UserError(
            f"the vocabulary is empty: no {'word' if kind == 'word' else 'character'} of the training text appears "
            f"{min_freq} times: {remedies} or lower the minimum count (the CLI's --min-freq)"
        )
    tokenizer = CharTokenizer(vocab) if kind == "char" else WordTokenizer(vocab, lang)
    return tokenizer, tokenizer.encode_pieces(pieces)


def tokenizer_from_config(config: dict) -> Tokenizer:
    kind = config.get("type")
    if kind == "char":
        return CharTokenizer(config["vocab"])
    if kind == "word":
        return WordTokenizer(config["vocab"], config.get("lang", "en"))
    raise UserError(f"unknown tokenizer type {kind!r} in config")
