"""A worker: one thread that runs one claimed job to its end and reports it to the store."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from magickbox.config import Settings
from magickbox.run import process
from magickbox.run.contract import RunContext, build_spec, write_proc_json
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


def stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(now or time.time(), UTC).isoformat(timespec="milliseconds")


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
        self._stop_reason = ""
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
        empty_folder(ctx.output_dir)
        proc_path = layout.proc_path(session.scratchdir)
        proc_path.unlink(missing_ok=True)  # an old proc.json must not pass for this run's word
        self.bucket.memory_dir.mkdir(parents=True, exist_ok=True)
        spec = build_spec(self.bucket, ctx)
        with layout.log_path(session.scratchdir).open("ab", buffering=0) as out:
            self._note(out, f"start {self.bucket.name} (attempt {self.job.attempts}): {spec.argv}")
            result = process.run_process(spec, out, should_stop=self._should_stop)
            self._note(out, f"end {self.bucket.name}: {result.outcome}, {result.message}")
        self._report(result, proc_path)

    def _report(self, result: process.RunResult, proc_path: Path) -> None:
        if self._stop_reason == "shutdown":
            self.store.jobs.release(self.job.id, self.owner, "the box stopped during the run; queued again")
            return
        if self._stop_reason == "lease lost":
            log.warning("job %d: lease lost; another scheduler took it over", self.job.id)
            return
        success = result.outcome == process.SUCCESS
        write_proc_json(proc_path, success, result.message)
        reason = "" if success else result.message
        if result.outcome == process.TIMEOUT:
            reason = "timeout"
        self.store.jobs.finish(
            self.job.id, self.owner, OUTCOME_TO_JOB[result.outcome], reason, result.exit_code
        )
        log.info("job %d (%s): %s %s", self.job.id, self.bucket.name, result.outcome, result.message)

    def _should_stop(self) -> bool:
        if self.shutdown.is_set():
            self._stop_reason = "shutdown"
            return True
        now = time.monotonic()
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lease_s / 3
            if self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s) is None:
                self._stop_reason = "lease lost"
                return True
        if now >= self._next_cancel_check:
            self._next_cancel_check = now + CANCEL_CHECK_S
            if self.store.jobs.cancel_requested(self.job.id):
                self._stop_reason = "cancel"
                return True
        return False

    @staticmethod
    def _note(out: IO[bytes], text: str) -> None:
        out.write(f"[magickbox {stamp()}] {text}\n".encode())
