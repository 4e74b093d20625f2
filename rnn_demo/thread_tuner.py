"""How many CPU threads a timed training run uses, re-decided while it runs by timing its steps.

Why: with OpenMP's spinning waits (torch's default) two threads on this project's 2-core machine
train 1.4–1.5× faster than one while the machine is quiet: a step issues ~1,000 small matrix
products and gate ops, and a thread that went to sleep between two of them costs ~50 µs to wake.
But when another process wants a core (a second user, a test runner, a browser), spinning threads
wait for a thread the OS has descheduled and two threads become several times *slower* than one
(bench/contention.py). No fixed choice suits both, and the load changes during a run. So the
trainer times each step and tries a neighbouring thread count for a few steps — fewer once at the
start and whenever its steps slow down (a load arrived), more now and then while below all cores
(the load may have gone) — and keeps whichever is faster.

Only timed runs are tuned: a run with a step budget keeps one thread count, so a seed gives the
same weights every time (reductions may round differently on different thread counts).
"""

from __future__ import annotations

import math
import statistics


class ThreadTuner:
    """Feed it each training step's duration; :attr:`threads` is the count for the next step.

    Pure bookkeeping, no torch: its decisions depend only on the durations fed in, so the tests
    drive it with made-up timings. The trainer applies ``threads`` with ``set_cpu_threads``
    before every step.
    """

    def __init__(
        self,
        cores: int,
        *,
        window: int = 3,
        slowdown: float = 1.5,
        gain: float = 1.1,
        recheck_seconds: float = 2.0,
        max_recheck_seconds: float = 60.0,
    ) -> None:
        self.choices = sorted({max(1, cores >> k) for k in range(cores.bit_length())})  # 1, 2, 4, … cores
        self.threads = cores  # for the next step
        self.window = window  # steps per median
        self.slowdown = slowdown  # steps this much slower than the best seen: try fewer threads
        self.gain = gain  # a probed count must be this much faster to be kept
        self.first_recheck = recheck_seconds
        self.max_recheck = max_recheck_seconds
        self.switches = 0
        self._settled = cores  # the count in use outside a probe
        self._recent: list[float] = []  # the last step durations at the settled count
        self._best = math.inf  # the best median seen at the settled count
        self._probe: list[float] = []
        self._probing = False
        self._tried_fewer = False  # a load may be there from the start: no slowdown would show it
        self._clock = 0.0  # training seconds fed in so far
        self._recheck_every = recheck_seconds
        self._next_recheck = recheck_seconds

    def step_took(self, seconds: float) -> None:
        """Record one step's duration; :attr:`threads` may change for the next step."""
        self._clock += seconds
        if self._probing:
            self._probe.append(seconds)
            self._judge_probe()
            return
        self._recent = (self._recent + [seconds])[-self.window :]
        if len(self._recent) < self.window:
            return
        typical = statistics.median(self._recent)
        self._best = min(self._best, typical)
        index = self.choices.index(self._settled)
        if index > 0 and (typical > self.slowdown * self._best or not self._tried_fewer):
            self._tried_fewer = True
            self._start_probe(self.choices[index - 1])
        elif index + 1 < len(self.choices) and self._clock >= self._next_recheck:
            self._start_probe(self.choices[index + 1])

    def _start_probe(self, threads: int) -> None:
        self._probing, self._probe, self.threads = True, [], threads

    def _judge_probe(self) -> None:
        before = statistics.median(self._recent)
        clearly_worse = self._probe[-1] > 2 * before  # one step says enough: don't pay for more
        if not clearly_worse and len(self._probe) < self.window:
            return
        probed = statistics.median(self._probe)
        self._probing = False
        if not clearly_worse and probed * self.gain < before:
            self._settled, self._recent, self._best = self.threads, self._probe, probed
            self._recheck_every = self.first_recheck
            self.switches += 1
        else:
            went_up = self.threads > self._settled
            self.threads, self._best = self._settled, before
            if went_up:  # the load is still there: look again later, and less often
                self._recheck_every = min(2 * self._recheck_every, self.max_recheck)
        self._next_recheck = self._clock + self._recheck_every
