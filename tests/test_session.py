"""What a run reports to the app (session.train_events), step by step."""

from dataclasses import replace

import pytest

from rnn_demo.config import TrainConfig
from rnn_demo.session import RunView, TrainEvent, train_events
from rnn_demo.train import Trainer
from tests.helpers import memorisable_text, tiny_config


def test_each_reported_training_loss_is_the_mean_over_the_tokens_trained_since_the_last_report(corpus_text):
    """One reported step's loss was noisy: a row's short last window read 0.444 among steps at 1.1-1.2."""
    config = tiny_config(steps=24, eval_every=8, batch_size=4, seq_len=24)
    text = corpus_text[:900]  # rows of ~202 tokens: 8 windows of 24, then a short one
    trainer = Trainer(text, config)
    steps = [(p.tokens, p.train_loss) for p in trainer.run() if not p.done]  # the same run, step by step
    assert len({tokens - before for (tokens, _), (before, _) in zip(steps[1:], steps)}) > 1, "windows of two widths"
    reports = [e.progress for e in train_events(text, config, every=1e9)][1:-1]  # not the untrained model's, not done
    assert [p["step"] for p in reports] == [1, 8, 16, 24], "the first step, the validations, the budget's last step"
    before = 0
    for report in reports:
        done = [(tokens, loss) for tokens, loss in steps if before < tokens <= report["tokens"]]
        trained = [tokens - previous for (tokens, _), previous in zip(done, [before] + [t for t, _ in done[:-1]])]
        mean = sum(n * loss for n, (_, loss) in zip(trained, done)) / sum(trained)
        assert report["train_loss"] == pytest.approx(mean, rel=1e-6)
        before = report["tokens"]


def test_the_trained_model_is_named_with_the_validation_loss_its_run_ended_on(corpus_text):
    """Generate named the model by its best periodic validation (4.914 over 32,768 held-out
    tokens) under a status that had just said 4.937 over the whole held-out text."""
    config = tiny_config(steps=24, eval_every=8, eval_tokens=256)  # periodic validations read a part
    *_, last = train_events(corpus_text, config, every=1e9)
    final, best = last.progress["val_loss"], last.model.summary["best_val_loss"]
    assert last.progress["done"] and f"{final:.3f}" != f"{best:.3f}", "the whole held-out text scores differently"
    assert last.model.title.endswith(f"validation loss {final:.3f})")


def test_the_step_that_spends_the_budget_is_reported_and_shown_as_scoring(corpus_text):
    """After it the final validation runs (5 s for a 5,248-character vocabulary on 60 s), and the
    status read "0 s left" all along, or even "0.4 s left" when that step was not reported."""
    config = tiny_config(steps=10, eval_every=100)
    events = [e.progress for e in train_events(corpus_text, config, every=1e9)]
    last_step = events[-2]
    assert (last_step["step"], last_step["remaining"], last_step["done"]) == (10, 0, False)
    view = RunView(TrainConfig(seconds=5), "english.txt")
    view.update(TrainEvent(events[0], info={"vocab_size": 40, "parameters": 1000, "train_tokens": 9000}))
    view.update(TrainEvent({**last_step, "remaining": 0.0}))
    assert "time's up, scoring the model on the held-out text" in view.status and "left" not in view.line
    view.update(TrainEvent({**last_step, "remaining": 0.4}))
    assert "0.4 s left" in view.line


def test_the_status_says_when_a_run_learned_its_text_by_heart_and_what_was_kept():
    config = tiny_config(steps=200, eval_every=20, hidden_size=128)
    view = RunView(config, "letters.txt")
    for event in train_events(memorisable_text(), config, every=1e9):
        view.update(event)
    assert "Learning by heart" in view.stopped_status(event.model), "a run stopped later says so too"
    found = view.overfitting
    assert found and f"⚠ **Learning by heart:** The validation loss was lowest at step {found['best_step']:,}" in view.status
    assert "Dropout (0.3 under Advanced) holds it off" in view.status
    # the validation curve ends where the latest weights are, above the kept ones' score
    curve = [row["loss"] for row in view.rows if row["series"] == "validation"]
    assert curve[-1] == round(found["last_loss"], 4) > view.progress["val_loss"] + 0.05
    still_learning = RunView(replace(config, steps=40), "letters.txt")
    for event in train_events(memorisable_text(), replace(config, steps=40), every=1e9):
        still_learning.update(event)
    assert "Done" in still_learning.status and "Learning by heart" not in still_learning.status


def test_the_status_names_the_dropout_a_run_chose_for_a_short_text(corpus_text):
    config = tiny_config(steps=200, eval_every=1000, dropout=None)  # ~28 passes over 1,800 tokens
    view = RunView(config, "short.txt")
    events = train_events(corpus_text[:2000], config, every=1e9)
    view.update(next(events))
    events.close()
    assert "parameters, dropout 0.3, chosen as this budget reads the text many times over) on" in view.status
