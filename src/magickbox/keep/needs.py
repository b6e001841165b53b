"""What housekeeping takes from the store: the parts it uses, as a Protocol.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from magickbox.store import AuditLog, Catalog, NotificationStore, Retention, ScratchLayout, SessionStore


class KeeperStore(Protocol):
    """What may go (retention), the audit log it writes, the folders it measures, the buckets'
    own retention rules (catalog) and the notification a high disk raises."""

    retention: Retention
    audit: AuditLog
    sessions: SessionStore
    layout: ScratchLayout
    notifications: NotificationStore

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now."""
        ...

    def connection(self) -> AbstractContextManager[object]:
        """A scope for this thread's use of the store (see `Store.connection`)."""
        ...
