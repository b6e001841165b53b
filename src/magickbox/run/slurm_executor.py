"""The Slurm executor: the bucket's argv as a batch job; its state read back from Slurm.

The job runs the same contract as a local run (argv, cwd, MB_* environment, output appended to
processing.log by Slurm itself). Crash safety: the job name is unique per job attempt and is
looked up before every submission, so a box killed between `sbatch` returning and the id being
stored re-attaches instead of submitting twice. An unreachable controller never fails a run:
the executor waits with back-off and says so in the log.
"""

from __future__ import annotations

import logging
import math
import shlex
import signal
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from magickbox.loop import Backoff
from magickbox.models import SlurmSpec
from magickbox.run import process
from magickbox.run.executor import STOP_CANCEL, Hooks, Launch, note_line
from magickbox.run.process import RunResult, RunSpec
from magickbox.run.slurm import JobStatus, SlurmClient, SlurmRefused, SlurmUnavailable

log = logging.getLogger(__name__)

DETACHED = "detached"  # the box stops watching; the job runs on and a restart re-attaches
RETRY = "retry"  # not the bucket's fault (node failure, preemption): queue it again
LIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
     "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "STOPPED"}
)  # fmt: skip
RETRY_STATES = frozenset({"NODE_FAIL", "PREEMPTED", "BOOT_FAIL"})
SLICE_S = 0.1  # how often a waiting executor looks at the stop flag
UNKNOWN_CONFIRMATIONS = 3  # polls in a row that must not find a job before it counts as lost


def sbatch_options(
    spec: SlurmSpec, *, name: str, log_path: str, cwd: str, timeout: float | None, gpus: str | int | None
) -> list[str]:
    """The sbatch options of one job: the box's own, then the bucket's `slurm` object."""
    options = [f"--job-name={name}", f"--output={log_path}", "--open-mode=append", f"--chdir={cwd}"]
    options.append("--export=ALL")  # the MB_* variables travel in sbatch's environment
    wanted = {"--partition": spec.partition, "--account": spec.account, "--qos": spec.qos, "--mem": spec.mem}
    options += [f"{flag}={value}" for flag, value in wanted.items() if value]
    if spec.cpus:
        options.append(f"--cpus-per-task={spec.cpus}")
    if spec.time:
        options.append(f"--time={spec.time}")
    elif timeout is not None:
        options.append(f"--time={max(1, math.ceil(timeout / 60))}")  # Slurm counts whole minutes
    if spec.gres:
        options.append(f"--gres={spec.gres}")
    elif gpus is not None:
        options.append(f"--gres=gpu:{1 if gpus == 'all' else gpus}")
    return [*options, *spec.sbatch_args]


def batch_script(spec: RunSpec, name: str) -> str:
    """A POSIX sh script that runs the argv in the bucket folder (quoted: nothing is re-parsed)."""
    return (
        "#!/bin/sh\n"
        f"# {name}: written by magickbox; the bucket's argv, run as on the box\n"
        f"cd {shlex.quote(str(spec.cwd))} || exit 97\n"
        f"exec {shlex.join(spec.argv)}\n"
    )


def map_paths(spec: RunSpec, log_path: Path, data: Path, remote: Path | None) -> tuple[RunSpec, Path]:
    """Rewrite the data folder's path to where the compute nodes mount it (`slurm_data_path`)."""
    if remote is None:
        return spec, log_path
    here, there = str(data.resolve()), str(remote)

    def swap(text: str) -> str:
        return text.replace(here + "/", there + "/") if here + "/" in text else text

    env = {key: swap(value) for key, value in spec.env.items()}
    return replace(spec, argv=[swap(a) for a in spec.argv], cwd=Path(swap(str(spec.cwd))), env=env), Path(
        swap(str(log_path))
    )


def job_env(env: Mapping[str, str]) -> dict[str, str]:
    """sbatch's environment: the run's, without a surrounding job's SLURM_* (SLURM_CONF is kept)."""
    return {k: v for k, v in env.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}


def result_of(status: JobStatus, *, cancelled: bool, started: float) -> RunResult:
    """A finished Slurm job as a run result; the reason names Slurm's state and exit code."""
    code = status.exit_code
    words = f"Slurm job {status.job_id} {status.state}"
    if status.signal:
        words += f", signal {signal.Signals(status.signal).name if status.signal < 65 else status.signal}"
    words += f", exit code {code if code is not None else '?'}"
    if status.state == "COMPLETED" and not code:
        return RunResult(process.SUCCESS, 0, words, None, started)
    if status.state == "CANCELLED" and cancelled:
        return RunResult(process.CANCELLED, code, "cancelled on request", None, started)
    if status.state == "TIMEOUT":
        return RunResult(process.TIMEOUT, code, words, None, started)
    if status.state in RETRY_STATES:
        return RunResult(RETRY, code, words, None, started)
    return RunResult(process.FAILED, code, words, None, started)


class SlurmExecutor:
    kind = "slurm"

    def __init__(
        self,
        client: SlurmClient,
        spec: SlurmSpec,
        *,
        gpus: str | int | None = None,
        retry_max_s: float = 30.0,
        data: Path | None = None,
        data_on_nodes: Path | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.gpus = gpus
        self.retry_max_s = retry_max_s
        self.data = data  # the box's data folder, and where the compute nodes see it (if elsewhere)
        self.data_on_nodes = data_on_nodes

    def run(self, launch: Launch, hooks: Hooks) -> RunResult:
        started = time.time()
        job_id = self._attach_or_submit(launch, hooks)
        if isinstance(job_id, RunResult):
            return job_id
        return self._watch(job_id, launch, hooks, started)

    def _attach_or_submit(self, launch: Launch, hooks: Hooks) -> str | RunResult:
        if hooks.known_id:
            note_line(launch.log_path, f"re-attached to Slurm job {hooks.known_id}")
            return hooks.known_id
        backoff = _Backoff(self.client.poll_s, self.retry_max_s, launch.log_path)
        prepared = False
        while True:
            why = hooks.stop_reason()
            if why:  # nothing of ours is known to run in Slurm (a lookup found nothing)
                if why == STOP_CANCEL and prepared:
                    self._cancel_unconfirmed(launch)
                outcome = process.CANCELLED if why == STOP_CANCEL else DETACHED
                return RunResult(outcome, None, f"stopped before submission ({why})")
            try:
                found = self.client.find_by_name(launch.name)
                if found is not None:
                    note_line(launch.log_path, f"re-attached to Slurm job {found.job_id} ({found.state})")
                    hooks.on_submitted(found.job_id)
                    return found.job_id
                if not prepared:
                    hooks.prepare()
                    prepared = True
                job_id = self._submit(launch)
            except SlurmUnavailable as exc:
                backoff.wait(f"{exc}", hooks)
                continue
            except SlurmRefused as exc:
                return RunResult(process.FAILED, None, f"Slurm refused the job: {exc}")
            note_line(launch.log_path, f"submitted as Slurm job {job_id} ({launch.name})")
            hooks.on_submitted(job_id)
            return job_id

    def _cancel_unconfirmed(self, launch: Launch) -> None:
        """An sbatch whose answer was lost may still have queued the job: cancel it by name too."""
        try:
            found = self.client.find_by_name(launch.name)
        except (SlurmUnavailable, SlurmRefused) as exc:
            note_line(launch.log_path, f"could not check Slurm for {launch.name} before cancelling: {exc}")
            return
        if found is not None:
            self.client.cancel_quietly(found.job_id)
            note_line(launch.log_path, f"cancelled Slurm job {found.job_id} found by name")

    def _submit(self, launch: Launch) -> str:
        spec, log_path = launch.spec, launch.log_path
        if self.data is not None:
            spec, log_path = map_paths(spec, log_path, self.data, self.data_on_nodes)
        options = sbatch_options(
            self.spec, name=launch.name, log_path=str(log_path), cwd=str(spec.cwd),
            timeout=spec.timeout, gpus=self.gpus,
        )  # fmt: skip
        return self.client.submit(batch_script(spec, launch.name), options, job_env(spec.env))

    def _watch(self, job_id: str, launch: Launch, hooks: Hooks, started: float) -> RunResult:
        watch = _Watch(job_id, _Backoff(self.client.poll_s, self.retry_max_s, launch.log_path))
        while True:
            why = hooks.stop_reason()
            if why and why != STOP_CANCEL:
                note_line(launch.log_path, f"the box stopped watching Slurm job {job_id} ({why}); it runs on")
                return RunResult(DETACHED, None, f"Slurm job {job_id} left running ({why})")
            try:
                if why == STOP_CANCEL and not watch.cancel_sent:
                    watch.cancel_sent = self._cancel(job_id, launch)
                status = self.client.status(job_id)
            except (SlurmUnavailable, SlurmRefused) as exc:
                watch.backoff.wait(str(exc), hooks)
                continue
            watch.backoff.answered()
            result = watch.judge(status, hooks, started)
            if result is not None:
                return result
            _sleep(self.client.poll_s, hooks)

    def _cancel(self, job_id: str, launch: Launch) -> bool:
        """scancel (and the container's stop command); True once Slurm has taken the request."""
        try:
            self.client.cancel(job_id)
        except SlurmRefused as exc:  # it ended meanwhile: its end state tells the rest
            note_line(launch.log_path, f"scancel {job_id}: {exc}")
        note_line(launch.log_path, f"cancel requested: scancel {job_id}")
        process.run_stop_command(launch.spec.stop_argv)
        return True


def _sleep(seconds: float, hooks: Hooks) -> None:
    """Wait, but wake up at once when a new reason to stop comes up."""
    before = hooks.stop_reason()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and hooks.stop_reason() == before:
        time.sleep(SLICE_S)


class _Watch:
    """What one watch of a Slurm job remembers between polls."""

    def __init__(self, job_id: str, backoff: _Backoff) -> None:
        self.job_id = job_id
        self.backoff = backoff
        self.cancel_sent = False
        self.seen = ("", "")
        self.unknown = 0  # polls in a row that did not find the job

    def judge(self, status: JobStatus | None, hooks: Hooks, started: float) -> RunResult | None:
        """The run's result once the job has ended (or is lost), None while it lives."""
        if status is None:
            # A controller that is shutting down can answer with an empty queue: ask again first.
            self.unknown += 1
            if self.unknown < UNKNOWN_CONFIRMATIONS:
                return None
            reason = f"Slurm no longer knows job {self.job_id}; its result is unknown"
            return RunResult(process.FAILED, None, reason, None, started)
        self.unknown = 0
        if (status.state, status.reason) != self.seen:
            self.seen = (status.state, status.reason)
            hooks.on_state(status.state, status.reason)
        if status.state in LIVE_STATES:
            return None
        return result_of(status, cancelled=self.cancel_sent, started=started)


class _Backoff:
    """Doubling waits while Slurm does not answer; one log line per wait, one when it is back."""

    def __init__(self, first_s: float, max_s: float, log_path: Path) -> None:
        self.backoff = Backoff(initial_s=first_s, max_s=max_s)
        self.log_path = log_path
        self.failures = 0  # unanswered calls in a row

    def wait(self, problem: str, hooks: Hooks) -> None:
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        message = f"Slurm did not answer ({problem}); trying again in {delay:g} s"
        log.warning("%s: %s", self.log_path.parent.name, message)
        note_line(self.log_path, message)
        _sleep(delay, hooks)

    def answered(self) -> None:
        if self.failures:
            note_line(self.log_path, "Slurm answers again")
            self.failures = 0
