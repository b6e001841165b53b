"""store.retrievals: keys, studies and their one session each, across restarts and cancels."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magickbox.config import load_settings
from magickbox.dicom.qr import FoundStudy, Progress
from magickbox.store import Store
from magickbox.store.retrievals import NewRetrieval, StudyToFetch
from magickbox.store.schema import MIGRATIONS
from magickbox.store.sessions import SessionKey

UID_A, UID_B = "1.2.3.4", "1.2.3.5"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(load_settings(data=str(tmp_path / "data")))


def start(store: Store, keys: list[str], found: dict[str, list[FoundStudy]]) -> int:
    retrieval_id = store.retrievals.create(
        NewRetrieval("PACS", "bucketX", "move", "MAGICKBOX", "accession", keys)
    )
    assert store.retrievals.next_to_run() is not None
    for item_id, key in store.retrievals.pending_keys(retrieval_id):
        store.retrievals.record_found(item_id, found.get(key, []))
    return retrieval_id


def begin(store: Store, study: StudyToFetch) -> StudyToFetch:
    key = SessionKey("ORTHANC", "ProcX", "127.0.0.1", study.study_uid, f"retrieval-{study.retrieval_id}")
    session_id = store.retrievals.begin_study(study, key, "bucketX", "scp_" + study.study_uid)
    assert session_id is not None
    return StudyToFetch(**{**vars(study), "session_id": session_id})


def key_states(store: Store, retrieval_id: int) -> list[tuple[str, str]]:
    return [(k["key"], k["state"]) for k in store.retrievals.report(retrieval_id)["keys"]]


def test_a_study_found_by_two_keys_is_fetched_once_into_one_session(store: Store) -> None:
    found = {"A1": [FoundStudy(UID_A, instances=2)], "A2": [FoundStudy(UID_A), FoundStudy(UID_B)]}
    retrieval_id = start(store, ["A1", "A2", "NONE"], found)
    assert key_states(store, retrieval_id) == [("A1", "found"), ("A2", "found"), ("NONE", "not_found")]
    studies = store.retrievals.studies_to_fetch(retrieval_id)
    assert [s.study_uid for s in studies] == [UID_A, UID_B]
    first = begin(store, studies[0])
    assert key_states(store, retrieval_id)[:2] == [("A1", "moving"), ("A2", "moving")]
    store.retrievals.finish_study(first, Progress(completed=2, status=0), cancelled=False)
    session = store.sessions.get(first.session_id or 0)
    assert (session.state, session.retrieval, session.calling_aet, session.source) == (
        "queued", retrieval_id, "ORTHANC", "retrieve"
    )  # fmt: skip
    assert key_states(store, retrieval_id)[:2] == [("A1", "received"), ("A2", "found")]


def test_a_restart_fetches_again_into_the_same_session(store: Store) -> None:
    retrieval_id = start(store, ["A1"], {"A1": [FoundStudy(UID_A)]})
    first = begin(store, store.retrievals.studies_to_fetch(retrieval_id)[0])
    assert store.retrievals.incoming_session("ORTHANC", UID_A) == first.session_id  # an association joins
    # The box dies here; at start the receiver's recovery leaves the retrieval's session alone.
    broken, settled = store.sessions.recover_receiving()
    assert first.session_id not in broken + settled
    [again] = store.retrievals.studies_to_fetch(retrieval_id)
    assert begin(store, again).session_id == first.session_id
    assert store.sessions.get(first.session_id or 0).open_associations == 1  # only the retrieval's hold
    store.retrievals.finish_study(again, Progress(completed=1, status=0), cancelled=False)
    assert [s.id for s in store.sessions.all()] == [first.session_id]
    assert store.sessions.get(first.session_id or 0).state == "queued"


def test_the_session_is_sealed_when_the_last_association_after_the_move_ends(store: Store) -> None:
    retrieval_id = start(store, ["A1"], {"A1": [FoundStudy(UID_A)]})
    study = begin(store, store.retrievals.studies_to_fetch(retrieval_id)[0])
    session_id = store.retrievals.incoming_session("ORTHANC", UID_A)
    assert store.retrievals.incoming_session("OTHER-AE", UID_A) is None  # only the PACS feeds it
    assert store.retrievals.incoming_session("ORTHANC", UID_B) is None
    store.retrievals.finish_study(study, Progress(completed=1, status=0), cancelled=False)
    assert store.sessions.get(study.session_id or 0).state == "receiving"  # the PACS's association is open
    store.sessions.release(session_id or 0, 0.0)
    assert store.sessions.get(study.session_id or 0).state == "queued"


def test_nothing_received_fails_the_key_and_ends_the_session_incomplete(store: Store) -> None:
    retrieval_id = start(store, ["A1"], {"A1": [FoundStudy(UID_A)]})
    study = begin(store, store.retrievals.studies_to_fetch(retrieval_id)[0])
    failure = Progress(failed=3, status=0xA702, error="destination unknown")
    assert store.retrievals.finish_study(study, failure, cancelled=False) == "failed"
    session = store.sessions.get(study.session_id or 0)
    assert session.state == "incomplete" and "destination unknown" in session.reason
    assert key_states(store, retrieval_id) == [("A1", "failed")]
    assert store.retrievals.report(retrieval_id)["studies"][0]["error"] == "destination unknown"


def test_fewer_instances_than_announced_is_noted_on_the_session(store: Store) -> None:
    retrieval_id = start(store, ["A1"], {"A1": [FoundStudy(UID_A, instances=5)]})
    study = begin(store, store.retrievals.studies_to_fetch(retrieval_id)[0])
    store.retrievals.finish_study(study, Progress(completed=3, status=0), cancelled=False)
    details = [row["detail"] for row in store.sessions.history(study.session_id or 0)]
    assert "retrieval: the PACS announced 5 instance(s) and sent 3" in details


def test_cancel_of_a_queued_retrieval_ends_it_and_its_keys(store: Store) -> None:
    retrieval_id = store.retrievals.create(
        NewRetrieval("PACS", "b", "move", "MAGICKBOX", "accession", ["A", "B"])
    )
    assert store.retrievals.request_cancel(retrieval_id).state == "cancelled"
    assert key_states(store, retrieval_id) == [("A", "cancelled"), ("B", "cancelled")]
    assert store.retrievals.next_to_run() is None


def test_migration_from_the_previous_version_adds_the_tables_and_column(tmp_path: Path) -> None:
    settings = load_settings(data=str(tmp_path / "data"))
    Store(settings).db.close()
    with sqlite3.connect(settings.db_path) as conn:  # back to the schema before this migration
        for table in ("retrieval_studies", "retrieval_items", "retrievals"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE sessions DROP COLUMN retrieval")
        before = next(n for n, m in enumerate(MIGRATIONS) if m.name.startswith("retrievals"))
        conn.execute(f"PRAGMA user_version = {before}")
    reopened = Store(settings)
    retrieval_id = start(reopened, ["A1"], {"A1": [FoundStudy(UID_A)]})
    study = begin(reopened, reopened.retrievals.studies_to_fetch(retrieval_id)[0])
    assert reopened.sessions.get(study.session_id or 0).retrieval == retrieval_id
