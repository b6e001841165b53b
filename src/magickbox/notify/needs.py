"""What the notifier takes from the store: the outbox of events, as a Protocol.

`Store` has it; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import NotificationStore, Scoped


class NotifierStore(Scoped, Protocol):
    """The events to send and their sends (the outbox)."""

    notifications: NotificationStore
