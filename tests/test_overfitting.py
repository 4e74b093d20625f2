"""Telling when a run began to learn its training text by heart (rnn_demo/overfitting.py)."""

from rnn_demo.overfitting import MANY_PASSES, SUGGESTED_DROPOUT, automatic_dropout, describe_overfitting, overfitting


def _validations(*losses: float) -> list[dict]:
    return [{"step": 10 * (i + 1), "tokens": 0, "val_loss": loss} for i, loss in enumerate(losses)]


def test_a_validation_loss_that_rose_clearly_above_its_best_while_training_fell_below_it_is_overfitting():
    found = overfitting(_validations(2.6, 1.9, 1.82, 1.95, 2.4), train_loss=0.3)
    assert found == {"best_step": 30, "best_loss": 1.82, "last_step": 50, "last_loss": 2.4, "train_loss": 0.3}
    text = describe_overfitting(found, dropout=0.0, dropout_setting="--dropout {}")
    assert "lowest at step 30 (1.820)" in text and "risen to 2.400 by step 50" in text and "those of step 30" in text
    assert "Dropout (--dropout 0.3) holds it off" in text
    assert "Dropout" not in describe_overfitting(found, dropout=0.5, dropout_setting="--dropout {}"), (
        "it had dropout already"
    )


def test_a_run_still_improving_or_only_wobbling_is_not_overfitting():
    assert overfitting(_validations(2.6, 1.9, 1.82), train_loss=1.7) is None  # best is the latest
    assert overfitting(_validations(2.6, 1.82, 1.86), train_loss=1.5) is None  # within MIN_RISE
    diverged = overfitting(_validations(2.6, 1.82, 2.5), train_loss=2.4)  # training no better either: not memorising
    assert diverged is None
    assert overfitting(_validations(1.82), train_loss=0.1) is None
    assert overfitting(_validations(2.6, 1.82, 2.5), train_loss=None) is None


def test_automatic_dropout_is_for_budgets_that_read_the_text_many_times():
    assert automatic_dropout(MANY_PASSES) == automatic_dropout(500.0) == SUGGESTED_DROPOUT
    assert automatic_dropout(MANY_PASSES - 0.01) == automatic_dropout(None) == 0.0
