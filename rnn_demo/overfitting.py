"""Telling a learner when a run began to learn its training text by heart (overfitting).

The trainer keeps the weights that validated best, so an overfitted run still hands over a good
model; but the learner should know why its later steps did not count, and what to change. The
sign: the held-out text's loss rose clearly above its best while the training loss went on falling
below it. Periodic validations read the same held-out tokens each time, so a rise is not noise.
"""

from __future__ import annotations

MIN_RISE = 0.05  # nats per token above the best validation; less is within a cosine schedule's wobble
# What to change, measured (bench/small_texts.py, RESULTS.md §2, "Short texts"): 60 s on the first
# 30, 100, 300 and 1,000 kB of tiny Shakespeare (~150, 50, 15 and 4 passes over the text), the
# kept model's validation loss with dropout 0.3 against none: 1.79 / 1.84, 1.46 / 1.55,
# 1.39 / 1.42, and 1.56 / 1.45 — so it helps a run that reads its text many times, and only that.
SUGGESTED_DROPOUT = 0.3
MANY_PASSES = 15  # passes over the text in the budget from which dropout is suggested before training
MEASURED = "on 30, 100 and 300 kB of Shakespeare it lowered the validation loss of a 60 s run from 1.84 to 1.79, 1.55 to 1.46 and 1.42 to 1.39"


def overfitting(validations: list[dict], train_loss: float | None) -> dict | None:
    """``{"best_step", "best_loss", "last_step", "last_loss", "train_loss"}`` if the run overfitted, else
    None (plain data: it goes into the run's summary, JSON, and is pickled under ZeroGPU).

    ``validations``: the trainer's periodic ones, oldest first (``{"step", "val_loss"}``), the last
    of them of the latest weights; ``train_loss``: the training loss of the last steps."""
    if len(validations) < 2 or train_loss is None:
        return None
    best = min(validations, key=lambda v: v["val_loss"])
    last = validations[-1]
    if last["step"] <= best["step"] or last["val_loss"] < best["val_loss"] + MIN_RISE or train_loss >= best["val_loss"]:
        return None
    return {
        "best_step": best["step"], "best_loss": best["val_loss"],
        "last_step": last["step"], "last_loss": last["val_loss"],
        "train_loss": train_loss,
    }  # fmt: skip


def describe_overfitting(found: dict, dropout: float, dropout_setting: str) -> str:
    """What happened and what to change, in sentences a learner can follow. ``dropout``: the run's;
    ``dropout_setting``: how the reader sets it to ``{}`` ("--dropout {}", "{} under Advanced")."""
    remedy = (
        f"Dropout ({dropout_setting.format(SUGGESTED_DROPOUT)}) holds it off: {MEASURED}. More text does too."
        if dropout < SUGGESTED_DROPOUT
        else "More text holds it off."
    )
    return (
        f"The validation loss was lowest at step {found['best_step']:,} ({found['best_loss']:.3f}) and had risen to "
        f"{found['last_loss']:.3f} by step {found['last_step']:,}, while the training loss fell to {found['train_loss']:.3f}: "
        f"the model began to learn its training text by heart (overfitting). The kept weights are those of step "
        f"{found['best_step']:,}. {remedy}"
    )
