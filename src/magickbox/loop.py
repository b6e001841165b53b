"""The one background loop and the one back-off of the box.

Every stage thread that repeats a step (sealer, scheduler, router, notify, keep, retriever, the
DICOM acceptor, the receive workers' watch threads) is a `Loop`: one thread, one stop event,
`wake()` to run the next step now, the store connection scoped per step, a step that raises
logged with its traceback and tried again after a back-off (so a broken step neither kills the
stage nor spins), and one join policy on stop. Every retry that waits longer each time
(deliveries, notifications, writes a full disk refused, an unreachable Slurm) waits a
`Backoff`'s delays.

This module sits below the store in the layers (pyproject.toml): it imports nothing of the box,
so the store's own back-off (deliveries) uses it too. The per-step scope is passed in
(`scope=store.connection`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

JOIN_S = 15.0  # how long stop() waits for a loop's thread; then a warning, and the stop goes on


@dataclass(frozen=True)
class Backoff:
    """Waits that grow by `factor` from `initial_s` up to `max_s`, each less up to `jitter` of it.

    `jitter` is a fraction (0 = exact delays): the delay of an attempt is drawn from
    [d * (1 - jitter), d], so waits spread out but never exceed the cap. `random` is the source
    of that draw (a fixed one in tests).
    """

    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: float = 0.0
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < 0:
            raise ValueError("back-off delays cannot be negative")
        if self.factor < 1:
            raise ValueError("a back-off factor below 1 would shrink the waits")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def delay(self, attempt: int) -> float:
        """The wait after the `attempt`-th failure in a row (1 = the first failure waits `initial_s`).

        Callers may rely on: never more than `max_s`, never less than (1 - jitter) of the exact
        delay, and exactly `min(initial_s * factor ** (attempt - 1), max_s)` without jitter.
        """
        try:
            exact = min(self.initial_s * self.factor ** max(attempt - 1, 0), self.max_s)
        except OverflowError:  # a very long failing streak: the cap was reached long ago
            exact = self.max_s
        if self.jitter:
            exact *= 1 - self.jitter * self.random()
        return float(exact)

    def next_attempt_at(self, attempt: int, now: float) -> float:
        """When the next try is due after the `attempt`-th failure at `now` (for callers that store it)."""
        return now + self.delay(attempt)


# A step that raises waits this long (but at least the loop's interval) before it runs again:
# a locked database clears in a second; a bug logs a traceback every 30 s, not a thousand a second.
CRASH_BACKOFF = Backoff(initial_s=1.0, max_s=30.0, jitter=0.1)

Step = Callable[[], float | None]
Scope = Callable[[], AbstractContextManager[object]]


class Loop:
    """One background thread that runs `step` until stopped.

    `step` returns how long to wait before the next step (None: `interval_s`; 0: at once). A
    `wake()` ends that wait early. `scope` (e.g. `store.connection`) is entered around each step,
    so a thread between steps holds no store connection. `unblock` is called on stop for a step
    that blocks in a system call (a listening socket's accept()).
    """

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval_s: float,
        scope: Scope | None = None,
        unblock: Callable[[], None] | None = None,
        crash_backoff: Backoff = CRASH_BACKOFF,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.stopping = threading.Event()  # set once stop is asked; steps may check it to end early
        self._step = step
        self._scope: Scope = scope or nullcontext
        self._unblock = unblock
        self._crash_backoff = crash_backoff
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def alive(self) -> bool:
        """Whether the thread runs (started and not yet ended)."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; the first step runs at once."""
        self._thread.start()

    def wake(self) -> None:
        """Run the next step now instead of at the end of the wait (after the current one, if any)."""
        self._wake.set()

    def request_stop(self) -> None:
        """Ask the thread to end after its current step, without waiting for it."""
        self.stopping.set()
        self._wake.set()
        if self._unblock is not None:
            self._unblock()

    def join(self, timeout_s: float = JOIN_S) -> bool:
        """Wait for the thread to end; False (and a warning) if it did not within `timeout_s`."""
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            log.warning("%s did not stop within %g s; the stop goes on without it", self.name, timeout_s)
            return False
        return True

    def stop(self) -> bool:
        """request_stop(), then join() with the one join timeout. True if the thread ended."""
        self.request_stop()
        return self.join()

    def _run(self) -> None:
        crashes = 0
        while not self.stopping.is_set():
            try:
                with self._scope():
                    wait = self._step()
                crashes = 0
            except Exception:
                crashes += 1
                pause = max(self.interval_s, self._crash_backoff.delay(crashes))
                log.exception(
                    "%s: a step failed (%d in a row); next try in %.1f s", self.name, crashes, pause
                )
                self.stopping.wait(pause)  # a wake() does not cut this short: a broken step must not spin
                continue
            self._wake.wait(self.interval_s if wait is None else wait)
            self._wake.clear()
