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
from magickbox.loop import Loop
from magickbox.models import SlurmSpec
from magickbox.run import container, orphans
from magickbox.run.executor import Executor
from magickbox.run.needs import SchedulerStore
from magickbox.run.process import run_stop_command
from magickbox.run.slurm import SlurmClient
from magickbox.run.slurm_executor import SlurmExecutor
from magickbox.run.worker import Worker
from magickbox.store import Bucket, Catalog, Job, JobState, Session, load_catalog, slurm_spec

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

    def __init__(self, streams_dir: Path, default_executor: str = "local") -> None:
        self.streams_dir = streams_dir
        self.default_executor = default_executor
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
            self._catalog = load_catalog(self.streams_dir, self.default_executor)
            self._key = key
        return self._catalog


class Scheduler:
    name = "scheduler"

    def __init__(self, settings: Settings, store: SchedulerStore) -> None:
        self.settings = settings
        self.store = store
        self.owner = orphans.owner_id(secrets.token_hex(4))
        self.workers: dict[int, Worker] = {}
        self._lock = threading.Lock()
        self._loop = Loop(
            "scheduler", self.tick, interval_s=settings.scheduler_poll_s, scope=store.connection
        )
        self._stopping = self._loop.stopping
        self._next_recover = 0.0
        self._catalog = CatalogCache(settings.streams_dir, settings.executor)
        self._slurm: SlurmClient | None = None  # made on first use: one shared squeue snapshot
        self._wal = Path(f"{settings.db_path}-wal")
        self._wal_signature: tuple[int, int] | None = None
        self._next_full_look = 0.0

    # ---- stage -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.max_workers == 0:
            log.info("max_workers is 0: this process runs no buckets")
            return
        self.recover()
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
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
        for job_id, old_owner in self.store.jobs.slurm.stale(orphans.owner_is_gone):
            with self._lock:
                watched = job_id in self.workers
            # A slow Slurm command can outlast the lease of a worker that is alive: keep it.
            if not self.store.jobs.slurm.adopt(job_id, old_owner, self.owner, self.settings.lease_s):
                continue
            if watched and old_owner == self.owner:
                continue
            self._reattach(job_id)

    def _reattach(self, job_id: int) -> None:
        """Watch a Slurm job a stopped box left running; never submit it again."""
        job = self.store.jobs.get(job_id)
        bucket = None if job is None else self._catalog.get().by_name(job.bucket)
        if job is None:
            return
        try:
            session = self.store.sessions.get(job.session_id)
        except NotFound:
            return
        if bucket is None:
            # Without its bucket the run cannot be described; stop it rather than watch blind.
            if job.slurm_job_id:
                self._client().cancel_quietly(job.slurm_job_id)
            reason = f"bucket '{job.bucket}' is gone; its Slurm job was cancelled"
            self.store.jobs.finish(job.id, self.owner, JobState.FAILED, reason)
            return
        log.warning("job %d: re-attaching to its Slurm job %s", job.id, job.slurm_job_id or "(by name)")
        self._spawn(job, session, bucket, self._slurm_executor(bucket))

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
            spec = bucket.info.container
            run_stop_command(container.stop_argv(spec.runtime, name, spec.runtime_args))

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
        # Slurm buckets are held by their own concurrency only: the cluster, not the box, runs them.
        uncapped = {b.name for b in catalog.valid if slurm_spec(b.info, self.settings.executor) is not None}
        while not self._stopping.is_set():
            job = self.store.jobs.claim(
                self.owner, self.settings.lease_s, limits, self.settings.max_workers, uncapped
            )
            if job is None:
                return
            chosen = catalog.by_name(job.bucket)
            assert chosen is not None  # claim only picks buckets in `limits`
            try:
                session = self.store.sessions.get(job.session_id)
            except NotFound:
                continue  # deleted right after the claim (delete removes its jobs too)
            executor = self._slurm_executor(chosen) if chosen.name in uncapped else None
            self._spawn(job, session, chosen, executor)

    def _spawn(self, job: Job, session: Session, bucket: Bucket, executor: Executor | None) -> None:
        worker = Worker(self.settings, self.store, job, session, bucket, self.owner, self._done, executor)
        with self._lock:
            self.workers[job.id] = worker
        worker.start()

    def _client(self) -> SlurmClient:
        if self._slurm is None:
            self._slurm = SlurmClient(poll_s=self.settings.slurm_poll_s)
        return self._slurm

    def _slurm_executor(self, bucket: Bucket) -> SlurmExecutor:
        spec = slurm_spec(bucket.info, self.settings.executor) or SlurmSpec()
        return SlurmExecutor(
            self._client(), spec, gpus=bucket.info.gpus, retry_max_s=self.settings.slurm_retry_max_s,
            data=self.settings.data, data_on_nodes=self.settings.slurm_data_path,
        )  # fmt: skip

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
        self._loop.wake()  # a slot is free: look at the queue now, not at the next poll


def create_scheduler(settings: Settings, store: SchedulerStore) -> Scheduler:
    return Scheduler(settings, store)
