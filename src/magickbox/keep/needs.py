"""What housekeeping takes from the store: the parts it uses, as a Protocol.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import (
    AuditLog,
    NotificationStore,
    Retention,
    Scoped,
    ScratchLayout,
    SessionStore,
    WithCatalog,
)


class KeeperStore(Scoped, WithCatalog, Protocol):
    """What may go (retention), the audit log it writes, the folders it measures, the buckets'
    own retention rules (catalog) and the notification a high disk raises."""

    retention: Retention
    audit: AuditLog
    sessions: SessionStore
    layout: ScratchLayout
    notifications: NotificationStore
