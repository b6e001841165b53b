"""Fixtures for the DICOM wire-level tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected socket pair: (ours, the peer's)."""
    ours, peer = socket.socketpair()
    yield ours, peer
    ours.close()
    peer.close()
