"""The thread tuner's decisions, driven by made-up step timings (thread_tuner.py is pure bookkeeping),
and how the trainer applies thread counts."""

import threading

import pytest
import torch

from rnn_demo.config import TrainConfig
from rnn_demo.thread_tuner import ThreadTuner
from rnn_demo.train import Trainer

# Seconds per step on a 2-core machine, as measured there (bench/contention.py): two spinning
# threads are fastest when the machine is quiet and several times slower than one under load.
QUIET = {2: 0.080, 1: 0.112}
LOADED = {2: 0.400, 1: 0.118}


def feed(tuner: ThreadTuner, machine: dict[int, float], steps: int) -> list[int]:
    """Run ``steps`` steps on ``machine``; return the thread count each step ran with."""
    used = []
    for _ in range(steps):
        used.append(tuner.threads)
        tuner.step_took(machine[tuner.threads])
    return used


def test_a_quiet_machine_tries_one_thread_once_then_keeps_every_core():
    tuner = ThreadTuner(2)
    assert feed(tuner, QUIET, 500) == [2] * 3 + [1] * 3 + [2] * 494
    assert tuner.switches == 0


def test_a_load_there_from_the_start_is_found_by_the_first_probe():
    tuner = ThreadTuner(2)
    used = feed(tuner, LOADED, 100)
    assert used[:6] == [2, 2, 2, 1, 1, 1] and used[6:].count(2) <= 3 and tuner.switches == 1


def test_a_load_moves_it_to_one_thread_within_a_few_steps_and_back_when_it_goes():
    tuner = ThreadTuner(2)
    feed(tuner, QUIET, 20)
    used = feed(tuner, LOADED, 40)
    assert used.index(1) <= 3  # two slow steps make the median, then a probe
    assert used[6:].count(2) <= 2  # looking at two threads again costs one step each time …
    used = feed(tuner, LOADED, 400)
    probes = [i for i, threads in enumerate(used) if threads == 2]
    assert 3 <= len(probes) <= 7
    assert probes[1] - probes[0] < probes[-1] - probes[-2]  # … and it looks less often the longer the load lasts
    # When the load goes, the next look finds two threads faster and keeps them.
    used = feed(tuner, QUIET, 600)
    assert used[-100:] == [2] * 100 and tuner.switches == 2


def test_a_slowdown_that_fewer_threads_do_not_cure_keeps_every_core():
    """The machine got slower for everyone (a frequency drop): one thread is slower still."""
    tuner = ThreadTuner(2)
    feed(tuner, QUIET, 20)  # (includes the first look at one thread)
    used = feed(tuner, {2: 0.150, 1: 0.210}, 200)
    assert used.count(1) == 3 and used[-100:] == [2] * 100  # one probe of three steps, then it stays
    assert tuner.switches == 0


def test_the_whole_run_costs_little_more_than_knowing_the_load_in_advance():
    schedule = [(QUIET, 300), (LOADED, 300), (QUIET, 300), (LOADED, 300)]
    tuner, spent, best = ThreadTuner(2), 0.0, 0.0
    for machine, steps in schedule:
        spent += sum(machine[t] for t in feed(tuner, machine, steps))
        best += steps * min(machine.values())
    never_tuned = sum(steps * machine[2] for machine, steps in schedule)
    assert spent < 1.1 * best < 0.5 * never_tuned


def test_more_cores_step_down_and_up_one_power_of_two_at_a_time():
    tuner = ThreadTuner(8)
    assert tuner.choices == [1, 2, 4, 8]
    busy = {8: 0.5, 4: 0.1, 2: 0.15, 1: 0.25}  # half the cores taken: 4 threads are best
    feed(tuner, {8: 0.05, 4: 0.08, 2: 0.12, 1: 0.2}, 10)
    used = feed(tuner, busy, 300)
    assert used[-50:] == [4] * 50 and 2 not in used[:10]


@pytest.mark.parametrize(
    ("settings", "tuned"),
    [
        ({"seconds": 1.0, "steps": None, "threads": None}, True),
        ({"seconds": None, "steps": 3, "threads": None}, False),  # step budgets stay reproducible
        ({"seconds": 1.0, "steps": None, "threads": 2}, False),  # a count the user chose is kept
    ],
)
def test_only_timed_runs_on_a_free_thread_count_are_tuned(corpus_text, settings, tuned, monkeypatch):
    monkeypatch.setattr("rnn_demo.devices.usable_cores", lambda: 2)
    config = TrainConfig(embedding_size=8, hidden_size=16, seq_len=16, batch_size=4, device="cpu", **settings)
    trainer = Trainer(corpus_text, config)
    try:
        assert (trainer.thread_tuner is not None) is tuned
    finally:
        torch.set_num_threads(1)


def test_every_step_runs_on_the_run_s_thread_count_whichever_thread_resumes_it(corpus_text, monkeypatch):
    """The app's server may resume the training generator on a different worker thread each time,
    and torch's thread count belongs to the calling thread."""
    seen = []
    original = Trainer._train_step

    def recording(self):
        seen.append(torch.get_num_threads())
        return original(self)

    monkeypatch.setattr(Trainer, "_train_step", recording)
    config = TrainConfig(embedding_size=8, hidden_size=16, seq_len=16, batch_size=4, device="cpu", steps=6, seconds=None, threads=1)
    run = Trainer(corpus_text, config).run()

    def resume_on_a_thread_with_two() -> None:
        torch.set_num_threads(2)
        next(run)

    for _ in range(3):
        worker = threading.Thread(target=resume_on_a_thread_with_two)
        worker.start()
        worker.join()
    run.close()
    assert seen == [1, 1, 1]
