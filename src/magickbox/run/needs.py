"""What the scheduler and its workers take from the store: the parts they use, as Protocols.

`Store` has them all; mypy checks that `Store` fits where server.py builds the stage.
"""

from __future__ import annotations

from typing import Protocol

from magickbox.store import JobStore, Scoped, ScratchLayout, SessionStore, WithCatalog


class WorkerStore(Scoped, Protocol):
    """A running job's lease and end (jobs, with its Slurm bookkeeping) and its session folder."""

    jobs: JobStore
    layout: ScratchLayout


class SchedulerStore(WorkerStore, WithCatalog, Protocol):
    """The queue (jobs), the sessions jobs run on and the buckets they run."""

    sessions: SessionStore
