"""Ending a training step or a validation part-way through, the moment a user presses Stop.

A run checks for Stop between steps, but one step of a big model takes seconds on a CPU (hidden
2048 × 3 layers: ~20–30 s on 2 cores) and a validation longer still, so Stop must also reach
inside them. The recurrent loops call :func:`check` once per time step; inside
:func:`stoppable`, it raises :class:`Stopped` once the run's stop signal is set. Nothing is
half-changed by that: the weights change only in the optimizer's step, after the backward pass.

The signal is per thread, as the step runs on whichever thread resumes the training generator
(the app's server picks one per event), and autograd runs a CPU backward pass on the thread that
called it. A CUDA backward runs on autograd's own thread and does not see it: GPU steps are short.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_current = threading.local()


class Stopped(Exception):
    """Raised inside a step or a validation whose run has been asked to stop."""


@contextlib.contextmanager
def stoppable(stop: threading.Event) -> Iterator[None]:
    """Within this block, on this thread, :func:`check` raises :class:`Stopped` once ``stop`` is set."""
    previous = getattr(_current, "stop", None)
    _current.stop = stop
    try:
        yield
    finally:
        _current.stop = previous


def check() -> None:
    """Raise :class:`Stopped` if the run this thread is working for has been asked to stop."""
    stop = getattr(_current, "stop", None)
    if stop is not None and stop.is_set():
        raise Stopped
