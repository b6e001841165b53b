"""Two patients' studies sent with storescu are indexed at receipt: found by every field through
the API, getScratch, getArchive.php and `mb list --find`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from magickbox.config import load_settings
from magickbox.store import Store
from tests.client.conftest import make_home, run_mb
from tests.support.box import BoxProcess
from tests.support.dicomdata import write_patient_study
from tests.support.net import wait_until


def test_two_patients_are_indexed_at_receipt(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    data = tmp_path / "data"
    box = box_factory(data=data, settle_s=30).start()  # still receiving while we look
    first = write_patient_study(
        tmp_path / "p1", patient_id="SUBJ0412", patient_name="Müller^Jürgen", accession="ACC77712",
        study_date="20260105", description="Schädel", series=(("T1 sag", "MR", 2), ("T2 ax", "MR", 1)),
    )  # fmt: skip
    write_patient_study(
        tmp_path / "p2", patient_id="SUBJ0999", patient_name="山田^太郎", accession="ACC11111",
        charset="ISO_IR 192", study_date="20250101", series=(("Abdomen", "CT", 2), ("Scout", "CT", 1)),
    )  # fmt: skip
    box.storescu(tmp_path / "p1", "SCANNER1")
    box.storescu(tmp_path / "p2", "SCANNER2")
    store = Store(load_settings(data=str(data)))
    try:
        wait_until(lambda: len(store.sessions.all()) == 2, timeout=30, what="two sessions")
        by_study = {s.study_uid: s for s in store.sessions.all()}
        session = by_study[first]
        assert session.state == "receiving", "the index is there before the session is sealed"
        wait_until(lambda: store.studies.study(session.id) is not None, timeout=10, what="the index")
        summary = store.studies.summaries([session.id])[session.id]
        assert summary["PatientName"] == "Müller^Jürgen" and summary["AccessionNumber"] == "ACC77712"
        assert (
            summary["Modality"] == "MR" and summary["SeriesCount"] == "2" and summary["InstanceCount"] == "3"
        )
        assert [s["SeriesDescription"] for s in store.studies.series(session.id)] == ["T1 sag", "T2 ax"]
        other = next(s for uid, s in by_study.items() if uid != first)
        assert store.studies.study(other.id)["PatientName"] == "山田^太郎"  # type: ignore[index]
    finally:
        store.db.close()
    _check_http(box, session.scratchdir, other.scratchdir)
    _check_mb(box, tmp_path, session.scratchdir)


def _check_http(box: BoxProcess, first: str, second: str) -> None:
    scratch = {e["scratchdir"]: e for e in box.get_json("/code/php/getScratch.php")}
    entry = scratch[first]
    assert (entry["PatientID"], entry["PatientName"], entry["AccessionNumber"], entry["StudyDate"]) == (
        "SUBJ0412",
        "Müller^Jürgen",
        "ACC77712",
        "20260105",
    )
    assert (entry["Modality"], entry["SeriesCount"], entry["InstanceCount"]) == ("MR", "2", "3")
    assert scratch[second]["PatientName"] == "山田^太郎" and scratch[second]["Modality"] == "CT"
    for query in ({"q": "SUBJ0412"}, {"q": "ACC77712"}, {"q": "jürgen"}, {"q": "schädel"},
                  {"patient_id": "SUBJ0412"}, {"accession": "ACC77712"}, {"modality": "MR"},
                  {"study_date_from": "20260101"}, {"q": "scanner1", "modality": "mr"}):  # fmt: skip
        page = box.get_json("/api/v1/sessions", **query)
        assert [item["scratchdir"] for item in page["items"]] == [first], query
        assert page["items"][0]["study"]["PatientID"] == "SUBJ0412"
    assert [i["scratchdir"] for i in box.get_json("/api/v1/sessions", q="山田")["items"]] == [second]
    assert box.get_json("/api/v1/sessions", q="SUBJ0412", modality="CT")["total"] == 0
    bad = httpx.get(box.url + "/api/v1/sessions", params={"study_date_from": "2026-01-01"})
    assert bad.status_code == 422 and "error" in bad.json()
    series = box.get_json(f"/api/v1/sessions/{first}/series")
    assert [(s["SeriesDescription"], s["Modality"], s["instances"]) for s in series] == [
        ("T1 sag", "MR", 2), ("T2 ax", "MR", 1),
    ]  # fmt: skip
    archive = {a["PatientID"]: a for a in box.get_json("/code/php/getArchive.php")}
    assert (
        archive["SUBJ0412"]["AccessionNumber"] == "ACC77712"
        and archive["SUBJ0412"]["StudyDate"] == "20260105"
    )
    assert set(archive) == {"SUBJ0412", "SUBJ0999"}


def _check_mb(box: BoxProcess, tmp_path: Path, first: str) -> None:
    home = make_home(tmp_path / "home")
    (home / ".magickbox").write_text(json.dumps([{"Machine": "127.0.0.1", "Port": str(box.http_port)}]))
    listed = run_mb(home, "list", "--find", "SUBJ0412")
    assert listed.returncode == 0, listed.stderr
    assert [entry["scratchdir"] for entry in json.loads(listed.stdout)] == [first]
    assert json.loads(run_mb(home, "list", "--find", "nobody-has-this").stdout or "[]") in ([], None)
