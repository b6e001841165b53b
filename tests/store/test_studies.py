"""The study index in the store: merging what several writers learned, summaries, series, and
search by every field (substring, case-insensitive), combined filters."""

from __future__ import annotations

from pathlib import Path

from magickbox.dicom.studyattrs import SeriesAttrs, StudyAttrs
from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey
from magickbox.store.studies import StudyFilter, StudyTally
from tests.support.dicomdata import write_patient_study


def _session(store: Store, caller: str, study_uid: str) -> Session:
    return store.sessions.join_or_create(
        SessionKey(caller, "ProcX", "10.0.0.9", study_uid), "bucket", f"scp_{study_uid}"
    )


def _tally(
    patient_id: str, name: str, accession: str, date: str, *series: tuple[str, str, str]
) -> StudyTally:
    tally = StudyTally()
    study = StudyAttrs(PatientID=patient_id, PatientName=name, AccessionNumber=accession, StudyDate=date,
                       StudyDescription="Head " + patient_id)  # fmt: skip
    for uid, description, modality in series:
        attrs = SeriesAttrs(
            SeriesInstanceUID=uid, SeriesNumber=uid[-1], SeriesDescription=description, Modality=modality
        )
        tally.add(study, attrs, 100)
    return tally


def test_writers_merge_and_summaries_count(store: Store) -> None:
    session = _session(store, "CT1", "1.2.3")
    store.studies.add(session.id, _tally("P1", "Doe^John", "A1", "20260101", ("1.1", "Axial", "CT")))
    store.studies.add(
        session.id, _tally("OTHER", "X", "A9", "20990101", ("1.1", "Axial", "CT"), ("1.2", "Loc", "MR"))
    )
    summary = store.studies.summaries([session.id])[session.id]
    assert summary["PatientID"] == "P1" and summary["PatientName"] == "Doe^John", (
        "the first writer's study wins"
    )
    assert (
        summary["Modality"] == "CT\\MR" and summary["SeriesCount"] == "2" and summary["InstanceCount"] == "3"
    )
    series = store.studies.series(session.id)
    assert [(s["SeriesDescription"], s["instances"]) for s in series] == [("Axial", 2), ("Loc", 1)]


def test_search_by_every_field_and_combined_filters(store: Store) -> None:
    first = _session(store, "SCANNER1", "1.2.840.1")
    second = _session(store, "SCANNER2", "1.2.840.2")
    store.studies.add(
        first.id, _tally("SUBJ0412", "Müller^Jürgen", "ACC77712", "20260105", ("9.1", "T1", "MR"))
    )
    store.studies.add(second.id, _tally("SUBJ0999", "Doe^Jane", "ACC11111", "20250101", ("9.2", "CT", "CT")))

    def found(**kwargs: str) -> list[int]:
        return store.studies.matching(StudyFilter(**kwargs))

    assert found(q="subj0412") == [first.id]
    assert found(q="jürgen") == [first.id], "any part of the name, case-insensitive"
    assert found(q="MÜLLER") == [first.id]
    assert found(q="77712") == [first.id]
    assert found(q="head subj0999") == [second.id], "StudyDescription"
    assert found(q="1.2.840.2") == [second.id], "Study Instance UID"
    assert found(q="scanner2") == [second.id], "calling AE title"
    assert found(q=first.scratchdir) == [first.id]
    assert found(q="Do") == [second.id], "short text falls back to a scan"
    assert found(q="nobody") == []
    assert found(patient_id="SUBJ0412") == [first.id] and found(patient_id="SUBJ04") == []
    assert found(accession="ACC11111") == [second.id]
    assert found(modality="mr") == [first.id]
    assert found(study_date_from="20260101") == [first.id]
    assert found(study_date_to="20251231") == [second.id]
    assert found(q="subj", modality="CT") == [second.id]
    assert sorted(found()) == sorted([first.id, second.id])


def test_search_text_with_quotes_nul_and_fts_syntax_is_plain_text(store: Store) -> None:
    session = _session(store, "SCANNER1", "1.2.840.7")
    store.studies.add(session.id, _tally("O'BRIEN-1", 'Say "Hi"', "ACC1", "20260105", ("9.1", "T1", "MR")))

    def found(q: str) -> list[int]:
        return store.studies.matching(StudyFilter(q=q))

    assert found("o'brien") == [session.id]
    assert found('say "hi"') == [session.id]
    assert found("o'b\x00rien") == [session.id], "a NUL is dropped, never an FTS5 syntax error"
    for syntax in ("a OR b", "NEAR(x y)", "col:val", "x*", "(((", "'\"", '\x00"abc'):
        assert isinstance(found(syntax), list)


def test_a_session_not_yet_indexed_is_found_by_its_own_fields(store: Store) -> None:
    session = _session(store, "LATECOMER", "1.2.3.4.5")
    assert store.studies.matching(StudyFilter(q="latecomer")) == [session.id]


def test_upload_style_index_from_files_and_names_off(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "INPUT"
    write_patient_study(folder, patient_id="P7", patient_name="Roe^Richard", accession="A7",
                        series=(("One", "CT", 2), ("Two", "CT", 1)))  # fmt: skip
    (folder / "readme.txt").write_text("not DICOM")
    session = _session(store, "UP", "1.9")
    store.sessions.abort(session.id, "ended without an index, as after a crash")
    assert store.studies.unindexed() == [(session.id, session.scratchdir)]
    assert store.studies.index_input(session.id, folder) == 3
    assert store.studies.unindexed() == []
    assert store.studies.summaries([session.id])[session.id]["SeriesCount"] == "2"
    store.studies.keep_names = False
    store.studies.index_input(session.id, folder)
    assert store.studies.study(session.id)["PatientName"] == ""  # type: ignore[index]
    assert store.studies.study(session.id)["PatientID"] == "P7"  # type: ignore[index]


def test_deleting_a_session_removes_its_index(store: Store) -> None:
    session = _session(store, "GONE", "1.8")
    store.studies.add(session.id, _tally("PGONE", "Gone^Gary", "AG", "20260101", ("8.1", "x", "CT")))
    store.sessions.abort(session.id, "test")
    assert store.sessions.delete(session.id)
    assert store.studies.matching(StudyFilter(q="pgone")) == []
    assert store.studies.series(session.id) == []
