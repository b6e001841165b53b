"""A worker: one thread that runs one claimed job to its end and reports it to the store."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from magickbox.config import Settings
from magickbox.run import process
from magickbox.run.contract import RunContext, build_spec, write_proc_json
from magickbox.run.executor import Executor, Hooks, Launch, LocalExecutor, launch_name, note_line
from magickbox.run.slurm_executor import DETACHED, RETRY
from magickbox.store import Store
from magickbox.store import jobs as J
from magickbox.store.buckets import Bucket
from magickbox.store.jobs import Job
from magickbox.store.sessions import Session

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.2
OUTCOME_TO_JOB = {
    process.SUCCESS: J.DONE,
    process.FAILED: J.FAILED,
    process.TIMEOUT: J.FAILED,
    process.CANCELLED: J.CANCELLED,
}


def empty_folder(folder: Path) -> None:
    """Remove what an earlier attempt left in OUTPUT, keep the folder itself."""
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
        store: Store,
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

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("job %d (%s) broke", self.job.id, self.bucket.name)
            self.store.jobs.finish(self.job.id, self.owner, J.FAILED, f"internal error: {exc}")
        finally:
            self.store.db.close()  # this thread's connection
            self.on_done(self)

    def _run(self) -> None:
        session = self.session
        layout = self.store.layout
        folder = layout.session_dir(session.scratchdir)
        ctx = RunContext(
            input_dir=layout.input_dir(session.scratchdir),
            output_dir=layout.output_dir(session.scratchdir),
            scratchdir=folder,
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
            return  # the lease went to another scheduler before anything was submitted
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
        attempt = f"attempt {self.job.attempts}, {kind}"
        note_line(log_path, f"start {self.bucket.name} ({attempt}): {spec.argv}")
        result = self.executor.run(launch, hooks)
        note_line(log_path, f"end {self.bucket.name}: {result.outcome}, {result.message}")
        self._report(result, proc_path)

    def _submitted(self, cluster_id: str) -> None:
        self._cluster_id = cluster_id
        self.store.jobs.slurm.record_id(self.job.id, self.owner, cluster_id)

    def _report(self, result: process.RunResult, proc_path: Path) -> None:
        if result.outcome == DETACHED and self._cluster_id:
            log.info("job %d: %s", self.job.id, result.message)
            return  # the cluster runs it on; the next scheduler re-attaches (store.slurm_jobs.adopt)
        if self._stop_reason == "shutdown" or result.outcome == DETACHED:
            self.store.jobs.release(self.job.id, self.owner, "the box stopped during the run; queued again")
            return
        if self._stop_reason == "lease lost":
            log.warning("job %d: lease lost; another scheduler took it over", self.job.id)
            return
        if result.outcome == RETRY:
            again = self.store.jobs.slurm.retry(
                self.job.id, self.owner, result.message, self.settings.max_attempts
            )
            log.warning("job %d: %s (%s)", self.job.id, result.message, "queued again" if again else "failed")
            return
        success = result.outcome == process.SUCCESS
        write_proc_json(proc_path, success, result.message)
        reason = "" if success else result.message
        if result.outcome == process.TIMEOUT and self.executor.kind == "local":
            reason = "timeout"
        self.store.jobs.finish(
            self.job.id, self.owner, OUTCOME_TO_JOB[result.outcome], reason, result.exit_code
        )
        log.info("job %d (%s): %s %s", self.job.id, self.bucket.name, result.outcome, result.message)

    def _stop_reason_now(self) -> str:
        """Why the run must stop now ("" = keep going); renews the lease while the run goes on."""
        if self.shutdown.is_set():
            self._stop_reason = "shutdown"
            return self._stop_reason
        now = time.monotonic()
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lease_s / 3
            if self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s) is None:
                self._stop_reason = "lease lost"
                return self._stop_reason
        if now >= self._next_cancel_check:
            self._next_cancel_check = now + CANCEL_CHECK_S
            if self.store.jobs.cancel_requested(self.job.id):
                self._stop_reason = "cancel"
        return self._stop_reason


def prepare_run(bucket: Bucket, ctx: RunContext, proc_path: Path) -> None:
    """Before a fresh start (never when re-attaching): empty OUTPUT, drop an old proc.json."""
    empty_folder(ctx.output_dir)
    proc_path.unlink(missing_ok=True)  # an old proc.json must not pass for this run's word
    bucket.memory_dir.mkdir(parents=True, exist_ok=True)
    (ctx.scratchdir / "measures").mkdir(exist_ok=True)
    if bucket.info.container is not None:
        proc_path.touch()  # bind-mounted at /proc.json; left empty, the box writes its own
