"""A worker: one thread that runs one claimed job to its end (through its executor) and reports
it to the store, also when the disk is full."""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from magickbox.config import Settings
from magickbox.errors import StoreFull
from magickbox.files import is_disk_full
from magickbox.loop import Backoff
from magickbox.run import process
from magickbox.run.contract import RunContext, build_spec, write_proc_json
from magickbox.run.ending import RELEASE, Ending, disk_full, writing
from magickbox.run.executor import Executor, Hooks, Launch, LocalExecutor, launch_name, note_line
from magickbox.run.needs import WorkerStore
from magickbox.run.slurm_executor import DETACHED, RETRY
from magickbox.store import Bucket, Job, JobState, Session

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.2
RECORD_RETRY = Backoff(initial_s=0.2, max_s=5.0)  # recording a job's end on a full disk
OUTCOME_TO_JOB = {
    process.SUCCESS: JobState.DONE,
    process.FAILED: JobState.FAILED,
    process.TIMEOUT: JobState.FAILED,
    process.CANCELLED: JobState.CANCELLED,
}


def empty_folder(folder: Path) -> None:
    """Remove what an earlier attempt left in OUTPUT, keep the folder itself. An OUTPUT that is a
    link (a bucket may make it one) is removed, never its target, and made a folder again."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


class Worker(threading.Thread):
    def __init__(
        self,
        settings: Settings,
        store: WorkerStore,
        job: Job,
        session: Session,
        bucket: Bucket,
        owner: str,
        on_done: Callable[[Worker], None],
        executor: Executor | None = None,
    ) -> None:
        super().__init__(name=f"job-{job.id}-{bucket.name}", daemon=True)
        self.settings = settings
        self.store = store
        self.job = job
        self.session = session  # read by the scheduler: no new connection before the spawn
        self.bucket = bucket
        self.owner = owner
        self.on_done = on_done
        self.shutdown = threading.Event()  # the box is stopping: give the job back
        self.executor: Executor = executor or LocalExecutor()
        self._stop_reason = ""
        self._cluster_id = job.slurm_job_id or ""
        self._next_renew = 0.0
        self._next_cancel_check = 0.0
        self._folder = store.layout.session_dir(session.scratchdir)

    def run(self) -> None:
        try:
            with self.store.connection():  # this thread's connection
                try:
                    ending = self._run()
                except StoreFull as exc:
                    ending = Ending(JobState.FAILED, str(exc))
                except Exception as exc:
                    if is_disk_full(exc):
                        ending = Ending(JobState.FAILED, f"no space left on device: {exc}")
                    else:
                        log.exception("job %d (%s) broke", self.job.id, self.bucket.name)
                        ending = Ending(JobState.FAILED, f"internal error: {exc}")
                if ending is not None:
                    self._record(ending)
        finally:
            self.on_done(self)

    def _run(self) -> Ending | None:
        session = self.session
        layout = self.store.layout
        ctx = RunContext(
            input_dir=layout.input_dir(session.scratchdir),
            output_dir=layout.output_dir(session.scratchdir),
            scratchdir=self._folder,
            called_aet=session.called_aet,
            calling_aet=session.calling_aet,
            caller_ip=session.caller_ip,
            arguments=session.arguments,
            job_id=self.job.id,
        )
        proc_path = layout.proc_path(session.scratchdir)
        spec = build_spec(self.bucket, ctx)
        kind = self.executor.kind
        if kind != "local" and not self.store.jobs.slurm.set_executor(self.job.id, self.owner, kind):
            return None  # the lease went to another scheduler before anything was submitted
        log_path = layout.log_path(session.scratchdir)
        launch = Launch(spec, launch_name(session.scratchdir, self.job.id, self.job.attempts), log_path)
        hooks = Hooks(
            stop_reason=self._stop_reason_now,
            prepare=lambda: prepare_run(self.bucket, ctx, proc_path),
            on_submitted=self._submitted,
            on_state=lambda state, why: self.store.jobs.slurm.record_state(
                self.job.id, self.owner, state, why
            ),
            known_id=self.job.slurm_job_id,
        )
        with writing("processing.log"):
            note_line(
                log_path, f"start {self.bucket.name} (attempt {self.job.attempts}, {kind}): {spec.argv}"
            )
        result = self.executor.run(launch, hooks)
        full = ""
        try:
            with writing("processing.log"):
                note_line(log_path, f"end {self.bucket.name}: {result.outcome}, {result.message}")
        except StoreFull as exc:
            full = str(exc)
        return self._ending(result, proc_path, full)

    def _submitted(self, cluster_id: str) -> None:
        self._cluster_id = cluster_id
        self.store.jobs.slurm.record_id(self.job.id, self.owner, cluster_id)

    def _ending(self, result: process.RunResult, proc_path: Path, full: str) -> Ending | None:
        """How the job ended, in the store's words; None when it is no longer ours to end."""
        if result.outcome == DETACHED and self._cluster_id:
            log.info("job %d: %s", self.job.id, result.message)
            return None  # the cluster runs it on; the next scheduler re-attaches (store.slurm_jobs.adopt)
        if self._stop_reason == "shutdown" or result.outcome == DETACHED:
            return Ending(RELEASE, "the box stopped during the run; queued again")
        if self._stop_reason == "lease lost":
            log.warning("job %d: lease lost; another scheduler took it over", self.job.id)
            return None
        if self._stop_reason == "deleted":
            return Ending(JobState.CANCELLED, "the session was deleted during the run", result.exit_code)
        if result.outcome == RETRY:
            again = self.store.jobs.slurm.retry(
                self.job.id, self.owner, result.message, self.settings.max_attempts
            )
            log.warning("job %d: %s (%s)", self.job.id, result.message, "queued again" if again else "failed")
            return None
        return self._outcome(result, proc_path, full)

    def _outcome(self, result: process.RunResult, proc_path: Path, full: str) -> Ending:
        success = result.outcome == process.SUCCESS
        reason = "" if success else result.message
        if result.outcome == process.TIMEOUT and self.executor.kind == "local":
            reason = "timeout"
        try:
            with writing("proc.json"):
                write_proc_json(proc_path, success, result.message)
        except StoreFull as exc:
            full = full or str(exc)
        if not full and result.outcome == process.FAILED and disk_full(self._folder):
            full = "no space left on device (the data folder was full when the run ended)"
        log.info("job %d (%s): %s %s %s", self.job.id, self.bucket.name, result.outcome, result.message, full)
        if full and result.outcome != process.CANCELLED:
            return Ending(JobState.FAILED, f"{full}; {reason}" if reason else full, result.exit_code)
        return Ending(OUTCOME_TO_JOB[result.outcome], reason, result.exit_code)

    def _record(self, ending: Ending) -> None:
        """Write the job's end; while the store cannot (full disk) retry with back-off, lease kept.

        Leaving the job `running` would make lease recovery re-run it later as "interrupted".
        A stopping box ends the retries: the restart's recovery then decides.
        """
        tries, waited = 0, False
        while True:
            try:
                if ending.state == RELEASE:
                    self.store.jobs.release(self.job.id, self.owner, ending.reason)
                else:
                    self.store.jobs.finish(
                        self.job.id, self.owner, ending.state, ending.reason, ending.exit_code
                    )
                break
            except StoreFull as exc:
                if not waited:
                    log.warning(
                        "job %d: its end (%s) waits for free space: %s", self.job.id, ending.state, exc
                    )
                    self.store.jobs.mark_stopped_unrecorded(self.session.id, stopped=True)
                    waited = True
            tries += 1
            if self.shutdown.wait(RECORD_RETRY.delay(tries)):
                return
            with contextlib.suppress(StoreFull):
                self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s)
        if waited:
            self.store.jobs.mark_stopped_unrecorded(self.session.id, stopped=False)
            log.info("job %d: end recorded after the store could write again", self.job.id)

    def _stop_reason_now(self) -> str:
        """Why the run must stop now ("" = keep going); renews the lease while the run goes on."""
        if self.shutdown.is_set():
            self._stop_reason = "shutdown"
            return self._stop_reason
        # A full disk refuses the lease renewal; the run goes on, renewed later.
        with contextlib.suppress(StoreFull):
            self._check_lease_and_cancel(time.monotonic())
        return self._stop_reason

    def _check_lease_and_cancel(self, now: float) -> None:
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lease_s / 3
            if self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s) is None:
                self._stop_reason = "lease lost"
                return
        if now >= self._next_cancel_check:
            self._next_cancel_check = now + CANCEL_CHECK_S
            if not self._folder.is_dir():
                self._stop_reason = "deleted"  # also when the delete could not write the cancel flag
            elif self.store.jobs.cancel_requested(self.job.id):
                self._stop_reason = "cancel"


def prepare_run(bucket: Bucket, ctx: RunContext, proc_path: Path) -> None:
    """Before a fresh start (never when re-attaching): empty OUTPUT, drop an old proc.json."""
    with writing("OUTPUT"):
        empty_folder(ctx.output_dir)
    proc_path.unlink(missing_ok=True)  # an old proc.json must not pass for this run's word
    bucket.memory_dir.mkdir(parents=True, exist_ok=True)
    (ctx.scratchdir / "measures").mkdir(exist_ok=True)
    if bucket.info.container is not None:
        proc_path.touch()  # bind-mounted at /proc.json; left empty, the box writes its own
