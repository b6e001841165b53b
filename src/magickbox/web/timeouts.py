"""Deadlines uvicorn does not have: for an unfinished request head and for a stalled body.

uvicorn times out only idle keep-alive connections; a peer that sends half a request head and
then nothing holds its connection (and a file descriptor) forever, and 1,000 such peers starve
the process of descriptors. `bounded_protocol(settings)` returns a subclass of uvicorn's h11
protocol that closes a connection whose request head is not complete `http_header_timeout_s`
after it began, or whose body sends no byte for `http_body_timeout_s` (unless the box itself
stopped reading because the application has not consumed what came before).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from magickbox.config import Settings

log = logging.getLogger(__name__)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a body inactivity limit."""

    head_timeout_s = 10.0
    body_timeout_s = 30.0

    _head_began: float | None = None
    _last_byte = 0.0
    _watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        now = self.loop.time()
        self._head_began = now  # a new connection owes its first request head from now on
        self._last_byte = now
        self._schedule()

    def data_received(self, data: bytes) -> None:
        now = self.loop.time()
        self._last_byte = now
        if self._head_began is None and self.conn.their_state is h11.IDLE:
            self._head_began = now  # the next request on a kept-alive connection has begun
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_began = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:
            self._head_began = None  # idle again: uvicorn's keep-alive timeout takes over

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        super().connection_lost(exc)

    def _schedule(self) -> None:
        tick = max(0.05, min(self.head_timeout_s, self.body_timeout_s) / 4)
        self._watch = self.loop.call_later(tick, self._check)

    def _check(self) -> None:
        self._watch = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        state = self.conn.their_state
        head_late = state is h11.IDLE and self._head_began is not None
        if head_late and now - (self._head_began or now) > self.head_timeout_s:
            self._close("request head not complete")
            return
        body_waiting = state is h11.SEND_BODY and not self.flow.read_paused
        if body_waiting and now - self._last_byte > self.body_timeout_s:
            self._close("request body stalled")
            return
        self._schedule()

    def _close(self, why: str) -> None:
        log.debug("closing HTTP connection from %s: %s", self.client, why)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application sees http.disconnect
            self.cycle.message_event.set()
        self.transport.close()


def bounded_protocol(settings: Settings) -> type[BoundedH11Protocol]:
    """The protocol class for uvicorn.Config(http=...), with the deadlines from the settings."""
    return type(
        "BoxH11Protocol",
        (BoundedH11Protocol,),
        {
            "head_timeout_s": settings.http_header_timeout_s,
            "body_timeout_s": settings.http_body_timeout_s,
        },
    )
