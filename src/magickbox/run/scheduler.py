"""The scheduler stage: a FIFO per bucket, per-bucket concurrency, a global cap, leases, recovery.

It polls the store's job queue every `scheduler_poll_s` (a one-row SQLite read), so a sealed
session starts within tens of milliseconds, whichever process sealed it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from magickbox.config import Settings
from magickbox.run import orphans
from magickbox.run.shipped import install_shipped
from magickbox.run.worker import Worker
from magickbox.store import Store
from magickbox.store.buckets import Catalog
from magickbox.store.jobs import Job

log = logging.getLogger(__name__)


def unrunnable_reason(bucket: str, catalog: Catalog) -> str | None:
    """Why jobs of `bucket` cannot run now, or None if they can."""
    if not bucket:
        return "no bucket was selected for this session"
    valid = catalog.by_name(bucket)
    if valid is not None:
        return None if valid.info.enabled else f"bucket '{bucket}' is disabled"
    broken = next((b for b in catalog.invalid if b.name == bucket), None)
    if broken is not None:
        return f"bucket '{bucket}' is not valid: {broken.reason}"
    return f"bucket '{bucket}' does not exist (it was removed)"


class Scheduler:
    name = "scheduler"

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.owner = orphans.owner_id(secrets.token_hex(4))
        self.workers: dict[int, Worker] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._next_recover = 0.0

    # ---- stage -------------------------------------------------------------------------------
    def start(self) -> None:
        install_shipped(self.settings.streams_dir)
        self.recover()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown.set()
        for worker in workers:
            worker.join(timeout=30)

    # ---- work --------------------------------------------------------------------------------
    def recover(self) -> None:
        for done in self.store.jobs.recover(
            self.settings.max_attempts, orphans.owner_is_gone, before=self._stop_leftovers
        ):
            log.warning("session %d: %s", done.session_id, done.reason)

    def _stop_leftovers(self, job: Job) -> None:
        try:
            scratchdir = self.store.sessions.get(job.session_id).scratchdir
        except Exception:
            return
        killed = orphans.kill_session_processes(self.store.layout.session_dir(scratchdir))
        if killed:
            log.warning("job %d: stopped %d process(es) left from the interrupted run", job.id, len(killed))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed; trying again")
                self._stopping.wait(1.0)
            self._wake.wait(self.settings.scheduler_poll_s)
            self._wake.clear()

    def tick(self) -> None:
        """One round: recover stale leases now and then, fail unrunnable jobs, start what fits."""
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + max(1.0, self.settings.lease_s / 3)
            self.recover()
        if not self.store.jobs.has_queued():
            return
        catalog = self.store.catalog()
        for bucket in self.store.jobs.queued_buckets():
            reason = unrunnable_reason(bucket, catalog)
            if reason is not None:
                failed = self.store.jobs.fail_queued(bucket, reason)
                log.warning("%d session(s) failed: %s", len(failed), reason)
        limits = {b.name: b.info.concurrency for b in catalog.valid if b.info.enabled}
        while not self._stopping.is_set() and len(self.workers) < self.settings.max_workers:
            job = self.store.jobs.claim(self.owner, self.settings.lease_s, limits, self.settings.max_workers)
            if job is None:
                return
            chosen = catalog.by_name(job.bucket)
            assert chosen is not None  # claim only picks buckets in `limits`
            worker = Worker(self.settings, self.store, job, chosen, self.owner, self._done)
            with self._lock:
                self.workers[job.id] = worker
            worker.start()

    def _done(self, worker: Worker) -> None:
        with self._lock:
            self.workers.pop(worker.job.id, None)
        self._wake.set()  # a slot is free: look at the queue now, not at the next poll


def create_scheduler(settings: Settings, store: Store) -> Scheduler:
    return Scheduler(settings, store)
