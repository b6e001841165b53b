"""What the receive stage takes from the store: the parts it uses, as Protocols.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage. Each
receive worker process builds its own `Store` (worker_process.py) and hands it on the same way.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import (
    RetrievalStore,
    Scoped,
    ScratchLayout,
    SessionStore,
    StudyIndex,
    WithCatalog,
)


class SealerStore(Scoped, Protocol):
    """Sessions to seal or end (and the ends a full disk kept back) and their folders."""

    sessions: SessionStore
    layout: ScratchLayout


class ReceiverStore(SealerStore, WithCatalog, Protocol):
    """Also the study index the instances are counted into, the retrievals a PACS's C-STOREs
    belong to, and the buckets called AE titles select."""

    studies: StudyIndex
    retrievals: RetrievalStore
