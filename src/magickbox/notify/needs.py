"""What the notifier takes from the store: the outbox of events, as a Protocol.

`Store` has it; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from magickbox.store import NotificationStore


class NotifierStore(Protocol):
    """The events to send and their sends (the outbox)."""

    notifications: NotificationStore

    def connection(self) -> AbstractContextManager[object]:
        """A scope for this thread's use of the store (see `Store.connection`)."""
        ...
