"""Executors: where one run of a bucket happens. The box keeps queue, order and state either way.

An executor gets a `Launch` (the argv/cwd/env built by the bucket contract, a unique name, the
session's log) and `Hooks` (how the worker tells it to stop, and how it reports back), and
returns a `RunResult`. `local` runs a process group on the box (a command, or a container
runtime's client); `slurm` (run.slurm_executor) submits the same argv as a Slurm job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from magickbox.run import process
from magickbox.run.process import RunResult, RunSpec

# Why the worker wants a run to stop ("" = keep going).
STOP_CANCEL = "cancel"
STOP_SHUTDOWN = "shutdown"
STOP_LEASE_LOST = "lease lost"


def _nothing() -> None:
    return None


def _no_stop() -> str:
    return ""


def _ignore_id(job_id: str) -> None:
    return None


def _ignore_state(state: str, reason: str) -> None:
    return None


@dataclass(frozen=True)
class Launch:
    spec: RunSpec
    name: str  # unique per job attempt: magickbox-<scratchdir>-<job id>.<attempt>
    log_path: Path  # the session's processing.log (appended to)


@dataclass(frozen=True)
class Hooks:
    stop_reason: Callable[[], str] = _no_stop
    # Called once before a fresh start (not when re-attaching): empty OUTPUT, drop old proc.json.
    prepare: Callable[[], None] = _nothing
    on_submitted: Callable[[str], None] = _ignore_id  # the cluster's job id
    on_state: Callable[[str, str], None] = _ignore_state  # the cluster's state and pending reason
    # A cluster job id stored by an earlier run of the box: watch it, never submit again.
    known_id: str | None = None


class Executor(Protocol):
    """One way to run a launch to its end; never raises for a failing run (the result says it)."""

    kind: str

    def run(self, launch: Launch, hooks: Hooks) -> RunResult: ...


class LocalExecutor:
    """A process group on the box; output straight into processing.log (see run.process)."""

    kind = "local"

    def run(self, launch: Launch, hooks: Hooks) -> RunResult:
        hooks.prepare()
        with launch.log_path.open("ab", buffering=0) as out:
            return process.run_process(launch.spec, out, should_stop=lambda: hooks.stop_reason() != "")


def launch_name(scratchdir: str, job_id: int, attempt: int) -> str:
    """Unique per session, job and attempt, so a restarted box finds exactly this run by name."""
    return f"magickbox-{scratchdir}-{job_id}.{attempt}"


def stamp(now: float | None = None) -> str:
    """UTC time with milliseconds, as in the box's lines of processing.log."""
    return datetime.fromtimestamp(now or time.time(), UTC).isoformat(timespec="milliseconds")


def note_line(log_path: Path, text: str) -> None:
    """Append one `[magickbox <time>] text` line to a session's processing.log."""
    with log_path.open("ab", buffering=0) as out:
        out.write(f"[magickbox {stamp()}] {text}\n".encode())
