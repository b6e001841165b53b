"""What the retrieve stage takes from the store: the parts it uses, as a Protocol.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import (
    NotificationStore,
    RetrievalStore,
    Scoped,
    ScratchLayout,
    SessionStore,
    WithCatalog,
)


class RetrieverStore(Scoped, WithCatalog, Protocol):
    """Retrievals to run, the sessions and folders their studies fill (C-GET writes them itself),
    the buckets they go to and the notification when one is done."""

    retrievals: RetrievalStore
    sessions: SessionStore
    layout: ScratchLayout
    notifications: NotificationStore
