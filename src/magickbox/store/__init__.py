"""The store: SQLite state (the source of truth) plus the scratch folders that hold payload.

This package is the one door to state. Every stage and edge reads and changes state only through
the `Store` facade and its sub-stores, and imports only `magickbox.store`: the types its parts
take and return (states, filters, entries, records) are re-exported here, and import-linter
fails on an import of `magickbox.store.<module>` from outside the package (pyproject.toml). No
SQL runs outside this package (tests/test_layering.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from magickbox.config import Settings
from magickbox.store.audit import ACTIONS, ANONYMOUS, Actor, AuditEntry, AuditFilter, AuditLog
from magickbox.store.backup import backup_database
from magickbox.store.buckets import (
    Bucket,
    Catalog,
    InvalidBucket,
    load_bucket,
    load_catalog,
    set_enabled,
    slurm_spec,
)
from magickbox.store.db import Database
from magickbox.store.deliveries import Delivery, DeliveryStore, FileResult, NewDelivery, delivery_store
from magickbox.store.jobs import BucketLoad, Job, JobStore
from magickbox.store.layout import ScratchLayout
from magickbox.store.notifications import Event, NewEvent, NotificationStore, Send, iso, public_fields
from magickbox.store.protocols import Scoped, WithCatalog
from magickbox.store.queries import BucketStats, Queries, SessionFilter, SessionPage
from magickbox.store.retention import Candidate, Retention, take_sweep_request, wake_if_high
from magickbox.store.retrievals import NewRetrieval, Retrieval, RetrievalStore, StudyToFetch
from magickbox.store.routelog import RoutingLog
from magickbox.store.sessions import Session, SessionKey, SessionStore, rfc2822_now
from magickbox.store.slurm_jobs import SlurmJobs
from magickbox.store.states import (
    SESSION_LIVE,
    SESSION_SETTLED,
    DeliveryState,
    JobState,
    RoutingState,
    SessionState,
)
from magickbox.store.studies import PRIVATE_NAMES, StudyFilter, StudyIndex, StudyTally
from magickbox.store.tokens import SCOPES, TokenStore, scope_allows


class Store:
    """The one front door to state: build it once per process, pass it to stages and edges."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data.mkdir(parents=True, exist_ok=True)
        for folder in (settings.streams_dir, settings.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_path)
        self.layout = ScratchLayout(settings.scratch_dir)
        self.sessions = SessionStore(self.db, self.layout)
        self.jobs = JobStore(self.db)
        self.tokens = TokenStore(self.db)
        self.notifications = NotificationStore(self.db)
        self.studies = StudyIndex(self.db, self.layout, keep_names=settings.index_patient_names)
        self.deliveries: DeliveryStore = delivery_store(self.db, settings)
        self.queries = Queries(self.db)
        self.routelog = RoutingLog(settings.logs_dir / "routing.log")
        self.audit = AuditLog(self.db)
        self.retrievals = RetrievalStore(self.db, self.sessions)
        self.retention = Retention(self.db, self.layout, self.sessions, self.audit)

    @contextmanager
    def connection(self) -> Iterator[Store]:
        """A scope for a thread's (or a command's) use of the store: at the end its connection
        is left for the next thread (Database.release), so a thread that stops holds none."""
        try:
            yield self
        finally:
            self.db.release()

    def ping(self) -> None:
        """Raise if the database cannot answer (the health check)."""
        self.queries.ping()

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now (cheap: a few small files)."""
        return load_catalog(self.settings.streams_dir, self.settings.executor)


# The door: what code outside the store may name (the import lines above say which part each is of).
__all__ = [
    "ACTIONS",
    "ANONYMOUS",
    "PRIVATE_NAMES",
    "SCOPES",
    "SESSION_LIVE",
    "SESSION_SETTLED",
    "Actor",
    "AuditEntry",
    "AuditFilter",
    "AuditLog",
    "Bucket",
    "BucketLoad",
    "BucketStats",
    "Candidate",
    "Catalog",
    "Delivery",
    "DeliveryState",
    "DeliveryStore",
    "Event",
    "FileResult",
    "InvalidBucket",
    "Job",
    "JobState",
    "JobStore",
    "NewDelivery",
    "NewEvent",
    "NewRetrieval",
    "NotificationStore",
    "Queries",
    "Retention",
    "Retrieval",
    "RetrievalStore",
    "RoutingLog",
    "RoutingState",
    "Scoped",
    "ScratchLayout",
    "Send",
    "Session",
    "SessionFilter",
    "SessionKey",
    "SessionPage",
    "SessionState",
    "SessionStore",
    "SlurmJobs",
    "Store",
    "StudyFilter",
    "StudyIndex",
    "StudyTally",
    "StudyToFetch",
    "TokenStore",
    "WithCatalog",
    "backup_database",
    "iso",
    "load_bucket",
    "load_catalog",
    "public_fields",
    "rfc2822_now",
    "scope_allows",
    "set_enabled",
    "slurm_spec",
    "take_sweep_request",
    "wake_if_high",
]
