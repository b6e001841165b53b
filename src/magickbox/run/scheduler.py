"""The scheduler stage: a FIFO per bucket, per-bucket concurrency, a global cap, leases, recovery.

It polls the store's job queue every `scheduler_poll_s` (a one-row SQLite read), so a sealed
session starts within tens of milliseconds, whichever process sealed it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

from magickbox.config import Settings
from magickbox.errors import NotFound
from magickbox.run import container, orphans
from magickbox.run.process import run_stop_command
from magickbox.run.worker import Worker
from magickbox.store import Store
from magickbox.store.buckets import Catalog, load_catalog
from magickbox.store.jobs import Job

log = logging.getLogger(__name__)

FULL_LOOK_S = 1.0  # read the queue at least this often, whatever the WAL file says


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


class CatalogCache:
    """The bucket catalog, re-read only when a bucket folder or info.json changed.

    The scheduler looks at it every poll while jobs wait; re-reading (and re-logging invalid
    buckets) each time would be wasted work and log noise.
    """

    def __init__(self, streams_dir: Path) -> None:
        self.streams_dir = streams_dir
        self._key: tuple[object, ...] | None = None
        self._catalog = Catalog([], [])

    def _fingerprint(self) -> tuple[object, ...]:
        parts: list[object] = []
        try:
            parts.append(self.streams_dir.stat().st_mtime_ns)
            for folder in sorted(self.streams_dir.iterdir()):
                try:
                    info = (folder / "info.json").stat()
                    parts.append((folder.name, info.st_mtime_ns, info.st_size))
                except OSError:
                    parts.append((folder.name, None))
        except OSError:
            parts.append(None)
        return tuple(parts)

    def get(self) -> Catalog:
        key = self._fingerprint()
        if key != self._key:
            self._catalog = load_catalog(self.streams_dir)
            self._key = key
        return self._catalog


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
        self._catalog = CatalogCache(settings.streams_dir)
        self._wal = Path(f"{settings.db_path}-wal")
        self._wal_signature: tuple[int, int] | None = None
        self._next_full_look = 0.0

    # ---- stage -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.max_workers == 0:
            log.info("max_workers is 0: this process runs no buckets")
            return
        self.recover()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
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
        """Stop what a dead box left running for this job: its processes, and its container."""
        try:
            scratchdir = self.store.sessions.get(job.session_id).scratchdir
        except NotFound:
            return
        killed = orphans.kill_session_processes(self.store.layout.session_dir(scratchdir))
        if killed:
            log.warning("job %d: stopped %d process(es) left from the interrupted run", job.id, len(killed))
        bucket = self.store.catalog().by_name(job.bucket)
        if bucket is not None and bucket.info.container is not None:
            name = container.container_name(scratchdir, job.id)
            run_stop_command(container.stop_argv(bucket.info.container.runtime, name))

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self.tick()
                except Exception:
                    log.exception("scheduler tick failed; trying again")
                    self._stopping.wait(1.0)
                self._wake.wait(self.settings.scheduler_poll_s)
                self._wake.clear()
        finally:
            self.store.db.close()  # this thread's connection

    def tick(self) -> None:
        """One round: recover stale leases now and then, fail unrunnable jobs, start what fits."""
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + max(1.0, self.settings.lease_s / 3)
            self.recover()
        if not self._store_changed(now) or not self.store.jobs.has_queued():
            return
        catalog = self._catalog.get()
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
            try:
                session = self.store.sessions.get(job.session_id)
            except NotFound:
                continue  # deleted right after the claim (delete removes its jobs too)
            worker = Worker(self.settings, self.store, job, session, chosen, self.owner, self._done)
            with self._lock:
                self.workers[job.id] = worker
            worker.start()

    def _store_changed(self, now: float) -> bool:
        """Cheap change detection: every commit writes the WAL file, so its stat changes.

        A stat costs microseconds; the query it saves costs a hundred. The queue is still read at
        least once a second, in case a change slipped by (same size within one mtime tick).
        """
        try:
            info = self._wal.stat()
            signature: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            signature = None
        changed = signature != self._wal_signature or now >= self._next_full_look
        self._wal_signature = signature
        if changed:
            self._next_full_look = now + FULL_LOOK_S
        return changed

    def _done(self, worker: Worker) -> None:
        with self._lock:
            self.workers.pop(worker.job.id, None)
        self._wake.set()  # a slot is free: look at the queue now, not at the next poll


def create_scheduler(settings: Settings, store: Store) -> Scheduler:
    return Scheduler(settings, store)
