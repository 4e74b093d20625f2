"""The trainer: it learns, stops when told, survives being closed, refuses divergence, reproduces, resumes."""

import math
import time
from dataclasses import replace

import pytest
import safetensors.torch
import torch

from rnn_demo import checkpoint as ckpt
from rnn_demo.config import GPU_DEFAULTS, TrainConfig, default_config
from rnn_demo.devices import cpu_has_bf16, pick_precision
from rnn_demo.errors import UserError
from rnn_demo.evaluate import evaluate
from rnn_demo.generate import generate_text
from rnn_demo.train import Trainer
from tests.helpers import memorisable_text, tiny_config


def _run(trainer: Trainer) -> list:
    return list(trainer.run())


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_loss_falls(corpus_text, cell, precision):
    trainer = Trainer(corpus_text, tiny_config(cell=cell, steps=40, precision=precision))
    assert trainer.precision == precision
    events = _run(trainer)
    chance = math.log(trainer.data.tokenizer.vocab_size)
    assert events[0].train_loss > 0.9 * chance
    validations = [e.val_loss for e in events if e.val_loss is not None]
    assert len(validations) >= 5
    assert validations[-1] < 0.75 * chance and validations[-1] < validations[0] - 0.3
    assert trainer.summary()["val_loss"] == validations[-1]


def test_progress_events_report_what_the_spec_lists(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=9, eval_every=3, precision="fp32"))
    events = _run(trainer)
    assert [e.step for e in events] == [*range(1, 10), 9]
    last = events[-1]
    assert last.done and not any(e.done for e in events[:-1]) and last.remaining == 0.0
    assert last.val_tokens is None  # read all of the held-out text (but the few tokens its rows leave over)
    assert trainer.final.tokens < trainer.data.val_ids.numel() - 1
    assert [e.step for e in events[:-1] if e.val_loss is not None] == [3, 6]
    window = trainer.batch_size * trainer.config.seq_len
    for e in events[:-1]:
        assert e.tokens == e.step * window
        assert e.tokens_per_second > 0 and e.elapsed > 0 and e.remaining is not None and e.remaining >= 0
        assert e.device == "cpu (1 thread)" and math.isfinite(e.train_loss)
    assert set(last.as_dict()) >= {"step", "tokens", "train_loss", "val_loss", "tokens_per_second", "elapsed", "remaining", "device"}


def test_samples_at_validation_when_asked(corpus_text):
    events = _run(Trainer(corpus_text, tiny_config(steps=4, eval_every=2, sample_length=30)))
    samples = [e.sample for e in events if e.sample is not None]
    assert samples and all(isinstance(s, str) and len(s) >= 30 for s in samples)


def test_step_budget_stops(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=5))
    _run(trainer)
    assert trainer.summary()["steps"] == 5 and trainer.position.step == 5


def test_time_budget_stops(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=None, seconds=0.5))
    events = _run(trainer)
    assert events[-1].done and events[-1].elapsed >= 0.5
    assert trainer.summary()["seconds"] >= 0.5 and trainer.position.step == events[-1].step > 0


def test_closing_the_generator_keeps_the_best_weights_usable(tmp_path, corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=10_000, eval_every=5))
    run = trainer.run()
    for event in run:
        if event.step == 23:
            break
    run.close()  # what a cancelled request or a closed browser tab does
    assert not trainer.model.training
    pos = trainer.position
    assert pos.step == 23 and pos.history[-1]["step"] == 23  # one last validation on the way out
    assert pos.best_val_loss == min(h["val_loss"] for h in pos.history)
    _assert_same_tensors(_weights(trainer.model), trainer.best_weights)
    check = evaluate(trainer.model, trainer.data.val_ids, trainer.config.eval_tokens)
    assert check.loss == pytest.approx(pos.best_val_loss, abs=1e-6)
    assert len(generate_text(trainer.model, length=50, seed=0)) == 50
    trainer.save(str(tmp_path / "stopped"))
    loaded = ckpt.load_model(tmp_path / "stopped")
    _assert_same_tensors(_weights(loaded), trainer.best_weights)


def test_closing_before_the_first_step_is_harmless(corpus_text):
    trainer = Trainer(corpus_text, tiny_config())
    run = trainer.run()
    run.close()  # never started: nothing to validate, nothing raised
    assert trainer.position.step == 0


def test_non_finite_loss_stops_with_a_clear_message(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=20, eval_every=5))
    run = trainer.run()
    for event in run:
        if event.step == 7:
            break
    best = {k: v.clone() for k, v in trainer.best_weights.items()}
    with torch.no_grad():
        trainer.model.decoder.bias.fill_(float("inf"))
    with pytest.raises(UserError, match=r"training diverged at step 8 \(loss nan\); lower the learning rate"):
        next(run)
    _assert_same_tensors(_weights(trainer.model), best)  # back to the last good weights


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"seconds": None, "steps": None}, "give a time budget"),
        ({"seconds": 0}, "time budget must be positive"),
        ({"steps": 0}, "step budget must be positive"),
        ({"lr": 0}, "learning rate must be"),
        ({"lr": float("nan")}, "learning rate must be"),
        ({"lr": 1e38}, "learning rate must be"),
        ({"clip": 0}, "gradient clip must be positive"),
        ({"clip": float("inf")}, "gradient clip must be a finite number, got inf"),
        ({"seconds": float("nan")}, "time budget must be a finite number, got nan"),
        ({"seconds": float("inf"), "steps": None}, "time budget must be a finite number, got inf"),
        ({"seed": 2**31}, r"seed must be in \[0, 2147483647\], got 2147483648"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"hidden_size": 0}, "hidden size must be ≥ 1"),
        ({"num_layers": 0}, "num layers must be ≥ 1"),
        ({"threads": 0}, "threads must be ≥ 1"),
        ({"eval_every": -1}, "validation interval must be positive"),
        ({"cell": "rnn"}, "unknown cell 'rnn'"),
        ({"tokenizer": "bpe"}, "unknown tokenizer 'bpe'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"val_fraction": 0.7}, "validation fraction must be between 0 and 0.5"),
        ({"seq_len": 1}, "sequence length must be ≥ 2"),
    ],
)
def test_bad_settings_are_user_errors(corpus_text, bad, message):
    with pytest.raises(UserError, match=message):
        Trainer(corpus_text[:5000], tiny_config(**bad))


def test_same_seed_same_weights_different_seed_different_weights(corpus_text):
    config = tiny_config(steps=12, dropout=0.2, num_layers=2)
    first, second, other = Trainer(corpus_text, config), Trainer(corpus_text, config), Trainer(corpus_text, tiny_config(steps=12, dropout=0.2, num_layers=2, seed=1))
    for trainer in (first, second, other):
        _run(trainer)
    _assert_same_tensors(_weights(first.model), _weights(second.model))
    assert first.summary()["val_loss"] == second.summary()["val_loss"]
    assert not torch.equal(first.model.decoder.weight, other.model.decoder.weight)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_and_scratch_train_alike(corpus_text, cell):
    # float32: the two paths round differently in bf16, and 1e-4 is a float32 tolerance
    fused = Trainer(corpus_text, tiny_config(cell=cell, steps=3, seq_len=16, precision="fp32"))
    scratch = Trainer(corpus_text, tiny_config(cell=cell, steps=3, seq_len=16, implementation="scratch", precision="fp32"))
    _run(fused), _run(scratch)
    for name, value in _weights(fused.model).items():
        torch.testing.assert_close(_weights(scratch.model)[name], value, atol=1e-4, rtol=1e-4)


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path, corpus_text):
    """Weights, optimizer, data position, hidden state, RNG (dropout) and best weights all come back."""
    # constant rate: a cosine schedule follows the budget, and the first half runs under another one
    config = tiny_config(steps=24, eval_every=5, dropout=0.2, num_layers=2, lr_schedule="constant")
    whole = Trainer(corpus_text, config)
    _run(whole)
    whole.save(str(tmp_path / "whole"))

    half = Trainer(corpus_text, tiny_config(steps=12, eval_every=5, dropout=0.2, num_layers=2, lr_schedule="constant"))
    _run(half)
    half.save(str(tmp_path / "resumed"))
    resumed = Trainer(corpus_text, TrainConfig(steps=24, seconds=None, threads=1), resume=str(tmp_path / "resumed"))
    assert resumed.config.hidden_size == 32 and resumed.config.dropout == 0.2  # the run's own settings
    assert resumed.position.step == 12
    events = _run(resumed)
    assert events[0].step == 13 and events[-1].step == 24
    resumed.save(str(tmp_path / "resumed"))
    # The training trajectory (latest weights, optimizer moments, data position, hidden state, RNG)
    # is the same; the best weights may differ only because stopping at step 12 validated there too.
    whole_state, resumed_state = (
        {k: v for k, v in safetensors.torch.load_file(tmp_path / name / ckpt.STATE_TENSORS).items() if not k.startswith("best.")}
        for name in ("whole", "resumed")
    )
    assert any(k.startswith("optim.") for k in whole_state) and any(k.startswith("hidden.") for k in whole_state)
    _assert_same_tensors(whole_state, resumed_state)
    assert [h["step"] for h in whole.position.history] == [5, 10, 15, 20, 24]
    assert [h["step"] for h in resumed.position.history] == [5, 10, 12, 15, 20, 24]
    for a, b in zip(whole.position.history, resumed.position.history[:2] + resumed.position.history[3:]):
        assert a == b
    assert (whole.position.tokens, whole.position.epoch, whole.position.window) == (
        resumed.position.tokens, resumed.position.epoch, resumed.position.window
    )


def test_saving_mid_run_and_after_keeps_training_on_the_latest_weights(tmp_path, corpus_text):
    """Saving swaps the best weights in for the checkpoint, then back: training is unaffected."""
    config = tiny_config(steps=15, eval_every=4)
    plain, saving = Trainer(corpus_text, config), Trainer(corpus_text, config)
    _run(plain)
    for event in saving.run():
        if event.step % 4 == 2:
            saving.save(str(tmp_path / "mid"))
    _assert_same_tensors(_weights(saving.model), _weights(plain.model))  # both hold their best now
    _assert_same_tensors(saving.latest_weights, plain.latest_weights)
    saving.save(str(tmp_path / "after"))
    _assert_same_tensors(_weights(saving.model), _weights(plain.model))
    loaded = ckpt.load_model(tmp_path / "after")
    _assert_same_tensors(_weights(loaded), plain.best_weights)


def test_tied_weights_train_save_and_resume(tmp_path, corpus_text):
    config = tiny_config(steps=6, embedding_size=32, hidden_size=32, tie_weights=True)
    trainer = Trainer(corpus_text, config)
    _run(trainer)
    trainer.save(str(tmp_path / "tied"))
    assert ckpt.load_model(tmp_path / "tied").decoder.weight is not None
    resumed = Trainer(corpus_text, TrainConfig(steps=8, seconds=None, threads=1), resume=str(tmp_path / "tied"))
    assert resumed.model.decoder.weight is resumed.model.embedding.weight
    assert _run(resumed)[-1].step == 8


def test_resume_from_a_folder_without_trainer_state(tmp_path, corpus_text, checkpoint):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((checkpoint / name).read_bytes())
    with pytest.raises(UserError, match="no trainer state to resume from"):
        Trainer(corpus_text, tiny_config(), resume=str(bare))


def test_word_level_model_trains_saves_and_writes_prose(tmp_path, corpus_text):
    # constant rate: decayed over only 40 steps, the tiny model would not learn the sentences yet
    trainer = Trainer(corpus_text, tiny_config(tokenizer="word", steps=40, eval_every=10, lr_schedule="constant"))
    events = _run(trainer)
    validations = [e.val_loss for e in events if e.val_loss is not None]
    assert validations[-1] < validations[0] - 0.5
    trainer.save(str(tmp_path / "words"))
    model = ckpt.load_model(tmp_path / "words")
    assert model.tokenizer.kind == "word" and model.tokenizer.lang == "en"
    text = generate_text(model, "The cat ", length=60, temperature=0.5, seed=0)
    # Pieces carry their own whitespace, so the words come out whole and spaced: no "catsees", no "ca t".
    known = {w.strip('.,!?"') for w in corpus_text.lower().split()}
    for chunk in text.lower().split():
        assert chunk.strip('.,!?"') in known, chunk


def test_precision_auto_picks_bf16_where_the_hardware_multiplies_it():
    cpu = torch.device("cpu")
    assert pick_precision(cpu) == ("bf16" if cpu_has_bf16() else "fp32")
    assert pick_precision(cpu, hidden_size=384) == pick_precision(cpu)  # the default model's size
    assert pick_precision(cpu, hidden_size=64) == "fp32"  # small models train faster in float32 on any CPU
    assert pick_precision(cpu, "bf16", hidden_size=64) == "bf16"  # unless asked
    assert pick_precision(torch.device("cuda"), hidden_size=64) == "bf16"
    assert pick_precision(torch.device("cuda")) == "bf16"
    assert pick_precision(torch.device("mps")) == "fp32"
    assert (pick_precision(cpu, "fp32"), pick_precision(cpu, "bf16")) == ("fp32", "bf16")
    with pytest.raises(UserError, match="unknown precision 'fp8'"):
        pick_precision(cpu, "fp8")
    with pytest.raises(UserError, match="not on Apple MPS"):
        pick_precision(torch.device("mps"), "bf16")


def test_bf16_training_says_so_and_keeps_float32_weights(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=3, precision="bf16"))
    events = _run(trainer)
    assert events[0].device == "cpu (1 thread, bf16)" and trainer.summary()["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(math.isfinite(e.train_loss) for e in events)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("first, then", [("bf16", "fp32"), ("fp32", "bf16")])
def test_a_run_resumes_in_the_other_precision(tmp_path, corpus_text, cell, first, then):
    """A bf16 run continued where the CPU has no bf16 (or the other way round) carries its state on."""
    trainer = Trainer(corpus_text, tiny_config(cell=cell, steps=3, precision=first))
    _run(trainer)
    trainer.save(str(tmp_path / "run"))
    resumed = Trainer(corpus_text, TrainConfig(steps=6, seconds=None, threads=1, precision=then), resume=str(tmp_path / "run"))
    events = _run(resumed)
    assert resumed.precision == then and events[-1].step == 6 and math.isfinite(events[-1].val_loss)


def test_a_gpu_run_gets_the_gpu_defaults_under_what_was_set():
    assert default_config(gpu=False) == TrainConfig()
    assert default_config(gpu=None) == default_config(gpu=torch.cuda.is_available())  # asked without torch (hardware.py)
    gpu = default_config(gpu=True, hidden_size=64, cell="gru")
    assert (gpu.hidden_size, gpu.cell) == (64, "gru")
    assert {k: getattr(gpu, k) for k in GPU_DEFAULTS if k != "hidden_size"} == {k: v for k, v in GPU_DEFAULTS.items() if k != "hidden_size"}


def test_a_time_budget_too_short_for_one_step_of_the_model_is_refused_before_building_it(corpus_text):
    big = TrainConfig(hidden_size=2048, num_layers=6, embedding_size=1024, seconds=5)
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"one training step of this model takes about .* too long for a 5\.0 s budget"):
        Trainer(corpus_text, big)
    assert time.perf_counter() - started < 5  # refused from the estimate, not after building and stepping it
    Trainer(corpus_text, replace(big, seconds=None, steps=1))  # a step budget is the user's own choice


def test_validations_read_what_fits_in_a_share_of_a_time_budget(corpus_text):
    """A big model on a CPU evaluates slowly: 32k tokens of a 1024 × 2 LSTM took 8 s, more than the
    7.5 s between a 60 s run's validations. Under a time budget a validation reads what fits, and
    every periodic one what the first read, so their losses compare."""
    from rnn_demo.train import MIN_VALIDATION_TOKENS, VALIDATION_SHARE

    def trainer_at(rate: float | None, **settings) -> Trainer:
        trainer = Trainer(corpus_text, tiny_config(**{"seconds": 60.0, "steps": None, "eval_tokens": 32_768, **settings}))
        trainer.validation_rate = rate
        return trainer

    trainer = trainer_at(20_000.0)  # tokens/s: a periodic validation may take 15 % of 7.5 s
    first = trainer.validation_tokens()
    assert first == int(20_000 * VALIDATION_SHARE * trainer._eval_interval()) < 32_768
    assert trainer.validation_tokens(final=True) == 180_000  # 15 % of the 60 s budget
    trainer.validation_rate = 5_000.0  # slower later: the periodic ones still read as much as the first
    assert trainer.validation_tokens() == first and trainer.validation_tokens(final=True) == 45_000
    slow = trainer_at(100.0)  # very slow: never fewer than the floor, the final one too (it may overshoot by that)
    assert (slow.validation_tokens(), slow.validation_tokens(final=True)) == (MIN_VALIDATION_TOKENS, MIN_VALIDATION_TOKENS)
    assert trainer_at(10_000_000.0).validation_tokens() == 32_768  # fast: as configured
    assert Trainer(corpus_text, tiny_config(seconds=60.0, steps=None)).estimated_rate > 0  # the first validation's too
    steps = Trainer(corpus_text, tiny_config(steps=10, eval_tokens=32_768))
    steps.validation_rate = 100.0  # a step budget: validation time takes nothing from it
    assert (steps.validation_tokens(), steps.validation_tokens(final=True)) == (32_768, None)


def test_a_run_that_learns_its_text_by_heart_keeps_the_weights_from_before_and_says_so(tmp_path):
    config = tiny_config(steps=200, eval_every=20, hidden_size=128)
    trainer = Trainer(memorisable_text(), config)
    _run(trainer)
    history = trainer.position.history
    best = min(history, key=lambda v: v["val_loss"])
    found = trainer.summary()["overfitting"]
    assert found is not None and found["best_step"] == best["step"] < found["last_step"] == 200
    assert found["last_loss"] > found["best_loss"] + 0.05 > found["train_loss"] + 0.05
    assert trainer.summary()["val_loss"] == pytest.approx(best["val_loss"], abs=1e-4), "the best weights are kept"
    trainer.save(tmp_path / "run")
    card = (tmp_path / "run" / "README.md").read_text(encoding="utf-8")
    assert f"| weights | from step {found['best_step']:,}, the best validation; by step 200 the validation loss" in card
    early = Trainer(memorisable_text(), replace(config, steps=40))  # still learning the letters' frequencies
    _run(early)
    assert early.summary()["overfitting"] is None


def test_a_short_text_is_validated_after_each_epoch_too(corpus_text):
    """30 kB of Shakespeare validated best 4 s into a 60 s run, and the first of the ~8 scheduled
    validations came at 7.5 s, after it had begun to learn the text by heart: the kept model scored
    2.06 against 1.81 (bench/small_texts.py)."""
    from rnn_demo.train import MIN_SECONDS_BETWEEN_VALIDATIONS

    config = tiny_config(steps=None, seconds=5.0, sample_length=8)  # scheduled: every 2 s
    trainer = Trainer(corpus_text[:4000], config)
    events = _run(trainer)
    validated = [e for e in events if e.val_loss is not None and not e.done]
    scheduled = [e for e in validated if e.sample is not None]  # samples come with the scheduled ones only
    assert len(scheduled) == 2 and len(validated) >= 4, "at 2 s and 4 s, and at least two more after epochs"
    for before, after in zip(validated, validated[1:]):
        if after.sample is None:  # after an epoch, a second or more since the last validation
            assert after.step - before.step >= trainer.windows_per_epoch
            assert after.elapsed - before.elapsed >= MIN_SECONDS_BETWEEN_VALIDATIONS * 0.99
    own = Trainer(corpus_text[:4000], replace(config, eval_every=2.0))  # the user's own schedule is kept
    assert len([e for e in _run(own) if e.val_loss is not None and not e.done]) == 2
    assert Trainer(corpus_text, tiny_config(steps=None, seconds=600.0))._eval_interval() == 15.0, "a sample every 15 s at most"


def test_dropout_left_unset_is_chosen_by_how_often_the_budget_reads_the_text(corpus_text):
    """Dropout 0.3 lowered the kept model's validation loss where a 60 s run read its text 15 times
    and more, and raised it where it read it 4 times (bench/small_texts.py): a run that leaves it
    unset gets it from MANY_PASSES passes on. Under a step budget the passes are exact."""
    from rnn_demo.overfitting import MANY_PASSES, SUGGESTED_DROPOUT

    probe = Trainer(corpus_text, tiny_config(steps=1))
    per_pass = probe.data.train_ids.numel() / (probe.batch_size * probe.config.seq_len)  # steps
    for steps, chosen in ((math.ceil(MANY_PASSES * per_pass), SUGGESTED_DROPOUT), (math.floor((MANY_PASSES - 1) * per_pass), 0.0)):
        trainer = Trainer(corpus_text, tiny_config(steps=steps, dropout=None))
        assert trainer.dropout_chosen_for_passes == pytest.approx(steps / per_pass)
        assert trainer.config.dropout == trainer.model.dropout.p == chosen
        assert trainer.summary()["config"]["dropout"] == chosen, "saved as chosen: a resumed run keeps it"
    many = math.ceil(MANY_PASSES * per_pass)
    own = Trainer(corpus_text, tiny_config(steps=many, dropout=0.1))  # set: kept, whatever the passes
    assert (own.config.dropout, own.dropout_chosen_for_passes) == (0.1, None)
    timed = Trainer(corpus_text, tiny_config(steps=None, seconds=60.0, dropout=None))  # at the estimated speed
    assert timed.dropout_chosen_for_passes > MANY_PASSES and timed.config.dropout == SUGGESTED_DROPOUT
