"""What "Look inside" can colour a text by: each cell's gates and state, named and explained.

Apart from :mod:`rnn_demo.inside` because the app builds its page from it, and the page is built
without importing torch.
"""

from __future__ import annotations

SURPRISE = "surprise"
MEAN = "mean"  # the unit choice that averages every unit
# What can colour each token, per cell: its name, and what it tells.
SIGNALS = {
    "lstm": {
        SURPRISE: ("surprise", "how unexpected each token was to the model"),
        "forget": ("forget gate f", "how much of its memory cell a unit keeps"),
        "input": ("input gate i", "how much new content a unit writes to its cell"),
        "output": ("output gate o", "how much of its cell a unit shows"),
        "cell": ("memory cell tanh(c)", "what a unit holds"),
    },
    "gru": {
        SURPRISE: ("surprise", "how unexpected each token was to the model"),
        "update": ("update gate z", "how much of its old state a unit keeps"),
        "reset": ("reset gate r", "how much of the past a unit's new content may look at"),
        "hidden": ("hidden state h", "what a unit holds"),
    },
}
GATES_OPEN_AT_ONE = {"forget", "input", "output", "update", "reset"}  # in 0…1; the states are in −1…1


def signal_choices(cell: str | None = None) -> list[tuple[str, str]]:
    """(label, name) for each signal a cell has, surprise first; with no cell (no text read yet), those
    of both cells, each labelled with its cell."""
    if cell is not None:
        return [(label, name) for name, (label, _) in SIGNALS[cell].items()]
    return [(SIGNALS["lstm"][SURPRISE][0], SURPRISE)] + [
        (f"{label} ({kind.upper()})", name)
        for kind, named in SIGNALS.items()
        for name, (label, _) in named.items()
        if name != SURPRISE
    ]
