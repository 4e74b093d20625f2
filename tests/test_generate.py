"""The sampler: repeatable with a seed, greedy at temperature 0, top-k / top-p honoured, prompts handled."""

import math
import threading
from collections import Counter

import pytest
import torch

from rnn_demo import checkpoint as ckpt
from rnn_demo.errors import UserError
from rnn_demo.generate import Generation, generate_text
from rnn_demo.model import RNNLanguageModel
from rnn_demo.tokenizers import UNK, CharTokenizer, fit_tokenizer

PROBABILITIES = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}


@pytest.fixture(scope="module")
def model(checkpoint):
    return ckpt.load_model(checkpoint)


@pytest.fixture(scope="module")
def fixed_distribution() -> RNNLanguageModel:
    """A model whose next-token distribution is PROBABILITIES whatever the state, and which
    would pick <unk> above all if allowed: its decoder ignores the hidden state."""
    tokenizer = CharTokenizer([UNK, *PROBABILITIES])
    model = RNNLanguageModel(tokenizer.to_config(), embedding_size=4, hidden_size=4).eval()
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.copy_(torch.tensor([20.0, *(math.log(p) for p in PROBABILITIES.values())]))
    return model


def _greedy_reference(model: RNNLanguageModel, prompt_ids: list[int], length: int) -> list[int]:
    """Greedy decoding through the model's plain forward pass (the sampler uses a faster path)."""
    ids, out = list(prompt_ids), []
    with torch.no_grad():
        logits, state = model(torch.tensor([ids]))
        for _ in range(length):
            scores = logits[0, -1].clone()
            scores[0] = -math.inf
            out.append(int(scores.argmax()))
            logits, state = model(torch.tensor([[out[-1]]]), state)
    return out


def test_same_seed_same_text_different_seeds_different_text(model):
    first = generate_text(model, "The cat", length=200, seed=7)
    assert first == generate_text(model, "The cat", length=200, seed=7)
    others = {generate_text(model, "The cat", length=200, seed=s) for s in range(8, 12)}
    assert first not in others and len(others) == 4


def test_unseeded_generation_reports_its_seed(model):
    generation = Generation(model, length=100, seed=None)
    text = "".join(generation)
    assert "".join(Generation(model, length=100, seed=generation.seed)) == text


def test_streams_one_piece_per_token_and_returns_the_prompt_first(model):
    pieces = list(Generation(model, "A bird", length=30, seed=0))
    assert len(pieces) == 30 and all(isinstance(p, str) and len(p) == 1 for p in pieces)
    assert generate_text(model, "A bird", length=30, seed=0) == "A bird" + "".join(pieces)


@pytest.mark.parametrize("settings", [{}, {"top_k": 5}], ids=["gumbel", "top-k"])
def test_a_stream_resumed_on_other_threads_leaves_every_thread_as_it_was(model, settings):
    """A server resumes a stream on whichever thread is free: each piece must leave that thread's
    grad and inference modes as they were (held across a yield, inference mode broke the next
    training step on the pausing thread, and the sampler on the resuming one)."""
    expected = generate_text(model, "The", length=40, seed=3, **settings)  # several blocks of STREAM_BLOCK
    stream, pieces, seen = iter(Generation(model, "The", length=40, seed=3, **settings)), [], []

    def next_piece() -> None:
        pieces.append(next(stream))
        seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    for _ in range(40):
        thread = threading.Thread(target=next_piece)
        thread.start()
        thread.join()
    assert "The" + "".join(pieces) == expected
    assert seen == [(True, False)] * 40
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("prompt", ["", "The dog sees"])
def test_temperature_zero_is_greedy_and_ignores_the_seed(cell, prompt):
    torch.manual_seed(0)
    tokenizer, _ = fit_tokenizer("char", "The dog sees the cat.\nA bird likes the river!")
    model = RNNLanguageModel(tokenizer.to_config(), cell=cell, embedding_size=8, hidden_size=16, num_layers=2).eval()
    generated = [Generation(model, prompt, length=40, temperature=0, seed=s) for s in (0, 1)]
    texts = ["".join(g) for g in generated]
    assert texts[0] == texts[1]
    primer = tokenizer.encode(prompt).tolist() if prompt else [tokenizer.index["\n"]]
    assert texts[0] == tokenizer.decode(_greedy_reference(model, primer, 40))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampling_leaves_the_model_untouched_even_with_size_one_layers(cell):
    """The sampler rescales its own copies of the weights; a (4H, 1) weight transposed is already
    "contiguous", so a careless copy would alias the model's parameter and double it."""
    tokenizer, _ = fit_tokenizer("char", "abcabcabd")
    model = RNNLanguageModel(tokenizer.to_config(), cell=cell, embedding_size=1, hidden_size=1).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    texts = [generate_text(model, "ab", length=20, temperature=0) for _ in range(2)]
    assert texts[0] == texts[1]
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_top_k_one_and_tiny_top_p_equal_greedy(model):
    greedy = generate_text(model, "The ", length=120, temperature=0)
    for seed in (0, 1, 2):
        assert generate_text(model, "The ", length=120, temperature=1.0, top_k=1, seed=seed) == greedy
        assert generate_text(model, "The ", length=120, temperature=1.0, top_p=1e-6, seed=seed) == greedy


def _counts(model, n=3000, **settings) -> Counter:
    return Counter(Generation(model, length=n, seed=0, **settings))


def test_sampling_follows_the_distribution_and_never_emits_unk(fixed_distribution):
    counts = _counts(fixed_distribution, temperature=1.0)
    assert set(counts) == set(PROBABILITIES)  # <unk> has by far the highest logit, yet never appears
    for piece, p in PROBABILITIES.items():
        assert counts[piece] / 3000 == pytest.approx(p, abs=0.04)
    assert set(_counts(fixed_distribution, n=200, temperature=0)) == {"a"}


def test_top_k_and_top_p_restrict_the_choice(fixed_distribution):
    assert set(_counts(fixed_distribution, temperature=1.0, top_k=2)) == {"a", "b"}
    assert set(_counts(fixed_distribution, temperature=1.0, top_k=3)) == {"a", "b", "c"}
    assert set(_counts(fixed_distribution, temperature=1.0, top_p=0.7)) == {"a", "b"}  # 0.5 + 0.3 reaches 0.7
    assert set(_counts(fixed_distribution, temperature=1.0, top_p=0.85)) == {"a", "b", "c"}
    restricted = _counts(fixed_distribution, temperature=1.0, top_k=2)
    assert restricted["a"] / 3000 == pytest.approx(0.5 / 0.8, abs=0.04)  # renormalised over the kept tokens


def test_temperature_flattens_or_sharpens(fixed_distribution):
    sharp, flat = _counts(fixed_distribution, temperature=0.3), _counts(fixed_distribution, temperature=3.0)
    assert sharp["a"] > 2350 and flat["d"] > 400  # p^(1/T) renormalised: a 0.83 at T=0.3, d 0.16 at T=3


def test_unknown_prompt_characters_are_reported_and_skipped(model):
    generation = Generation(model, "The ☃ cat€", length=50, seed=3)
    assert generation.unknown == ["☃", "€"]
    text = "".join(generation)
    assert text == "".join(Generation(model, "The  cat", length=50, seed=3))
    assert UNK not in text


def test_prompt_of_only_unknown_characters_still_generates(model):
    generation = Generation(model, "☃☃", length=20, seed=0)
    assert generation.unknown == ["☃"] and len("".join(generation)) == 20


def test_word_model_maps_unknown_prompt_words_to_unk_and_never_emits_it():
    text = "the cat sees the dog . the dog sees the cat .\n" * 20
    tokenizer, _ = fit_tokenizer("word", text)
    torch.manual_seed(0)
    model = RNNLanguageModel(tokenizer.to_config(), embedding_size=8, hidden_size=16).eval()
    with torch.no_grad():
        model.decoder.bias[0] = 50.0  # <unk> would win every time if it could
    generation = Generation(model, "the zebra sees ", length=60, seed=1)
    assert generation.unknown == ["zebra "]
    assert generation.prompt_ids == [tokenizer.index["the "], 0, tokenizer.index["sees "]]
    pieces = list(generation)
    assert UNK not in pieces and all(p in tokenizer.vocab for p in pieces)


def test_word_prompt_ending_mid_sentence_continues_after_a_space():
    """spaCy keeps a word's trailing space: "sees" at the prompt's end must meet "sees " in the vocabulary."""
    text = "the cat sees the dog . the dog sees the cat .\n" * 20
    tokenizer, _ = fit_tokenizer("word", text)
    torch.manual_seed(0)
    model = RNNLanguageModel(tokenizer.to_config(), embedding_size=8, hidden_size=16).eval()
    generation = Generation(model, "the cat sees", length=5, seed=1)
    assert generation.unknown == []
    assert generation.prompt_ids[-1] == tokenizer.index["sees "]
    pieces = list(generation)
    assert pieces[0].startswith(" ") and pieces[0][1:] in tokenizer.vocab
    assert all(p in tokenizer.vocab for p in pieces[1:])


def _word_model_writing(text: str, first: str, lang: str = "en") -> RNNLanguageModel:
    """A word model whose greedy choice is always ``first``: its decoder ignores the hidden state."""
    tokenizer, _ = fit_tokenizer("word", text, lang=lang)
    model = RNNLanguageModel(tokenizer.to_config(), embedding_size=8, hidden_size=16).eval()
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
        model.decoder.bias[tokenizer.index[first]] = 10.0
    return model


@pytest.mark.parametrize(
    "prompt, first, expected",
    [
        ("the zebra", "sees ", "the zebra sees sees "),  # was "the zebrasees sees "
        ("the <unk>", "sees ", "the <unk> sees sees "),
        ("the zebra", ". ", "the zebra. . "),  # punctuation attaches, as in the text the model read
        ("the zebra ", "sees ", "the zebra sees sees "),
        ("the zebra\n", "sees ", "the zebra\nsees sees "),
    ],
)
def test_word_prompt_ending_in_an_unknown_word_is_not_glued_to_the_continuation(prompt, first, expected):
    model = _word_model_writing("the cat sees the dog . the dog sees the cat .\n" * 20, first)
    assert generate_text(model, prompt, length=2, temperature=0) == expected


def test_chinese_word_prompt_ending_in_an_unknown_character_takes_no_space():
    model = _word_model_writing("床前明月光，疑是地上霜。\n" * 20, "月", lang="zh")
    generation = Generation(model, "床前猫", length=2, temperature=0)
    assert generation.unknown == ["猫"] and "".join(generation) == "月月"


def test_a_literal_unk_in_a_word_prompt_is_the_unknown_token_not_an_unknown_word():
    model = _word_model_writing("the cat sees the dog . the dog sees the cat .\n" * 20, "sees ")
    generation = Generation(model, "the <unk> sees", length=2, temperature=0)
    assert generation.unknown == [] and generation.prompt_ids[1] == 0


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"length": 0}, "length must be between 1 and 10,000"),
        ({"length": 10_001}, "length must be between 1 and 10,000"),
        ({"temperature": -0.5}, "temperature must be 0"),
        ({"temperature": float("nan")}, "temperature must be 0"),
        ({"temperature": float("inf")}, "temperature must be 0"),
        ({"temperature": 1e-40}, "temperature must be 0"),
        ({"top_k": -1}, "top-k must be ≥ 0"),
        ({"top_p": 0.0}, r"top-p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top-p must be in \(0, 1\]"),
        ({"top_p": float("nan")}, r"top-p must be in \(0, 1\]"),
    ],
)
def test_bad_settings_are_user_errors(model, settings, message):
    with pytest.raises(UserError, match=message):
        Generation(model, "x", **settings)
