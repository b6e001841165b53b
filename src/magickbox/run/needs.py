"""What the scheduler and its workers take from the store: the parts they use, as Protocols.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from magickbox.store import Catalog, JobStore, ScratchLayout, SessionStore


class WorkerStore(Protocol):
    """A running job's lease and end (jobs, with its Slurm bookkeeping) and its session folder."""

    jobs: JobStore
    layout: ScratchLayout

    def connection(self) -> AbstractContextManager[object]:
        """A scope for this thread's use of the store (see `Store.connection`)."""
        ...


class SchedulerStore(WorkerStore, Protocol):
    """The queue (jobs), the sessions jobs run on and the buckets they run."""

    sessions: SessionStore

    def catalog(self) -> Catalog:
        """The buckets as they are on disk now."""
        ...
