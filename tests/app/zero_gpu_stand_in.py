"""A stand-in for ZeroGPU's ``spaces.GPU`` on a generator: the function runs in another process.

As on ZeroGPU, the arguments and every yielded value cross a process boundary by pickling, and
nothing the function does to objects in the caller's process comes back. Closing the generator
ends the worker.
"""

from __future__ import annotations

import multiprocessing
import queue as queues

from rnn_demo import session
from rnn_demo.errors import UserError


def _worker(results, text, config, source) -> None:
    try:
        for event in session.train_events(text, config, source):
            results.put(("event", event))
        results.put(("end", None))
    except UserError as error:
        results.put(("error", str(error)))


def train_in_another_process(text, config, source):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_worker, args=(results, text, config, source), daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = results.get(timeout=120)
            except queues.Empty:
                raise RuntimeError("the training worker went silent") from None
            if kind == "end":
                return
            if kind == "error":
                raise UserError(value)
            yield value
    finally:
        worker.terminate()
        worker.join()
