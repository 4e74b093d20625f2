"""Character and word (spaCy) tokenizers: exact round trips, vocabulary rules, spaCy loaded only on demand."""

import subprocess
import textwrap

import pytest
import torch

from rnn_demo.errors import UserError
from rnn_demo.tokenizers import UNK, CharTokenizer, WordTokenizer, fit_tokenizer, tokenizer_from_config
from tests.helpers import PYTHON, python_env

TRICKY = (
    "  Leading spaces, \"quotes\" and 'apostrophes' -- don't stop!\n"
    "\n"
    "\tTabs,\ttrailing spaces   \n"
    "Numbers: 3.14, 1,000; e-mail me@example.com... (parens) [brackets]?\n"
    "Unicode: café — naïve “curly” 你好 😀\n"
    "\n\n"
    "last line without a newline"
)


def test_char_round_trip_is_exact():
    tokenizer, ids = fit_tokenizer("char", TRICKY)
    assert tokenizer.decode(ids) == TRICKY
    assert tokenizer.decode(tokenizer.encode(TRICKY)) == TRICKY
    assert set(tokenizer.vocab[1:]) == set(TRICKY)  # min_freq 1: every character
    assert ids.dtype == torch.long and ids.numel() == len(TRICKY)


def test_char_unknowns_become_unk_and_are_listed():
    tokenizer, _ = fit_tokenizer("char", "abc abc")
    assert tokenizer.encode("abxd").tolist() == [tokenizer.index["a"], tokenizer.index["b"], 0, 0]
    assert tokenizer.unknown_pieces("abxdx") == ["x", "d"]


def test_word_round_trip_is_exact():
    tokenizer, ids = fit_tokenizer("word", TRICKY, min_freq=1)
    assert tokenizer.decode(ids) == TRICKY
    assert tokenizer.decode(tokenizer.encode(TRICKY)) == TRICKY
    assert 0 not in ids.tolist()


def test_word_pieces_keep_their_trailing_whitespace():
    tokenizer = WordTokenizer([UNK])
    assert tokenizer.pieces("Hello, world.\nBye now") == ["Hello", ", ", "world", ".", "\n", "Bye ", "now"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_literal_unk_marker_stays_one_word_and_is_the_unknown_token(lang):
    """WikiText's own <unk>: one vocabulary entry (id 0), not a second "<unk> " the sampler would write."""
    text = "The <unk> river (<unk>), near <unk>.\n<unk><unk> and the <unk> "
    tokenizer, ids = fit_tokenizer("word", text * 3, lang=lang, min_freq=1)
    pieces = tokenizer.pieces(text)
    assert "<unk> " in pieces and "<unk>" in pieces
    assert not any("unk" in piece and piece.strip() != UNK for piece in pieces)  # no "<", "unk>" fragments
    assert [piece for piece in tokenizer.vocab if "unk" in piece] == [UNK]
    assert ids.tolist().count(0) == 6 * 3 and tokenizer.encode("<unk> <unk>.").tolist()[:2] == [0, 0]
    # Its trailing whitespace goes, as an unknown word's does; everything else is exact.
    assert tokenizer.decode(ids) == (text * 3).replace("<unk> ", "<unk>")
    assert tokenizer.unknown_pieces(text + "猫") == ["猫"]  # the literal is the unknown token, not unknown


def test_an_old_vocabulary_with_a_spaced_unk_entry_keeps_its_id():
    """Models trained before a literal <unk> meant id 0 learned "<unk> " as a word: they read it so still."""
    tokenizer = WordTokenizer([UNK, "<unk> ", "the "])
    assert tokenizer.encode("the <unk> the").tolist() == [2, 1, 0]


@pytest.mark.parametrize(
    "lang, text, separator",
    [("en", "the cat sees the dog. the dog sees the cat!\n", " "), ("zh", "床前明月光，疑是地上霜。\n", ""), ("en", "床前明月光，疑是地上霜。\n", "")],
)
def test_the_word_separator_is_read_off_the_vocabulary(lang, text, separator):
    """Chinese has no spaces between words, whether spaCy's zh rules or the English ones cut it."""
    tokenizer, _ = fit_tokenizer("word", text * 5, lang=lang, min_freq=1)
    assert tokenizer.separator == separator


def test_word_tokenizer_handles_a_long_text_line_by_line():
    text = "The quick brown fox jumps over the lazy dog. Again!\n" * 25_000  # over spaCy's 1M-char limit
    tokenizer, ids = fit_tokenizer("word", text)
    assert len(text) > 1_000_000
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize(
    "lang, text",
    [("zh", "我爱自然语言处理。今天天气很好！\n我们去公园吧。"), ("xx", "Привет, мир! Ça va? Γειά σου κόσμε.\nHello again.")],
)
def test_other_spacy_languages_round_trip(lang, text):
    tokenizer, ids = fit_tokenizer("word", text, lang=lang, min_freq=1)
    assert tokenizer.lang == lang
    assert tokenizer.decode(ids) == text
    assert len(tokenizer.pieces(text)) > 5  # actually segmented, not one piece per line
    restored = tokenizer_from_config(tokenizer.to_config())
    assert restored.lang == lang and restored.decode(restored.encode(text)) == text


def test_unknown_language_is_a_user_error():
    with pytest.raises(UserError, match="spaCy cannot tokenize language 'qq'"):
        fit_tokenizer("word", "some text here", lang="qq")


def test_word_min_freq_defaults_to_two():
    text = "the cat sat on the mat . the cat ran ."
    tokenizer, ids = fit_tokenizer("word", text)
    assert tokenizer.vocab == [UNK, "the ", "cat "]  # every other piece is seen once
    assert tokenizer.decode(ids) == f"the cat {UNK * 2}the {UNK * 2}the cat {UNK * 2}"
    assert tokenizer.unknown_pieces("the dog sat") == ["dog ", "sat"]
    everything, _ = fit_tokenizer("word", text, min_freq=1)
    assert "sat " in everything.vocab


def test_max_vocab_caps_the_vocabulary_keeping_the_most_frequent():
    text = "a" * 50 + "b" * 40 + "c" * 30 + "d" * 20 + "e" * 10
    tokenizer, ids = fit_tokenizer("char", text, max_vocab=4)
    assert tokenizer.vocab == [UNK, "a", "b", "c"]
    assert tokenizer.vocab_size == 4
    assert (ids == 0).sum().item() == 30  # every d and e
    with pytest.raises(UserError, match="max_vocab must be at least 2"):
        fit_tokenizer("char", text, max_vocab=1)


def test_empty_vocabulary_is_refused_with_remedies_the_app_offers_too():
    with pytest.raises(UserError, match="no character of the training text appears 5 times: upload more text or lower"):
        fit_tokenizer("char", "abcd", min_freq=5)
    with pytest.raises(UserError, match="no word of the training text appears 2 times: upload more text, use character tokens,"):
        fit_tokenizer("word", "every word here is new", lang="en")


def test_vocabulary_order_is_deterministic():
    text = "banana bandana"
    assert fit_tokenizer("char", text)[0].vocab == fit_tokenizer("char", text)[0].vocab == [UNK, "a", "n", "b", " ", "d"]


def test_unknown_tokenizer_kind_is_a_user_error():
    with pytest.raises(UserError, match="unknown tokenizer 'bpe'"):
        fit_tokenizer("bpe", "text")
    with pytest.raises(UserError, match="unknown tokenizer type 'bpe'"):
        tokenizer_from_config({"type": "bpe", "vocab": [UNK]})
    with pytest.raises(UserError, match="must start with <unk>"):
        CharTokenizer(["a", "b"])


def test_config_round_trip():
    char, _ = fit_tokenizer("char", TRICKY)
    restored = tokenizer_from_config(char.to_config())
    assert isinstance(restored, CharTokenizer) and restored.vocab == char.vocab


def test_spacy_and_gradio_are_not_imported_for_char_level_work(tmp_path):
    """Char-level training, saving, loading and sampling never import spaCy (slow) or gradio."""
    script = textwrap.dedent(
        f"""
        import sys
        import rnn_demo.cli, rnn_demo.catalog, rnn_demo.hub, rnn_demo.data
        from rnn_demo import checkpoint
        from rnn_demo.generate import generate_text
        from rnn_demo.config import TrainConfig
        from rnn_demo.train import Trainer
        config = TrainConfig(embedding_size=8, hidden_size=16, seq_len=16, batch_size=4, seconds=None, steps=3, device="cpu", threads=1)
        trainer = Trainer("hello world, hello there. " * 200, config)
        for _ in trainer.run():
            pass
        trainer.save({str(tmp_path / "ck")!r})
        generate_text(checkpoint.load_model({str(tmp_path / "ck")!r}), length=20, seed=0)
        print(sorted(m for m in ("spacy", "gradio", "thinc") if m in sys.modules))
        """
    )
    result = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, env=python_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_word_pieces_are_exactly_spacys_tokens_line_by_line(lang):
    """The chunk cache must not change a single token against running spaCy on each whole line."""
    import random

    from rnn_demo.tokenizers import blank_pipeline

    rng = random.Random(0)
    alphabet = ["a", "cat", "Dog", "don't", "U.S.", "e-mail", "http://x.org/a?b=1", "3.5", "$10", ",", ".", "!",
                "(", ")", '"', "'", " ", " ", "  ", "\t", "\xa0", "中文", "，", "。", ":-)", "..."]  # fmt: skip
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(600)]
    text = "\n".join(lines)
    nlp = blank_pipeline(lang)
    expected = []
    for n, line in enumerate(lines):
        if n:
            expected.append("\n")
        expected.extend(token.text_with_ws for token in nlp.tokenizer(line))
    assert WordTokenizer([UNK], lang).pieces(text) == expected
