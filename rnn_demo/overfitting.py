"""Telling a learner when a run began to learn its training text by heart (overfitting), and
holding it off where that is foreseeable: dropout for a budget that reads a short text many times.

The trainer keeps the weights that validated best, so an overfitted run still hands over a good
model; but the learner should know why its later steps did not count, and what to change. The
sign: the held-out text's loss rose clearly above its best while the training loss went on falling
below it. Periodic validations read the same held-out tokens each time, so a rise is not noise.
"""

from __future__ import annotations

MIN_RISE = 0.05  # nats per token above the best validation; less is within a cosine schedule's wobble
# What to change, measured (bench/small_texts.py, RESULTS.md §2, "Short texts"): the kept model's
# validation loss after 60 s on the first N kB of tiny Shakespeare, without dropout and with 0.3
# (2-vCPU AMD EPYC; the passes over the text are the runs' without dropout):
#   100 kB (35-45 passes): LSTM 1.531 / 1.455, GRU 1.537 / 1.522 (0.5: 1.483, 1.521)
#   300 kB (11-14 passes): LSTM 1.392 / 1.427, GRU 1.452 / 1.437
#   600 kB (6-7 passes):   LSTM 1.446 / 1.539, GRU 1.456 / 1.540
# and on 30 kB (~100 passes) LSTM 1.81-1.84 / 1.79 (2-vCPU Intel Xeon). So it helps a run that reads
# its text many times, and only that; between 11 and 14 passes the LSTM lost 0.035 and the GRU
# gained 0.015, so it starts at 15. Dropout 0.5 against 0.3 on 30 kB: LSTM 1.749 / 1.779, GRU
# 1.829 / 1.803 — no better on the whole, and worse on 100 kB. Other texts (60 s, passes in
# brackets): Tang poems, characters, LSTM: 30k (56) 5.247 / 5.224, 100k (15) 5.127 / 5.103;
# WikiText-2, words: GRU 60 kB (184) 3.818 / 3.823, 100 kB (101) 3.480 / 3.406, 300 kB (23)
# 4.249 / 4.188; LSTM 100 kB (97) 3.352 / 3.365, 300 kB (21) 4.129 / 4.133 — so words too.
SUGGESTED_DROPOUT = 0.3
MANY_PASSES = 15  # passes over the text in the budget from which a run's automatic dropout is SUGGESTED_DROPOUT
AUTOMATIC_RULE = f"{SUGGESTED_DROPOUT:g} when the budget reads the text {MANY_PASSES} times or more, else 0"  # in words
MEASURED = (
    "on 100 kB of Shakespeare, which a 60 s run reads ~40 times, it lowered the validation loss from 1.53 to 1.46 "
    "(LSTM) and 1.54 to 1.52 (GRU); on 600 kB, read ~6 times, it raised it from 1.45 to 1.54"
)


def automatic_dropout(passes: float | None) -> float:
    """The dropout of a run that leaves it unset: :data:`SUGGESTED_DROPOUT` when its budget reads the
    training text ``passes`` times and that is :data:`MANY_PASSES` or more, else none (it slows the
    learning of a text read only a few times: see above)."""
    return SUGGESTED_DROPOUT if passes is not None and passes >= MANY_PASSES else 0.0


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
