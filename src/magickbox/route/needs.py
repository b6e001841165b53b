"""What the router takes from the store: the parts it uses, as a Protocol.

`Store` has them all; a test may hand in anything shaped alike. mypy checks that `Store` fits
where server.py builds the stage (its STAGES table takes `Store`).
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import DeliveryStore, RoutingLog, Scoped, ScratchLayout, SessionStore


class RouterStore(Scoped, Protocol):
    """Deliveries to plan and send, routing.log to write, the session folders to send from."""

    deliveries: DeliveryStore
    routelog: RoutingLog
    sessions: SessionStore
    layout: ScratchLayout
