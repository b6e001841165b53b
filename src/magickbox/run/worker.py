"""A worker: one thread that runs one claimed job to its end and reports it to the store."""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from magickbox.config import Settings
from magickbox.errors import StoreFull
from magickbox.run import process
from magickbox.run.contract import RunContext, build_spec, write_proc_json
from magickbox.store import Store
from magickbox.store import jobs as J
from magickbox.store.buckets import Bucket
from magickbox.store.db import is_disk_full
from magickbox.store.jobs import Job
from magickbox.store.sessions import Session

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.2
RECORD_RETRY_FIRST_S = 0.2  # back-off for recording a job's end on a full disk, doubling ...
RECORD_RETRY_MAX_S = 5.0  # ... up to this
FULL_BELOW_BYTES = 1 << 20  # a failed run with less free space than this failed on a full disk
RELEASE = "release"  # an Ending that gives the job back to the queue (the box is stopping)
OUTCOME_TO_JOB = {
    process.SUCCESS: J.DONE,
    process.FAILED: J.FAILED,
    process.TIMEOUT: J.FAILED,
    process.CANCELLED: J.CANCELLED,
}


def stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(now or time.time(), UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Ending:
    state: str  # a job end state, or RELEASE
    reason: str
    exit_code: int | None = None


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """Name what was being written when the disk filled up: it becomes the job's reason."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise StoreFull(f"no space left on device while writing {what}") from exc
        raise


def disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


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
        self._folder = store.layout.session_dir(session.scratchdir)

    def run(self) -> None:
        try:
            try:
                ending = self._run()
            except StoreFull as exc:
                ending = Ending(J.FAILED, str(exc))
            except Exception as exc:
                if is_disk_full(exc):
                    ending = Ending(J.FAILED, f"no space left on device: {exc}")
                else:
                    log.exception("job %d (%s) broke", self.job.id, self.bucket.name)
                    ending = Ending(J.FAILED, f"internal error: {exc}")
            if ending is not None:
                self._record(ending)
        finally:
            self.store.db.close()  # this thread's connection
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
        with writing("OUTPUT"):
            empty_folder(ctx.output_dir)
        proc_path = layout.proc_path(session.scratchdir)
        proc_path.unlink(missing_ok=True)  # an old proc.json must not pass for this run's word
        self.bucket.memory_dir.mkdir(parents=True, exist_ok=True)
        spec = build_spec(self.bucket, ctx)
        full = ""
        with layout.log_path(session.scratchdir).open("ab", buffering=0) as out:
            self._note(out, f"start {self.bucket.name} (attempt {self.job.attempts}): {spec.argv}")
            result = process.run_process(spec, out, should_stop=self._should_stop)
            try:
                self._note(out, f"end {self.bucket.name}: {result.outcome}, {result.message}")
            except StoreFull as exc:
                full = str(exc)
        return self._ending(result, proc_path, full)

    def _ending(self, result: process.RunResult, proc_path: Path, full: str) -> Ending | None:
        """How the job ended, in the store's words; None when it is no longer ours to end."""
        if self._stop_reason == "shutdown":
            return Ending(RELEASE, "the box stopped during the run; queued again")
        if self._stop_reason == "lease lost":
            log.warning("job %d: lease lost; another scheduler took it over", self.job.id)
            return None
        if self._stop_reason == "deleted":
            return Ending(J.CANCELLED, "the session was deleted during the run", result.exit_code)
        success = result.outcome == process.SUCCESS
        reason = "timeout" if result.outcome == process.TIMEOUT else "" if success else result.message
        try:
            with writing("proc.json"):
                write_proc_json(proc_path, success, result.message)
        except StoreFull as exc:
            full = full or str(exc)
        if not full and result.outcome == process.FAILED and disk_full(self._folder):
            full = "no space left on device (the data folder was full when the run ended)"
        log.info("job %d (%s): %s %s %s", self.job.id, self.bucket.name, result.outcome, result.message, full)
        if full and result.outcome != process.CANCELLED:
            return Ending(J.FAILED, f"{full}; {reason}" if reason else full, result.exit_code)
        return Ending(OUTCOME_TO_JOB[result.outcome], reason, result.exit_code)

    def _record(self, ending: Ending) -> None:
        """Write the job's end; while the store cannot (full disk) retry with back-off, lease kept.

        Leaving the job `running` would make lease recovery re-run it later as "interrupted".
        A stopping box ends the retries: the restart's recovery then decides.
        """
        wait, waited = RECORD_RETRY_FIRST_S, False
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
            if self.shutdown.wait(wait):
                return
            wait = min(wait * 2, RECORD_RETRY_MAX_S)
            self._keep_lease()
        if waited:
            self.store.jobs.mark_stopped_unrecorded(self.session.id, stopped=False)
            log.info("job %d: end recorded after the store could write again", self.job.id)

    def _keep_lease(self) -> None:
        with contextlib.suppress(StoreFull):
            self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s)

    def _should_stop(self) -> bool:
        if self.shutdown.is_set():
            self._stop_reason = "shutdown"
            return True
        now = time.monotonic()
        try:
            return self._lease_or_cancel(now)
        except StoreFull:
            # A full disk refuses the lease renewal; the run goes on, the lease is renewed later.
            return False

    def _lease_or_cancel(self, now: float) -> bool:
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lease_s / 3
            if self.store.jobs.renew(self.job.id, self.owner, self.settings.lease_s) is None:
                self._stop_reason = "lease lost"
                return True
        if now >= self._next_cancel_check:
            self._next_cancel_check = now + CANCEL_CHECK_S
            if not self._folder.is_dir():
                self._stop_reason = "deleted"  # also when the delete could not write the cancel flag
                return True
            if self.store.jobs.cancel_requested(self.job.id):
                self._stop_reason = "cancel"
                return True
        return False

    @staticmethod
    def _note(out: IO[bytes], text: str) -> None:
        with writing("processing.log"):
            out.write(f"[magickbox {stamp()}] {text}\n".encode())
