"""What the receive stage takes from the store: the parts it uses, as Protocols.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage. Each
receive worker process builds its own `Store` (worker_process.py) and hands it on the same way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from magickbox.store import Catalog, RetrievalStore, ScratchLayout, SessionStore, StudyIndex


class SealerStore(Protocol):
    """Sessions to seal or end (and the ends a full disk kept back) and their folders."""

    sessions: SessionStore
    layout: ScratchLayout

    def connection(self) -> AbstractContextManager[object]:
        """A scope for this thread's use of the store (see `Store.connection`)."""
        ...


class ReceiverStore(SealerStore, Protocol):
    """Also the study index the instances are counted into, the retrievals a PACS's C-STOREs
    belong to, and the buckets called AE titles select."""

    studies: StudyIndex
    retrievals: RetrievalStore

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now."""
        ...
