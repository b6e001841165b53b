from __future__ import annotations

from pathlib import Path

from magickbox.store import SessionFilter, Store
from magickbox.ui import views
from tests.ui import driving


def test_log_is_read_in_pieces_without_splitting_a_character(tmp_path: Path) -> None:
    log = tmp_path / "processing.log"
    log.write_bytes("ab✓".encode()[:-1])  # the check mark is still being written
    first = views.read_log(log, 0)
    assert first.text == "ab" and first.offset == 2
    log.write_bytes("ab✓ done\n".encode())
    second = views.read_log(log, first.offset)
    assert second.text == "✓ done\n" and second.offset == second.size


def test_log_starts_over_when_the_file_was_replaced(tmp_path: Path) -> None:
    log = tmp_path / "processing.log"
    log.write_text("short\n")
    assert views.read_log(log, 1000).text == "short\n"
    assert views.read_log(tmp_path / "missing.log", 5) == views.LogChunk("", 0, 0)


def test_filter_matches_text_bucket_and_state(store: Store) -> None:
    alpha = driving.received(store, "ALPHA")
    beta = driving.received(store, "BETA", called="ProcAnon", bucket="ProcAnon")
    driving.start(store, beta)
    table = views.session_table(store, SessionFilter(text="alp"))
    assert [r.session.scratchdir for r in table.rows] == [alpha.scratchdir]
    assert table.total == 2 and table.matching == 1
    assert views.session_table(store, SessionFilter(bucket="ProcAnon")).matching == 1
    assert views.session_table(store, SessionFilter(state="running")).rows[0].session.id == beta.id
    assert views.bucket_names(store) == ["ProcAnon", "ProcCopy"]


def test_table_version_changes_with_any_state_change(store: Store) -> None:
    before = store.queries.sessions_version()
    session = driving.received(store, "V")
    after_receive = store.queries.sessions_version()
    driving.start(store, session)
    assert len({before, after_receive, store.queries.sessions_version()}) == 3


def test_counts_days_and_processing_times(store: Store) -> None:
    for outcome in ("finished", "failed"):
        session = driving.received(store, "C")
        driving.start(store, session)
        driving.finish(store, session, outcome)
    counts = views.state_counts(store)
    assert counts["finished"] == 1 and counts["failed"] == 1 and counts["queued"] == 0
    days = views.sessions_per_day(store, days=7)
    assert len(days) == 7 and days[-1][1] == 2
    assert len(views.processing_times(store)) == 2


def test_human_units() -> None:
    assert views.human_bytes(512) == "512 B"
    assert views.human_bytes(3 * 1024 * 1024) == "3.0 MB"
    assert views.human_seconds(3.25) == "3.2 s"
    assert views.human_seconds(125) == "2 min 05 s"
    assert views.human_seconds(7300) == "2 h 01 min"
    assert views.human_seconds(None) == ""


def test_filter_text_is_literal_not_a_pattern(store: Store) -> None:
    driving.received(store, "A_B")
    driving.received(store, "AXB")
    assert views.session_table(store, SessionFilter(text="a_b")).matching == 1
    assert views.session_table(store, SessionFilter(text="%")).matching == 0
