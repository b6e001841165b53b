"""The store: SQLite state (the source of truth) plus the scratch folders that hold payload.

Every stage and edge reads and changes state only through the `Store` facade and its sub-stores;
no SQL runs outside this package (tests/test_layering.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from magickbox.config import Settings
from magickbox.store.audit import AuditLog
from magickbox.store.buckets import Catalog, load_catalog
from magickbox.store.db import Database
from magickbox.store.deliveries import DeliveryStore, delivery_store
from magickbox.store.jobs import JobStore
from magickbox.store.layout import ScratchLayout
from magickbox.store.notifications import NotificationStore
from magickbox.store.queries import Queries
from magickbox.store.retention import Retention
from magickbox.store.retrievals import RetrievalStore
from magickbox.store.routelog import RoutingLog
from magickbox.store.sessions import SessionStore
from magickbox.store.studies import StudyIndex
from magickbox.store.tokens import TokenStore


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


__all__ = ["Store"]
