"""The Slurm client commands, as any Slurm user runs them: sbatch, squeue --json, scontrol, scancel.

They come from PATH and find the cluster through `SLURM_CONF` in the environment. No sacct (it
needs slurmdbd). A failure to reach the controller is `SlurmUnavailable` (the caller retries
with back-off); a refusal of the job itself is `SlurmRefused` (the session fails with it).
One `squeue` snapshot is shared by every job being watched, so 50 running jobs cost one
`squeue` per poll, not 50.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

COMMAND_TIMEOUT_S = 30.0
# stderr of a client that could not talk to slurmctld (as opposed to one that got an answer).
UNREACHABLE_MARKERS = (
    "unable to contact slurm controller",
    "socket timed out",
    "connection refused",
    "zero bytes were transmitted",
    "communication connection failure",
    "transport endpoint",
    "slurm_persist_conn",
    "munge",
    "controller is not responding",
)


class SlurmUnavailable(Exception):
    """The controller did not answer (down, restarting, network): try again later."""


class SlurmRefused(Exception):
    """Slurm answered and said no (bad partition, bad option, limits)."""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    name: str
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, ...
    reason: str  # the pending reason ("Resources", "Priority") or "None"
    exit_code: int | None = None
    signal: int | None = None


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _from_squeue(job: Mapping[str, object]) -> JobStatus:
    raw = job.get("exit_code")
    status = raw if isinstance(raw, int) else None
    state = job.get("job_state")
    if isinstance(state, list):  # later Slurm versions give a list of flags
        state = state[0] if state else ""
    return JobStatus(
        job_id=str(job.get("job_id")),
        name=str(job.get("name", "")),
        state=str(state or ""),
        reason=str(job.get("state_reason", "")),
        # 22.05 gives the raw wait status: exit code in the high byte, signal in the low bits.
        exit_code=None if status is None else (status >> 8) & 0xFF,
        signal=None if status is None else status & 0x7F,
    )


def _from_scontrol(line: str) -> JobStatus:
    fields: dict[str, str] = {}
    for part in line.split():
        key, _, value = part.partition("=")
        fields.setdefault(key, value)
    code, _, sig = fields.get("ExitCode", "").partition(":")
    return JobStatus(
        job_id=fields.get("JobId", ""),
        name=fields.get("JobName", ""),
        state=fields.get("JobState", ""),
        reason=fields.get("Reason", ""),
        exit_code=int(code) if code.isdigit() else None,
        signal=int(sig) if sig.isdigit() else None,
    )


class SlurmClient:
    def __init__(self, *, poll_s: float = 1.0, env: Mapping[str, str] | None = None) -> None:
        self.poll_s = poll_s
        self.env = dict(os.environ if env is None else env)
        self._lock = threading.Lock()
        self._snapshot: dict[str, JobStatus] = {}
        self._snapshot_at = float("-inf")

    def _call(
        self, argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        try:
            done = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                env=dict(env if env is not None else self.env),
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SlurmUnavailable(f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S:g} s") from exc
        except OSError as exc:
            raise SlurmUnavailable(f"could not run {argv[0]}: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().replace("\n", " ")[:500]
            if any(marker in message.lower() for marker in UNREACHABLE_MARKERS):
                raise SlurmUnavailable(f"{argv[0]}: {message}")
            raise SlurmRefused(f"{argv[0]}: {message or f'exit code {done.returncode}'}")
        return done.stdout

    def submit(self, script: str, options: Sequence[str], env: Mapping[str, str]) -> str:
        """sbatch the script (given on stdin) with `options`; returns the job id."""
        out = self._call(["sbatch", "--parsable", *options], stdin=script, env=env).strip()
        job_id = out.split(";")[0]  # "<id>[;<cluster>]"
        if not job_id.isdigit():
            raise SlurmRefused(f"sbatch printed no job id: {out[:200]!r}")
        self._snapshot_at = float("-inf")  # the next status() must see the new job
        return job_id

    def _squeue(self, *filters: str) -> list[JobStatus]:
        """`squeue --json` of this user's jobs in every state Slurm still remembers.

        squeue exits 0 with an empty job list and an `errors` entry when slurmctld is down:
        that must never read as "no such job" (the caller would submit a second time).
        """
        out = self._call(["squeue", "--json", "--states=all", f"--user={_current_user()}", *filters])
        try:
            answer = json.loads(out)
        except json.JSONDecodeError as exc:
            raise SlurmUnavailable(f"squeue --json printed no JSON: {out[:200]!r}") from exc
        errors = answer.get("errors") or []
        if errors:
            words = "; ".join(str(e.get("description") or e.get("error") or e) for e in errors)
            raise SlurmUnavailable(f"squeue --json: {words}")
        return [_from_squeue(job) for job in answer.get("jobs", [])]

    def find_by_name(self, name: str) -> JobStatus | None:
        """The newest job of this user with exactly this name, in any state Slurm still remembers."""
        jobs = [j for j in self._squeue(f"--name={name}") if j.name == name]
        return max(jobs, key=lambda j: int(j.job_id)) if jobs else None

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state from the shared snapshot (refreshed at most every poll_s), else scontrol.

        None when Slurm no longer knows the job at all.
        """
        with self._lock:
            if time.monotonic() - self._snapshot_at >= self.poll_s:
                self._snapshot = {j.job_id: j for j in self._squeue()}
                self._snapshot_at = time.monotonic()
            found = self._snapshot.get(job_id)
        if found is not None:
            return found
        try:
            out = self._call(["scontrol", "show", "job", "-o", job_id])
        except SlurmRefused:
            return None  # "Invalid job id specified": it left slurmctld's memory
        lines = [line for line in out.splitlines() if line.startswith("JobId=")]
        return _from_scontrol(lines[0]) if lines else None

    def cancel(self, job_id: str) -> None:
        """scancel; Slurm sends the job SIGTERM, then SIGKILL after its KillWait."""
        self._call(["scancel", job_id])
        self._snapshot_at = float("-inf")

    def cancel_quietly(self, job_id: str) -> None:
        """scancel, ignoring every failure (the job may be long gone)."""
        with contextlib.suppress(SlurmUnavailable, SlurmRefused):
            self.cancel(job_id)
