"""Keeping freed memory while training: no page faults for memory a step freed, all given back after."""

import subprocess
import textwrap

from rnn_demo import heap
from rnn_demo.train import Trainer
from tests.helpers import PYTHON, REPO_ROOT, tiny_config

# A fresh interpreter, so that no other test's allocations or open trainings change what malloc does.
_CHURN = textwrap.dedent(
    """
    import resource
    import torch
    from rnn_demo.heap import memory_kept

    def faults_while_churning():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            torch.ones(6 * 2**20)  # 24 MB, written and freed at once, like a training step's activations
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    def resident_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

    plain = faults_while_churning()
    with memory_kept() as kept:
        with memory_kept():  # a second training at the same time
            for _ in range(3):  # the heap grows to what the churn needs
                faults_while_churning()
        while_one_is_left = faults_while_churning()
        resident_inside = resident_mb()
    print(kept, plain, while_one_is_left, round(resident_inside - resident_mb()))
    """
)


def test_freed_memory_is_reused_without_page_faults_and_given_back_after():
    done = subprocess.run([PYTHON, "-c", _CHURN], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kept, plain, inside, released_mb = done.stdout.split()
    assert kept == "True"  # Linux with glibc, as in CI
    pages = 5 * 24 * 2**20 // 4096
    assert int(plain) > pages // 2  # glibc's default: most blocks mapped and faulted in anew
    assert int(inside) < pages // 10  # kept: the same memory serves every block (0 in practice)
    assert int(released_mb) >= 20  # the last training out gave the kept memory back to the kernel


def test_training_keeps_memory_exactly_while_it_runs(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=20, precision="fp32"))
    before = heap._holders
    events = trainer.run()
    next(events)
    assert heap._holders == before + 1
    events.close()  # a user pressing Stop
    assert heap._holders == before
    list(Trainer(corpus_text, tiny_config(steps=2, precision="fp32")).run())
    assert heap._holders == before
