"""Run one bucket process: its own process group, output straight into the log, timeout, cancel.

The child writes into the log file descriptor itself, so `processing.log` grows live and is
complete when the process ends (no copy loop that could lose the tail).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SUCCESS = "success"
FAILED = "failed"
TIMEOUT = "timeout"
CANCELLED = "cancelled"

POLL_S = 0.05  # how often the process, the cancel flag and the clock are looked at
TERM_GRACE_S = 5.0  # between SIGTERM and SIGKILL when stopping a run


@dataclass(frozen=True)
class RunSpec:
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout: float | None = None
    # Extra command run when the run is stopped (a container runtime's `rm -f <name>`).
    stop_argv: list[str] | None = None


@dataclass
class RunResult:
    outcome: str  # success | failed | timeout | cancelled
    exit_code: int | None
    message: str
    pid: int | None = None
    started_at: float = field(default_factory=time.time)


def start_process(spec: RunSpec, log: IO[bytes] | int) -> subprocess.Popen[bytes]:
    """Start the process in a new session (its own process group), output into `log`."""
    return subprocess.Popen(
        spec.argv,
        cwd=spec.cwd,
        env=spec.env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )


def kill_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False when nothing is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the group, give it `grace_s`, then SIGKILL whatever is left of it."""
    kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()


def run_process(
    spec: RunSpec,
    log: IO[bytes] | int,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[int], None] = lambda pid: None,
) -> RunResult:
    """Run to the end, a timeout, or until `should_stop()` says so. Never raises for a bad exit."""
    started = time.time()
    try:
        proc = start_process(spec, log)
    except OSError as exc:
        return RunResult(FAILED, None, f"could not start {spec.argv[0]}: {exc.strerror or exc}")
    on_start(proc.pid)
    deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
    outcome: str | None = None
    while True:
        try:
            code = proc.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if deadline is not None and time.monotonic() >= deadline:
            outcome = TIMEOUT
        elif should_stop():
            outcome = CANCELLED
        if outcome is not None:
            run_stop_command(spec.stop_argv)
            stop_group(proc)
            code = proc.returncode
            break
    # Children the bucket left behind in its group must not outlive the run.
    kill_group(proc.pid, signal.SIGKILL)
    return _result(outcome, code, spec, proc.pid, started)


def _result(outcome: str | None, code: int, spec: RunSpec, pid: int, started: float) -> RunResult:
    if outcome == TIMEOUT:
        return RunResult(TIMEOUT, code, f"timeout after {spec.timeout:g} s", pid, started)
    if outcome == CANCELLED:
        return RunResult(CANCELLED, code, "cancelled on request", pid, started)
    if code == 0:
        return RunResult(SUCCESS, 0, "exit code 0", pid, started)
    if code < 0:
        return RunResult(FAILED, code, f"killed by signal {signal.Signals(-code).name}", pid, started)
    return RunResult(FAILED, code, f"exit code {code}", pid, started)


def run_stop_command(argv: Sequence[str] | None) -> None:
    if not argv:
        return
    quiet = subprocess.DEVNULL
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(list(argv), stdin=quiet, stdout=quiet, stderr=quiet, timeout=30, check=False)
