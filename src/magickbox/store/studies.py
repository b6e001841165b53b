"""The study index: per session the patient and study attributes, per series its attributes and
counts, and the search text behind `q=`.

Written at receipt by the receiver (batched with its instance counts, see receive/tracker.py), for
uploads and older sessions from the files in INPUT (`index_input`), never by scanning on a read.
Search uses an FTS5 trigram index: any part of any field, case-insensitive, an index lookup for
three characters and more.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from magickbox.dicom.studyattrs import SeriesAttrs, StudyAttrs, read_file
from magickbox.store.db import Database, set_conditions, where_sql
from magickbox.store.layout import ScratchLayout
from magickbox.store.states import SessionState

log = logging.getLogger(__name__)

STUDY_COLUMNS = [f.name for f in fields(StudyAttrs)]
SERIES_COLUMNS = [f.name for f in fields(SeriesAttrs)]
PRIVATE_NAMES = ("PatientName", "PatientBirthDate")  # dropped when index_patient_names is off
NO_SERIES_UID = "(none)"  # instances without a SeriesInstanceUID are counted under this key


@dataclass
class SeriesTally:
    """A series seen since the last write: its attributes and what it added."""

    attrs: SeriesAttrs
    instances: int = 0
    bytes: int = 0


@dataclass
class StudyTally:
    """What one writer (an association, an upload, a re-index) learned about one session."""

    study: StudyAttrs | None = None
    series: dict[str, SeriesTally] = field(default_factory=dict)

    def add(self, study: StudyAttrs, series: SeriesAttrs, nbytes: int) -> None:
        if self.study is None:
            self.study = study
        key = series.SeriesInstanceUID or NO_SERIES_UID
        tally = self.series.get(key)
        if tally is None:
            tally = self.series[key] = SeriesTally(replace(series, SeriesInstanceUID=key))
        tally.instances += 1
        tally.bytes += nbytes

    @property
    def empty(self) -> bool:
        return self.study is None and not self.series


@dataclass(frozen=True)
class StudyFilter:
    """Search and filters over the index; empty fields do not filter. Dates are YYYYMMDD."""

    q: str = ""  # any part of PatientID, PatientName, AccessionNumber, StudyDescription, Study UID,
    #              AE titles, scratchdir, pid; case-insensitive
    patient_id: str = ""
    accession: str = ""
    modality: str = ""
    study_date_from: str = ""
    study_date_to: str = ""


def filter_clauses(flt: StudyFilter) -> tuple[list[str], list[object]]:
    """SQL conditions on a session's `id` (sessions table) for `flt`, with their parameters."""
    clauses: list[str] = []
    params: list[object] = []
    # FTS5 reads its query up to a NUL: one inside a quoted phrase ends it unterminated (an error).
    # No indexed text holds a NUL, so it is dropped from the search text.
    text = flt.q.replace("\x00", "").strip().lower()
    if len(text) >= 3:  # the trigram index answers; a quoted phrase is a plain substring
        clauses.append("id IN (SELECT rowid FROM study_search WHERE study_search MATCH ?)")
        params.append('"' + text.replace('"', '""') + '"')
    elif text:  # too short for trigrams: a scan of the search texts
        clauses.append("id IN (SELECT rowid FROM study_search WHERE text LIKE ? ESCAPE '\\')")
        params.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    by_field, values = set_conditions(
        [
            ("id IN (SELECT session_id FROM studies WHERE PatientID = ?)", flt.patient_id),
            ("id IN (SELECT session_id FROM studies WHERE AccessionNumber = ?)", flt.accession),
            ("id IN (SELECT session_id FROM series WHERE Modality = ?)", flt.modality.upper()),
            (
                "id IN (SELECT session_id FROM studies WHERE StudyDate != '' AND StudyDate >= ?)",
                flt.study_date_from,
            ),
            (
                "id IN (SELECT session_id FROM studies WHERE StudyDate != '' AND StudyDate <= ?)",
                flt.study_date_to,
            ),
        ]
    )
    return clauses + by_field, params + values


class StudyIndex:
    def __init__(self, db: Database, layout: ScratchLayout, *, keep_names: bool = True) -> None:
        self.db = db
        self.layout = layout
        self.keep_names = keep_names

    # ---- writing -----------------------------------------------------------------------------
    def add(self, session_id: int, tally: StudyTally, *, complete: bool = False) -> None:
        """Merge what a writer learned: the first study attributes win, series counts add up.
        `complete`: this writer has written all it will (the index needs no re-reading of INPUT)."""
        if tally.empty:
            if complete:
                self.mark_complete(session_id)
            return
        with self.db.transaction() as conn:
            if tally.study is not None:
                self._insert_study(conn, session_id, tally.study, complete)
            for item in tally.series.values():
                self._add_series(conn, session_id, item)
            self._refresh_search(conn, session_id)
            self._changed(conn, session_id)

    def replace_all(self, session_id: int, tally: StudyTally) -> None:
        """Index a session anew from a full tally of its INPUT (uploads, re-index)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM studies WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM series WHERE session_id = ?", (session_id,))
            self._insert_study(conn, session_id, tally.study or StudyAttrs(), complete=True)
            for item in tally.series.values():
                self._add_series(conn, session_id, item)
            self._refresh_search(conn, session_id)
            self._changed(conn, session_id)

    def index_input(self, session_id: int, input_dir: Path) -> int:
        """Index a session from the headers of the files in its INPUT; the number of DICOM files."""
        tally = tally_folder(input_dir)
        self.replace_all(session_id, tally)
        return sum(item.instances for item in tally.series.values())

    def mark_complete(self, session_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE studies SET complete = 1 WHERE session_id = ?", (session_id,))

    def _insert_study(
        self, conn: sqlite3.Connection, session_id: int, study: StudyAttrs, complete: bool
    ) -> None:
        values = asdict(study)
        if not self.keep_names:
            values.update(dict.fromkeys(PRIVATE_NAMES, ""))
        columns = ", ".join(STUDY_COLUMNS)
        marks = ", ".join("?" for _ in STUDY_COLUMNS)
        conn.execute(
            f"INSERT INTO studies (session_id, {columns}, complete) VALUES (?, {marks}, ?)"
            " ON CONFLICT(session_id) DO UPDATE SET complete = MAX(complete, excluded.complete)",
            (session_id, *(values[c] for c in STUDY_COLUMNS), int(complete)),
        )

    @staticmethod
    def _add_series(conn: sqlite3.Connection, session_id: int, item: SeriesTally) -> None:
        values = asdict(item.attrs)
        columns = ", ".join(SERIES_COLUMNS)
        marks = ", ".join("?" for _ in SERIES_COLUMNS)
        conn.execute(
            f"INSERT INTO series (session_id, {columns}, instances, bytes) VALUES (?, {marks}, ?, ?)"
            " ON CONFLICT(session_id, SeriesInstanceUID) DO UPDATE SET"
            " instances = instances + excluded.instances, bytes = bytes + excluded.bytes",
            (session_id, *(values[c] for c in SERIES_COLUMNS), item.instances, item.bytes),
        )

    @staticmethod
    def _changed(conn: sqlite3.Connection, session_id: int) -> None:
        """Stamp the study with the next value of the index's change counter (see changed_since)."""
        conn.execute(
            "INSERT INTO counters(name, value) VALUES ('study_index', 1)"
            " ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        conn.execute(
            "UPDATE studies SET seq = (SELECT value FROM counters WHERE name = 'study_index')"
            " WHERE session_id = ?",
            (session_id,),
        )

    @staticmethod
    def _refresh_search(conn: sqlite3.Connection, session_id: int) -> None:
        conn.execute("DELETE FROM study_search WHERE rowid = ?", (session_id,))
        conn.execute(
            "INSERT INTO study_search (rowid, text) SELECT s.id, lower(s.calling_aet || ' ' ||"
            " s.called_aet || ' ' || s.scratchdir || ' ' || s.pid || ' ' || COALESCE(s.study_uid, '')"
            " || ' ' || COALESCE(t.PatientID, '') || ' ' || COALESCE(t.PatientName, '') || ' ' ||"
            " COALESCE(t.AccessionNumber, '') || ' ' || COALESCE(t.StudyDescription, ''))"
            " FROM sessions s LEFT JOIN studies t ON t.session_id = s.id WHERE s.id = ?",
            (session_id,),
        )

    # ---- reading -------------------------------------------------------------------------------
    def study(self, session_id: int) -> dict[str, str] | None:
        row = self.db.query_one(
            f"SELECT {', '.join(STUDY_COLUMNS)} FROM studies WHERE session_id = ?", (session_id,)
        )
        return None if row is None else {c: str(row[c]) for c in STUDY_COLUMNS}

    def summaries(self, session_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Per session: the study attributes plus `Modality` (`CT\\MR`), `SeriesCount`, `InstanceCount`.

        Two indexed queries per 500 sessions (studies by key, series grouped), no per-row subquery:
        getScratch asks for every session at once."""
        ids = list(session_ids)
        out: dict[int, dict[str, str]] = {}
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            marks = ", ".join("?" for _ in chunk)
            rows = self.db.query(
                f"SELECT session_id, {', '.join(STUDY_COLUMNS)} FROM studies WHERE session_id IN ({marks})",
                tuple(chunk),
            )
            for row in rows:
                entry = {c: str(row[c]) for c in STUDY_COLUMNS}
                entry.update(Modality="", SeriesCount="0", InstanceCount="0")
                out[int(row["session_id"])] = entry
            groups = self.db.query(
                "SELECT session_id, group_concat(DISTINCT Modality) AS modalities, COUNT(*) AS n,"
                f" COALESCE(SUM(instances), 0) AS instances FROM series WHERE session_id IN ({marks})"
                " GROUP BY session_id",
                tuple(chunk),
            )
            for group in groups:
                summary = out.get(int(group["session_id"]))
                if summary is not None:
                    found = sorted(m for m in str(group["modalities"] or "").split(",") if m)
                    summary.update(Modality="\\".join(found), SeriesCount=str(group["n"]),
                                 InstanceCount=str(group["instances"]))  # fmt: skip
        return out

    def version(self) -> int:
        """The index's change counter: it grows with every change of any session's study."""
        row = self.db.query_one("SELECT value FROM counters WHERE name = 'study_index'")
        return int(row["value"]) if row else 0

    def changed_since(self, version: int) -> set[int]:
        """Sessions whose study changed after `version` (an index lookup, not a scan)."""
        rows = self.db.query("SELECT session_id FROM studies WHERE seq > ?", (version,))
        return {int(r["session_id"]) for r in rows}

    def series(self, session_id: int) -> list[dict[str, str | int]]:
        rows = self.db.query(
            f"SELECT {', '.join(SERIES_COLUMNS)}, instances, bytes FROM series WHERE session_id = ?"
            " ORDER BY CAST(SeriesNumber AS INTEGER), SeriesNumber, SeriesInstanceUID",
            (session_id,),
        )
        return [
            {
                **{c: str(r[c]) for c in SERIES_COLUMNS},
                "instances": int(r["instances"]),
                "bytes": int(r["bytes"]),
            }
            for r in rows
        ]

    def matching(self, flt: StudyFilter) -> list[int]:
        """Ids of the sessions `flt` selects, newest first."""
        clauses, params = filter_clauses(flt)
        sql = f"SELECT id FROM sessions{where_sql(clauses)} ORDER BY received_at DESC, id DESC"
        rows = self.db.query(sql, tuple(params))
        return [int(r["id"]) for r in rows]

    def unindexed(self, limit: int = 100) -> list[tuple[int, str]]:
        """(id, scratchdir) of sessions, not receiving, whose index was never completed: sessions
        older than the index, receipts a crash cut short."""
        rows = self.db.query(
            "SELECT s.id, s.scratchdir FROM sessions s LEFT JOIN studies t ON t.session_id = s.id"
            " WHERE s.state != ? AND COALESCE(t.complete, 0) = 0 ORDER BY s.id LIMIT ?",
            (SessionState.RECEIVING, limit),
        )
        return [(int(r["id"]), str(r["scratchdir"])) for r in rows]

    def index_older(self) -> int:
        """Index every session `unindexed` names from its INPUT; how many were indexed."""
        done = 0
        while batch := self.unindexed():
            for session_id, scratchdir in batch:
                self.index_input(session_id, self.layout.input_dir(scratchdir))
                done += 1
        return done


def tally_folder(folder: Path) -> StudyTally:
    """Read every DICOM file's header under `folder` (up to the pixel data) into one tally."""
    tally = StudyTally()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        found = read_file(path)
        if found is not None:
            _uid, study, series = found
            tally.add(study, series, path.stat().st_size)
    return tally
