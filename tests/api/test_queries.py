"""Read queries (store/queries.py) on an in-process store."""

from __future__ import annotations

from magickbox.store import Store
from magickbox.store.queries import (
    SessionFilter,
    bucket_stats,
    count_by_state,
    list_sessions,
    received_totals,
    sessions_with_pid,
)
from magickbox.store.sessions import SessionKey


def make(store: Store, caller: str, study: str) -> int:
    session = store.sessions.join_or_create(
        SessionKey(caller, "ProcX", "10.0.0.1", study), "bucketX", "scp_" + study
    )
    store.sessions.record_instances(session.id, 3, 300)
    store.sessions.release(session.id, 0)
    return session.id


def test_received_totals_survive_deleting_sessions(store: Store) -> None:
    first = make(store, "A", "1.1")
    make(store, "A", "1.2")
    assert received_totals(store.db) == (6, 600)
    store.sessions.delete(first)
    assert received_totals(store.db) == (6, 600)


def test_filters_paging_counts_and_bucket_stats(store: Store) -> None:
    ids = [make(store, caller, f"2.{n}") for n, caller in enumerate(["A", "B", "A"])]
    store.sessions.mark_running(ids[0])
    total, page = list_sessions(store.db, SessionFilter(caller="A"), limit=1)
    assert total == 2 and [s.id for s in page] == [ids[2]]
    assert list_sessions(store.db, SessionFilter(status="running"))[0] == 1
    assert count_by_state(store.db) == {"queued": 2, "running": 1}
    assert [s.id for s in sessions_with_pid(store.db, "scp_2.1")] == [ids[1]]
    stats = bucket_stats(store.db)["bucketX"]
    assert stats.queued == 3 and stats.running == 0  # the jobs table: no scheduler claimed them
