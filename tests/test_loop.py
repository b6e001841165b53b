"""The one loop base and the one back-off (magickbox/loop.py)."""

from __future__ import annotations

import ast
import logging
import queue
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import magickbox
from magickbox.loop import Backoff, Loop
from tests.support.net import wait_until

PACKAGE = Path(magickbox.__file__).parent
QUICK = Backoff(initial_s=0.01, max_s=0.04)  # crash pauses short enough for a test


# ---- Backoff -------------------------------------------------------------------------------------
def test_delays_double_from_the_initial_one_up_to_the_cap() -> None:
    routes = Backoff(initial_s=30, max_s=3600)  # the router's defaults
    assert [routes.delay(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert routes.delay(0) == 30  # "no failure yet" is treated as the first
    assert routes.delay(100_000) == 3600  # a streak that would overflow a float stays at the cap
    assert Backoff(initial_s=1, max_s=100, factor=3).delay(3) == 9


def test_next_attempt_at_is_now_plus_the_delay() -> None:
    notify = Backoff(initial_s=5, max_s=600)
    assert notify.next_attempt_at(1, now=1000.0) == 1005.0
    assert notify.next_attempt_at(4, now=1000.0) == 1040.0


def test_jitter_shortens_a_delay_by_at_most_its_fraction_and_never_passes_the_cap() -> None:
    seeded = random.Random(29)
    jittered = Backoff(initial_s=1, max_s=30, jitter=0.25, random=seeded.random)
    exact = Backoff(initial_s=1, max_s=30)
    delays = [(jittered.delay(n), exact.delay(n)) for n in range(1, 12) for _ in range(50)]
    assert all(0.75 * e <= d <= e for d, e in delays)
    assert len({d for d, _e in delays}) > 100, "the delays should spread, not repeat"
    assert Backoff(initial_s=8, max_s=30, jitter=0.5, random=lambda: 0.0).delay(1) == 8
    assert Backoff(initial_s=8, max_s=30, jitter=0.5, random=lambda: 1.0).delay(1) == 4


@pytest.mark.parametrize(
    ("initial_s", "max_s", "factor", "jitter"),
    [(-1, 10, 2, 0), (1, -1, 2, 0), (1, 10, 0.5, 0), (1, 10, 2, 1.0), (1, 10, 2, -0.1)],
)
def test_a_backoff_that_makes_no_sense_is_refused(
    initial_s: float, max_s: float, factor: float, jitter: float
) -> None:
    with pytest.raises(ValueError):
        Backoff(initial_s=initial_s, max_s=max_s, factor=factor, jitter=jitter)


# ---- Loop ----------------------------------------------------------------------------------------
@pytest.fixture
def loops() -> Iterator[list[Loop]]:
    made: list[Loop] = []
    yield made
    for loop in made:
        loop.stop()


def test_a_step_that_raises_is_logged_with_its_traceback_and_the_loop_goes_on(
    loops: list[Loop], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) in (1, 2, 4):
            raise RuntimeError(f"broken step {len(calls)}")

    loop = Loop("flaky", step, interval_s=0.001, crash_backoff=QUICK)
    loops.append(loop)
    with caplog.at_level(logging.ERROR, logger="magickbox.loop"):
        loop.start()
        wait_until(lambda: len(calls) >= 6, timeout=10, what="steps after the failures")
    assert loop.alive
    failed = [r for r in caplog.records if r.exc_info is not None]
    assert [str(r.exc_info[1]) for r in failed if r.exc_info] == [
        "broken step 1",
        "broken step 2",
        "broken step 4",
    ]
    assert all(r.levelno == logging.ERROR and r.getMessage().startswith("flaky:") for r in failed)
    # The pause grows with failures in a row, and a step that works starts the count again.
    assert [(r.args[1], r.args[2]) for r in failed if isinstance(r.args, tuple)] == [
        (1, 0.01),
        (2, 0.02),
        (1, 0.01),
    ]


def test_repeated_failures_wait_the_crash_backoff_up_to_its_cap(
    loops: list[Loop], caplog: pytest.LogCaptureFixture
) -> None:
    def step() -> None:
        raise OSError("database is locked")

    loop = Loop("broken", step, interval_s=0.001, crash_backoff=QUICK)
    loops.append(loop)
    with caplog.at_level(logging.ERROR, logger="magickbox.loop"):
        loop.start()
        wait_until(lambda: len(caplog.records) >= 5, timeout=10, what="five failures")
        loop.stop()
    pauses = [r.args[2] for r in caplog.records[:5] if isinstance(r.args, tuple)]
    assert pauses == [0.01, 0.02, 0.04, 0.04, 0.04]


def test_the_pause_after_a_failure_is_at_least_the_interval(
    loops: list[Loop], caplog: pytest.LogCaptureFixture
) -> None:
    def step() -> None:
        raise OSError("no")

    loop = Loop("slow-poll", step, interval_s=3.0, crash_backoff=QUICK)
    loops.append(loop)
    with caplog.at_level(logging.ERROR, logger="magickbox.loop"):
        loop.start()
        wait_until(lambda: caplog.records, timeout=10, what="the failure")
    assert isinstance(caplog.records[0].args, tuple) and caplog.records[0].args[2] == 3.0


def test_stop_ends_the_thread_and_says_so() -> None:
    ran = threading.Event()
    loop = Loop("quiet", ran.set, interval_s=60)
    assert loop.stop(), "stopping a loop that never started is fine"
    loop = Loop("quiet", ran.set, interval_s=60)
    loop.start()
    wait_until(ran.is_set, timeout=10, what="the first step")
    assert loop.alive
    assert loop.stop()
    assert not loop.alive and loop.stopping.is_set()


def test_a_thread_that_does_not_end_in_time_is_left_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    inside = threading.Event()

    def step() -> None:
        inside.set()
        release.wait(30)

    loop = Loop("stuck", step, interval_s=60)
    loop.start()
    wait_until(inside.is_set, timeout=10, what="the step")
    loop.request_stop()
    with caplog.at_level(logging.WARNING, logger="magickbox.loop"):
        assert not loop.join(timeout_s=0.05)
    assert "stuck did not stop within 0.05 s" in caplog.text
    release.set()
    assert loop.join()


def test_wake_runs_the_next_step_before_the_interval(loops: list[Loop]) -> None:
    steps: list[int] = []
    loop = Loop("sleepy", lambda: steps.append(1), interval_s=3600)
    loops.append(loop)
    loop.start()
    wait_until(lambda: len(steps) == 1, timeout=10, what="the first step")
    loop.wake()
    wait_until(lambda: len(steps) == 2, timeout=10, what="a step after wake()")
    loop.wake()
    wait_until(lambda: len(steps) == 3, timeout=10, what="another step after wake()")


def test_a_step_says_how_long_to_wait_zero_is_at_once(loops: list[Loop]) -> None:
    steps: list[int] = []

    def step() -> float | None:
        steps.append(1)
        return 0.0 if len(steps) < 20 else None  # busy: go on at once; then idle for an hour

    loop = Loop("busy", step, interval_s=3600)
    loops.append(loop)
    loop.start()
    wait_until(lambda: len(steps) == 20, timeout=10, what="twenty steps in a row")


def test_the_scope_is_entered_around_every_step_in_the_loops_thread(loops: list[Loop]) -> None:
    inside = threading.local()
    entered: list[str] = []
    seen: list[bool] = []

    @contextmanager
    def scope() -> Iterator[None]:
        entered.append(threading.current_thread().name)
        inside.active = True
        try:
            yield
        finally:
            inside.active = False

    def step() -> float:
        seen.append(getattr(inside, "active", False))
        return 0.0

    loop = Loop("scoped", step, interval_s=60, scope=scope)
    loops.append(loop)
    loop.start()
    wait_until(lambda: len(seen) >= 5, timeout=10, what="five steps")
    loop.stop()
    assert all(seen) and len(entered) == len(seen)
    assert set(entered) == {"scoped"}, "the thread keeps the name it was given"


def test_unblock_ends_a_step_that_blocks(loops: list[Loop]) -> None:
    inbox: queue.Queue[str] = queue.Queue()
    got: list[str] = []

    def step() -> float:
        got.append(inbox.get())  # blocks like accept() would
        return 0.0

    loop = Loop("blocking", step, interval_s=0, unblock=lambda: inbox.put("stop"))
    loop.start()
    inbox.put("one")
    wait_until(lambda: got == ["one"], timeout=10, what="the first item")
    assert loop.stop()
    assert got == ["one", "stop"]


# ---- every stage thread is a Loop ------------------------------------------------------------------
# Threads that are not loops: one run each, or another process's own life (say why when adding one).
NOT_LOOPS = {
    "app.py": "api-warm-up: once at start",
    "server.py": "study-index: once at start",
    "client/boxes.py": "mb: asks several boxes at once, then ends",
    "receive/worker_process.py": "take: reads its channel until the serve process closes it, then ends",
}


def test_no_stage_writes_its_own_background_thread() -> None:
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "Thread":
                found[path.relative_to(PACKAGE).as_posix()] = node.lineno
    # loop.py makes the threads; run/worker.py's job thread runs one job to its end (not a loop).
    assert set(found) - {"loop.py", "run/worker.py"} <= set(NOT_LOOPS), found
