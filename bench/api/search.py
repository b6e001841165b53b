"""Study search with many indexed sessions: `/api/v1/sessions?q=...` and filters (goal: p95 under
50 ms for a search at 100,000 sessions), and getScratch.php with the index's fields.

Run from the repository root:  .venv/bin/python -m bench.api.search [--sessions 100000] [--requests 30]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.api.common import BUCKET, start_box, summary
from magickbox.dicom.studyattrs import SeriesAttrs, StudyAttrs
from magickbox.store import SessionKey, Store, StudyTally

GIVEN = ["John", "Jane", "Jürgen", "Ana", "Wei", "Olu", "Maria", "Søren"]
FAMILY = ["Doe", "Roe", "Müller", "Silva", "Zhang", "Okafor", "Rossi", "Hansen", "Nakamura", "Novak"]


def fill(store: Store, count: int) -> None:
    """`count` ended sessions, each one study of one patient with two series."""
    for number in range(count):
        key = SessionKey(f"SCANNER{number % 20}", "ProcBench", "10.0.0.1", f"1.2.826.0.9.{number}")
        session = store.sessions.join_or_create(key, BUCKET, f"scp_{key.study_uid}")
        study = StudyAttrs(
            PatientID=f"SUBJ{number:06d}",
            PatientName=f"{FAMILY[number % len(FAMILY)]}^{GIVEN[number % len(GIVEN)]}{number}",
            AccessionNumber=f"ACC{secrets.randbelow(10**8):08d}" if number != count // 2 else "ACC77712",
            StudyDate=f"2026{number % 12 + 1:02d}{number % 28 + 1:02d}",
            StudyDescription=("MR Head", "CT Abdomen", "PET/CT whole body")[number % 3],
        )
        tally = StudyTally()
        for series in (1, 2):
            modality = ("MR", "CT", "PT")[number % 3]
            tally.add(study, SeriesAttrs(f"{key.study_uid}.{series}", str(series), "s", modality), 1000)
        store.studies.add(session.id, tally, complete=True)
        store.sessions.abort(session.id, "bench")


def timed(client: httpx.Client, url: str, params: dict[str, str], requests: int) -> tuple[list[float], int]:
    times: list[float] = []
    total = 0
    for _ in range(requests):
        begin = time.perf_counter()
        response = client.get(url, params=params)
        times.append(time.perf_counter() - begin)
        response.raise_for_status()
        total = int(response.json()["total"])
    return times, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-search-"))
    box, store = start_box(root / "data")
    try:
        started = time.perf_counter()
        fill(store, args.sessions)
        print(f"made {args.sessions} indexed sessions in {time.perf_counter() - started:.0f} s")
        middle = f"SUBJ{args.sessions // 2:06d}"
        searches = {
            "q=<PatientID>": {"q": middle},
            "q=<AccessionNumber>": {"q": "ACC77712"},
            "q=<part of a name>": {"q": "jürgen1234"},
            "q=<2 characters> (scan)": {"q": "zz"},
            "q=<common word> (many hits)": {"q": "müller"},
            "patient_id=": {"patient_id": middle},
            "modality=MR&study_date_from=20260601": {"modality": "MR", "study_date_from": "20260601"},
        }
        url = box.url + "/api/v1/sessions"
        print(f"/api/v1/sessions (limit 100) over one kept connection, {args.requests} requests each:")
        with httpx.Client(timeout=60) as client:
            for label, params in searches.items():
                times, total = timed(client, url, params, args.requests)
                print(f"  {label:40s} {summary(times)}  ({total} match)")
            begin = time.perf_counter()
            client.get(box.url + "/code/php/getScratch.php").raise_for_status()
            first = time.perf_counter() - begin
            again: list[float] = []
            for _ in range(5):
                begin = time.perf_counter()
                client.get(box.url + "/code/php/getScratch.php").raise_for_status()
                again.append(time.perf_counter() - begin)
        print(f"getScratch.php: first {first * 1000:.0f} ms (renders every entry), then {summary(again)}")
    finally:
        box.stop()
        store.db.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
