"""The store: SQLite state (the source of truth) plus the scratch folders that hold payload.

Every stage reads and changes state only through this package.
"""

from __future__ import annotations

from magickbox.config import Settings
from magickbox.store.buckets import Catalog, load_catalog
from magickbox.store.db import Database
from magickbox.store.jobs import JobStore
from magickbox.store.layout import ScratchLayout
from magickbox.store.sessions import SessionStore
from magickbox.store.studies import StudyIndex
from magickbox.store.tokens import TokenStore


class Store:
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
        self.studies = StudyIndex(self.db, keep_names=settings.index_patient_names)

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now (cheap: a few small files)."""
        return load_catalog(self.settings.streams_dir, self.settings.executor)


__all__ = ["Store"]
