"""Read queries (store/queries.py) on an in-process store."""

from __future__ import annotations

from magickbox.store import SessionFilter, SessionKey, Store
from tests.support import sessions as factory


def make(store: Store, caller: str, study: str) -> int:
    key = SessionKey(caller, "ProcX", "10.0.0.1", study)
    return factory.queued(store, key, "bucketX", "scp_" + study, instances=3).id


def test_received_totals_survive_deleting_sessions(store: Store) -> None:
    first = make(store, "A", "1.1")
    make(store, "A", "1.2")
    assert store.queries.received_totals() == (6, 12288)
    store.sessions.delete(first)
    assert store.queries.received_totals() == (6, 12288)


def test_filters_paging_counts_and_bucket_stats(store: Store) -> None:
    ids = [make(store, caller, f"2.{n}") for n, caller in enumerate(["A", "B", "A"])]
    factory.start(store, ids[0])
    page = store.queries.list_sessions(SessionFilter(caller="A"), limit=1)
    assert page.total == 2 and [s.id for s in page.sessions] == [ids[2]]
    assert store.queries.list_sessions(SessionFilter(state="running")).total == 1
    assert store.queries.count_by_state() == {"queued": 2, "running": 1}
    assert [s.id for s in store.queries.sessions_with_pid("scp_2.1")] == [ids[1]]
    stats = store.queries.bucket_stats()["bucketX"]
    assert stats.queued == 2 and stats.running == 1  # job and session agree: the scheduler's claim


def test_text_filter_matches_any_column_and_escapes_wildcards(store: Store) -> None:
    make(store, "a_b", "3.1")
    make(store, "axb", "3.2")
    assert store.queries.list_sessions(SessionFilter(text="A_B")).total == 1
    assert store.queries.list_sessions(SessionFilter(text="%")).total == 0
    assert store.queries.list_sessions(SessionFilter(text="procx", caller="axb")).total == 1
    assert len(store.queries.list_sessions(SessionFilter(), limit=None).sessions) == 2
