"""The two members most stages' store Protocols share, so each stage's `needs.py` lists only its parts.

A stage's Protocol (e.g. `route.needs.RouterStore`) inherits these and names the sub-stores it
uses; `Store` fits them all.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from magickbox.store.buckets import Catalog


class Scoped(Protocol):
    """A store a thread uses inside `with store.connection():` (its connection is left for the
    next thread at the end; see `Store.connection`)."""

    def connection(self) -> AbstractContextManager[object]:
        """A scope for this thread's use of the store."""
        ...


class WithCatalog(Protocol):
    """A store that knows the buckets (`Store.catalog`)."""

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now."""
        ...
