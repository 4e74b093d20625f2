"""The upload summary's speed estimate: on a CPU the recurrence is timed in the kernels training
runs, layer by layer, and the decoder estimated from its FLOPs; on CUDA, with the H200's measured
matmul speed, it follows what training did there."""

import random
import time

import pytest
import torch

from rnn_demo import recurrence, summary
from rnn_demo.devices import set_cpu_threads
from rnn_demo.summary import EFFICIENCY, STEP_OVERHEAD, estimate_tokens_per_second, layer_seconds
from rnn_demo.tokenizers import format_share
from rnn_demo.train import GPU_DEFAULTS, TrainConfig
from tests.helpers import tiny_config


@pytest.fixture
def probes():
    """The summary's probe cache, emptied before and after: a test may plant measurements in it."""
    saved = dict(summary._probes)
    summary._probes.clear()
    yield summary._probes
    summary._probes.clear()
    summary._probes.update(saved)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_cpu_estimate_is_the_timed_layers_plus_the_decoder(probes, cell):
    """Two layers of different input sizes are timed apart; the third reuses the second's timing."""
    set_cpu_threads(1)
    config = tiny_config(cell=cell, num_layers=3, hidden_size=40, embedding_size=12, batch_size=6, seq_len=20, precision="fp32")
    now = time.monotonic()
    probes[("cpu", 1, "fp32")] = (50e9, now)
    probes[("layer", cell, 6, 12, 40, "fp32", 1)] = ((0.7e-3, 5e-3), now)  # per time step, per window
    probes[("layer", cell, 6, 40, 40, "fp32", 1)] = ((0.4e-3, 3e-3), now)
    tokens = 6 * 20
    decoder = tokens * 6 * 40 * 30 / (EFFICIENCY["cpu"]["fp32"] * 50e9)
    recurrence_seconds = 20 * (0.7e-3 + 2 * 0.4e-3) + 5e-3 + 2 * 3e-3
    expected = tokens / (recurrence_seconds + decoder + STEP_OVERHEAD["cpu"])
    assert estimate_tokens_per_second(config, 30, torch.device("cpu")) == pytest.approx(expected)
    assert len(probes) == 3, "nothing else was timed"


def test_the_estimate_is_for_the_threads_training_will_use(probes):
    """A server thread keeps the thread count a tuned run left on it (say 1): the estimate must not."""
    set_cpu_threads(1)
    now = time.monotonic()
    probes[("cpu", 2, "fp32")] = (50e9, now)
    probes[("layer", "gru", 4, 8, 16, "fp32", 2)] = ((1e-3, 1e-3), now)
    config = tiny_config(cell="gru", hidden_size=16, embedding_size=8, batch_size=4, threads=2, precision="fp32")
    estimate_tokens_per_second(config, 20, torch.device("cpu"))
    assert sorted(probes) == [("cpu", 2, "fp32"), ("layer", "gru", 4, 8, 16, "fp32", 2)], "timed with 2 threads"
    assert torch.get_num_threads() == 1, "and this thread's count is left as it was"


def test_a_layer_is_timed_in_the_training_kernels_and_once_per_shape(probes, monkeypatch):
    set_cpu_threads(1)
    calls = []

    def recorded(x, *rest):
        calls.append((tuple(x.shape), x.dtype))
        return recurrence.LSTMLayer.apply(x, *rest)

    monkeypatch.setattr(recurrence, "lstm_layer", recorded)
    first = layer_seconds("lstm", 16, 24, 32, "fp32")
    per_step, per_window = first
    assert 0 < per_step < 1 and 0 <= per_window < 1
    steps, rows, inputs = calls[1][0]
    assert 2 <= steps <= 32 and (rows, inputs) == (16, 24)
    assert [shape[0] for shape, _ in calls] == [2 * steps] + [steps] * 2 + [2 * steps] * 2, "a warm-up, then n and 2n steps, twice each"
    assert layer_seconds("lstm", 16, 24, 32, "fp32") == first and len(calls) == 5, "measured once"
    layer_seconds("lstm", 16, 24, 48, "fp32")
    assert len(calls) == 10, "another shape is timed again"


def test_a_layers_cost_per_window_is_told_apart_from_its_cost_per_time_step(probes, monkeypatch):
    """Casting and packing the weights is paid once per window: divided by a short probe's length
    it made a 2048-wide model look 4.7x slower than it trains."""
    set_cpu_threads(1)

    real_step, real_window = layer_seconds("lstm", 4, 8, 8, "fp32")
    probes.clear()

    def slow(x, *rest):  # 40 ms more per call and 3 ms more per time step than the real layer
        time.sleep(0.040 + 0.003 * x.shape[0])
        return recurrence.LSTMLayer.apply(x, *rest)

    monkeypatch.setattr(recurrence, "lstm_layer", slow)
    per_step, per_window = layer_seconds("lstm", 4, 8, 8, "fp32")
    assert per_step - real_step == pytest.approx(0.003, abs=0.0007)
    assert per_window - real_window == pytest.approx(0.040, abs=0.010)


def test_a_big_layer_is_timed_on_fewer_rows_and_scaled_up(probes, monkeypatch):
    """Timing a 2048-wide layer at batch 256 would take seconds on every change of the summary."""
    set_cpu_threads(1)
    probes[("cpu", 1, "fp32")] = (100e9, time.monotonic())  # so the guess doesn't hang on this machine's speed
    shapes = []

    def recorded(x, *rest):
        shapes.append(tuple(x.shape))
        return recurrence.GRULayer.apply(x, *rest)

    monkeypatch.setattr(recurrence, "gru_layer", recorded)
    layer_seconds("gru", 256, 512, 1024, "fp32")
    steps, rows, _ = shapes[1]  # (the first is the warm-up, over 2n)
    # one time step of the whole batch: 6·3·1024·1536·256 FLOPs ≈ 72 ms at 100 GFLOP/s
    assert steps == 2 and rows < 256 and 2 * rows * 6 * 3 * 1024 * 1536 / 100e9 < 2 * summary.LAYER_PROBE_SECONDS


@pytest.mark.parametrize("settings, measured", [
    ({}, 640_158),  # the CPU defaults
    ({"num_layers": 2, "hidden_size": 512, "embedding_size": 128, "batch_size": 128, "seq_len": 128}, 1_025_966),
    (GPU_DEFAULTS, 875_557),
])
def test_the_cuda_estimate_matches_the_h200_sweep(probes, settings, measured):
    """With the H200's measured matmul speed, the estimate lands within 20 % of what the trainer did there."""
    probes[("cuda", torch.get_num_threads(), "bf16")] = (791.6e12, time.monotonic())
    estimate = estimate_tokens_per_second(TrainConfig(device="cuda", **settings), 66, torch.device("cuda"))
    assert 0.8 < estimate / measured < 1.2


@pytest.mark.parametrize("tokenizer, lang, unit", [("char", "en", "characters"), ("word", "en", "words (en)"), ("word", "zh", "characters (zh)")])
def test_the_summary_names_what_the_tokens_are(tmp_path, tokenizer, lang, unit):
    """spaCy's blank Chinese cuts text into single characters: a vocabulary of "words" misled."""
    corpus = tmp_path / "text.txt"
    corpus.write_text("床前明月光，疑是地上霜。举头望明月，低头思故乡。the moon, the frost. " * 200, encoding="utf-8")
    markdown = summary.summarize_corpus(corpus, TrainConfig(tokenizer=tokenizer, lang=lang)).markdown()
    assert f"distinct {unit}\n" in markdown + "\n"


def _corpus_summary(**fields) -> summary.CorpusSummary:
    base = dict(
        name="t.txt", size_bytes=1000, encoding="utf-8", characters=1000, tokenizer="word", lang="en", vocab_size=50,
        train_tokens=900, val_tokens=100, val_fraction=0.1, cell="lstm", parameters=1000, batch_size=8,
        tokens_per_second=None, device="cpu", seconds=None,
    )
    return summary.CorpusSummary(**{**base, **fields})


@pytest.mark.parametrize(
    "tokenizer, share, expected",
    [
        ("word", 0.0, None),
        ("word", 0.009, None),
        ("word", 0.042, "- **Unknown tokens:** 4.2 % of the tokens are outside the vocabulary (rare words, or found only in the held-out part)"),
        ("word", 0.309, "- ⚠️ **30.9 % of the tokens are unknown**"),
        ("char", 0.25, "- ⚠️ **25.0 % of the tokens are unknown**"),
    ],
)
def test_the_summary_states_the_unknown_share_and_warns_when_it_is_large(tokenizer, share, expected):
    markdown = _corpus_summary(tokenizer=tokenizer, unknown_share=share).markdown()
    if expected is None:
        assert "unknown" not in markdown.lower() and "<unk>" not in markdown
    else:
        assert expected in markdown and "`<unk>`" in markdown  # in backticks: bare, Markdown reads it as an HTML tag
    if share >= 0.2:
        remedy = "Use character tokens, set the word language to the text's (now `en`), or upload more text" if tokenizer == "word" else "Upload more text"
        assert remedy in markdown


POEM_CLAUSES = "床前明月光 疑是地上霜 举头望明月 低头思故乡 春眠不觉晓 处处闻啼鸟 夜来风雨声 花落知多少 白日依山尽 黄河入海流 欲穷千里目 更上一层楼".split()


def _numbers(rng: random.Random) -> str:
    return "\n".join(" ".join(str(rng.randrange(10**6)) for _ in range(8)) for _ in range(2000))


def _chinese(rng: random.Random) -> str:
    return "".join(rng.choice(POEM_CLAUSES) + rng.choice("，。") + "\n" * (rng.random() < 0.2) for _ in range(4000))


@pytest.mark.parametrize("make_text, least", [(_numbers, 0.8), (_chinese, 0.2)])
def test_text_mostly_outside_a_word_vocabulary_is_flagged(tmp_path, make_text, least):
    """Numbers: each a word seen once or twice (87 % <unk>; a model of them reached loss 0.000).
    Chinese cut by the English rules: runs of characters between punctuation, mostly rare."""
    corpus = tmp_path / "text.txt"
    corpus.write_text(make_text(random.Random(0)), encoding="utf-8")
    result = summary.summarize_corpus(corpus, TrainConfig(tokenizer="word", lang="en"))
    assert result.unknown_share > least and result.as_dict()["unknown_share"] == result.unknown_share
    assert f"⚠️ **{format_share(result.unknown_share)} of the tokens are unknown**" in result.markdown()
    assert summary.summarize_corpus(corpus, TrainConfig(tokenizer="char")).unknown_share == 0.0
