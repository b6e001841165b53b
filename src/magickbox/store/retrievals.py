"""Retrievals: keys looked up in a PACS (C-FIND), each study found fetched into one session.

The retrieve stage drives a retrieval through these functions; the receiver asks
`incoming_session` which session an instance the PACS moves to the box belongs to; the API
creates, reads and cancels. A study row holds its session id from the moment the session is
made (same transaction), so a restart fetches the study again into the *same* session.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from magickbox.dicom.qr import FoundStudy, Progress
from magickbox.errors import NotFound
from magickbox.store import feeds
from magickbox.store import retrieval_reports as reports
from magickbox.store.db import Database, RowModel
from magickbox.store.sessions import SessionKey, SessionStore
from magickbox.store.states import (
    RetrievalItemState,
    RetrievalState,
    RetrievalStudyState,
    SessionState,
)
from magickbox.store.transitions import move_state, record_event

ENDED = (RetrievalState.DONE, RetrievalState.CANCELLED)
STUDY_OPEN = (RetrievalStudyState.PENDING, RetrievalStudyState.MOVING)


@dataclass(frozen=True)
class NewRetrieval:
    """What `POST /api/v1/retrievals` asks for, validated by the API."""

    pacs: str
    bucket: str
    method: str  # move | get
    destination: str  # the AE title the PACS moves to (C-MOVE only)
    key_type: str  # accession | study_uid | patient_id
    keys: list[str]
    study_date_from: str = ""
    study_date_to: str = ""
    modality: str = ""
    created_by: str = ""


@dataclass(frozen=True)
class Retrieval(RowModel):
    id: int
    pacs: str
    bucket: str
    method: str
    destination: str
    key_type: str
    study_date_from: str
    study_date_to: str
    modality: str
    state: str
    cancel_requested: int
    created_by: str
    created_at: float
    updated_at: float
    ended_at: float | None


@dataclass(frozen=True)
class StudyToFetch:
    id: int
    retrieval_id: int
    study_uid: str
    patient_id: str
    expected: int | None
    sop_classes: tuple[str, ...]
    session_id: int | None

    def found(self) -> FoundStudy:
        return FoundStudy(
            self.study_uid, self.patient_id, instances=self.expected, sop_classes=self.sop_classes
        )


class RetrievalStore:
    def __init__(self, db: Database, sessions: SessionStore) -> None:
        self.db = db
        self.sessions = sessions

    # ---- the API's side -------------------------------------------------------------------
    def create(self, new: NewRetrieval) -> int:
        """Record a retrieval with its keys (in the given order); the stage picks it up."""
        now = time.time()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO retrievals(pacs, bucket, method, destination, key_type, study_date_from,"
                " study_date_to, modality, state, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.pacs, new.bucket, new.method, new.destination, new.key_type, new.study_date_from,
                 new.study_date_to, new.modality, RetrievalState.QUEUED, new.created_by, now, now),
            )  # fmt: skip
            retrieval_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO retrieval_items(retrieval_id, position, key, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(retrieval_id, n, key, RetrievalItemState.PENDING, now) for n, key in enumerate(new.keys)],
            )
        return retrieval_id

    def get(self, retrieval_id: int) -> Retrieval:
        row = self.db.query_found(
            "SELECT * FROM retrievals WHERE id = ?",
            (retrieval_id,),
            f"retrieval {retrieval_id} does not exist",
        )
        return Retrieval.from_row(row)

    def report(self, retrieval_id: int) -> dict[str, Any]:
        """The retrieval with its keys (state, studies) and studies (progress, scratchdir)."""
        return reports.report(self.db, dict(vars(self.get(retrieval_id))))

    def listing(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest retrievals with their key counts per state."""
        return reports.listing(self.db, limit)

    def request_cancel(self, retrieval_id: int) -> Retrieval:
        """Stop a retrieval: the stage sends C-CANCEL to a running C-MOVE/C-GET and fetches no more.
        A queued one ends at once."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT state FROM retrievals WHERE id = ?", (retrieval_id,)).fetchone()
            if row is None:
                raise NotFound(f"retrieval {retrieval_id} does not exist")
            if row["state"] not in ENDED:
                conn.execute(
                    "UPDATE retrievals SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                    (now, retrieval_id),
                )
            if row["state"] == RetrievalState.QUEUED:
                self._end(conn, retrieval_id, now)
        return self.get(retrieval_id)

    # ---- the stage's side -------------------------------------------------------------------
    def next_to_run(self) -> Retrieval | None:
        """The oldest retrieval not ended (a running one first: it was cut short by a stop)."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM retrievals WHERE state IN (?, ?) ORDER BY state = ? DESC, id LIMIT 1",
                (RetrievalState.QUEUED, RetrievalState.RUNNING, RetrievalState.RUNNING),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE retrievals SET state = ?, updated_at = ? WHERE id = ?",
                (RetrievalState.RUNNING, now, row["id"]),
            )
        return self.get(int(row["id"]))

    def cancel_requested(self, retrieval_id: int) -> bool:
        row = self.db.query_one("SELECT cancel_requested FROM retrievals WHERE id = ?", (retrieval_id,))
        return row is None or bool(row["cancel_requested"])

    def pending_keys(self, retrieval_id: int) -> list[tuple[int, str]]:
        rows = self.db.query(
            "SELECT id, key FROM retrieval_items WHERE retrieval_id = ? AND state = ? ORDER BY position",
            (retrieval_id, RetrievalItemState.PENDING),
        )
        return [(int(r["id"]), str(r["key"])) for r in rows]

    def record_found(self, item_id: int, studies: list[FoundStudy]) -> None:
        """The C-FIND of one key answered: its studies are to be fetched (each once per retrieval)."""
        now = time.time()
        with self.db.transaction() as conn:
            item = conn.execute(
                "SELECT retrieval_id FROM retrieval_items WHERE id = ?", (item_id,)
            ).fetchone()
            state = RetrievalItemState.FOUND if studies else RetrievalItemState.NOT_FOUND
            conn.execute(
                "UPDATE retrieval_items SET state = ?, study_uids = ?, updated_at = ? WHERE id = ?",
                (state, json.dumps([s.study_uid for s in studies]), now, item_id),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO retrieval_studies(retrieval_id, study_uid, patient_id, accession,"
                " study_date, sop_classes, expected, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(item["retrieval_id"], s.study_uid, s.patient_id, s.accession, s.study_date,
                  "\\".join(s.sop_classes), s.instances, RetrievalStudyState.PENDING, now) for s in studies],
            )  # fmt: skip
            self._refresh_keys(conn, int(item["retrieval_id"]), now)

    def record_find_failed(self, item_id: int, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE retrieval_items SET state = ?, error = ?, updated_at = ? WHERE id = ?",
                (RetrievalItemState.FAILED, error[:2000], time.time(), item_id),
            )

    def studies_to_fetch(self, retrieval_id: int) -> list[StudyToFetch]:
        rows = self.db.query(
            "SELECT * FROM retrieval_studies WHERE retrieval_id = ? AND state IN (?, ?) ORDER BY id",
            (retrieval_id, *STUDY_OPEN),
        )
        return [
            StudyToFetch(int(r["id"]), int(r["retrieval_id"]), r["study_uid"], r["patient_id"], r["expected"],
                         tuple(c for c in str(r["sop_classes"]).split("\\") if c), r["session_id"])
            for r in rows
        ]  # fmt: skip

    def begin_study(self, study: StudyToFetch, key: SessionKey, bucket: str, pid: str) -> int | None:
        """The session this study is fetched into: made now, or the one made before a restart.

        Returns None (and fails the study) when that session no longer receives (deleted)."""
        now = time.time()
        with self.db.transaction() as conn:
            session_id = study.session_id
            if session_id is None:
                session_id = self.sessions.create_retrieved(
                    conn, key, bucket, pid, retrieval=study.retrieval_id
                )
            else:
                row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
                if row is None or row["state"] != SessionState.RECEIVING:
                    self._end_study(conn, study.id, RetrievalStudyState.FAILED, "its session is gone", now)
                    return None
                # Associations counted before a restart are gone; only the retrieval's hold remains.
                conn.execute("UPDATE sessions SET open_associations = 1 WHERE id = ?", (session_id,))
            conn.execute(
                "UPDATE retrieval_studies SET state = ?, session_id = ?, updated_at = ? WHERE id = ?",
                (RetrievalStudyState.MOVING, session_id, now, study.id),
            )
            self._refresh_keys(conn, study.retrieval_id, now)
        return session_id

    def record_progress(self, study_id: int, progress: Progress) -> None:
        """The PACS's sub-operation counts from a pending response."""
        with self.db.transaction() as conn:
            self.record_counts(conn, study_id, progress, time.time())

    def finish_study(self, study: StudyToFetch, progress: Progress, *, cancelled: bool) -> str:
        """The C-MOVE/C-GET ended: release the retrieval's hold on the session (it is sealed when
        its last association ends, at once if none is open) or, if nothing came, end it incomplete."""
        now = time.time()
        got_some = progress.completed + progress.warning > 0
        if cancelled:
            state = RetrievalStudyState.CANCELLED
        elif progress.status in (0, 0xB000) and got_some:
            state = RetrievalStudyState.RECEIVED
        else:
            state = RetrievalStudyState.FAILED
        error = progress.error or ("" if progress.status in (0, None) else f"status 0x{progress.status:04X}")
        with self.db.transaction() as conn:
            self.record_counts(conn, study.id, progress, now)
            conn.execute("UPDATE retrieval_studies SET status = ? WHERE id = ?", (progress.status, study.id))
            self._end_study(conn, study.id, state, error, now)
            if study.session_id is not None:
                self._release_session(
                    conn, study, progress, keep=state == RetrievalStudyState.RECEIVED, now=now
                )
            self._refresh_keys(conn, study.retrieval_id, now)
        return state

    @staticmethod
    def record_counts(conn: sqlite3.Connection, study_id: int, progress: Progress, now: float) -> None:
        conn.execute(
            "UPDATE retrieval_studies SET completed = ?, remaining = ?, failed = ?, warning = ?,"
            " updated_at = ? WHERE id = ?",
            (progress.completed, progress.remaining, progress.failed, progress.warning, now, study_id),
        )

    def _release_session(
        self, conn: sqlite3.Connection, study: StudyToFetch, progress: Progress, *, keep: bool, now: float
    ) -> None:
        session_id = study.session_id
        assert session_id is not None
        row = conn.execute(
            "SELECT state, open_associations FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None or row["state"] != SessionState.RECEIVING:
            return
        sent = progress.completed + progress.warning
        if keep and study.expected is not None and sent < study.expected:
            note = f"retrieval: the PACS announced {study.expected} instance(s) and sent {sent}"
            record_event(conn, session_id, SessionState.RECEIVING, note, now)
        if not keep:
            why = f"retrieval: the PACS sent {sent} instance(s); {progress.error or 'not completed'}"
            move_state(conn, session_id, SessionState.INCOMPLETE, why[:500], now, open_associations=0)
            return
        still_open = max(int(row["open_associations"]) - 1, 0)
        conn.execute(
            "UPDATE sessions SET open_associations = ?, settle_until = ?, updated_at = ? WHERE id = ?",
            (still_open, now, now, session_id),
        )
        if still_open == 0:
            self.sessions.seal_in(conn, session_id, now)

    def finish(self, retrieval_id: int) -> str:
        """No key left to look up, no study left to fetch (or cancelled): the retrieval ends."""
        now = time.time()
        with self.db.transaction() as conn:
            self._end(conn, retrieval_id, now)
            row = conn.execute("SELECT state FROM retrievals WHERE id = ?", (retrieval_id,)).fetchone()
        return str(row["state"])

    def _end(self, conn: sqlite3.Connection, retrieval_id: int, now: float) -> None:
        cancelled = conn.execute(
            "SELECT cancel_requested FROM retrievals WHERE id = ?", (retrieval_id,)
        ).fetchone()
        state = RetrievalState.CANCELLED if cancelled["cancel_requested"] else RetrievalState.DONE
        conn.execute(
            "UPDATE retrievals SET state = ?, ended_at = ?, updated_at = ? WHERE id = ?",
            (state, now, now, retrieval_id),
        )
        for table in ("retrieval_items", "retrieval_studies"):
            conn.execute(
                f"UPDATE {table} SET state = ?, updated_at = ? WHERE retrieval_id = ? AND state IN (?, ?)",
                (RetrievalItemState.CANCELLED, now, retrieval_id, "pending", "found"),
            )
        self._refresh_keys(conn, retrieval_id, now)

    @staticmethod
    def _end_study(conn: sqlite3.Connection, study_id: int, state: str, error: str, now: float) -> None:
        conn.execute(
            "UPDATE retrieval_studies SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            (state, error[:2000], now, study_id),
        )

    @staticmethod
    def _refresh_keys(conn: sqlite3.Connection, retrieval_id: int, now: float) -> None:
        """A key's state follows its studies': moving while one moves, failed if one failed,
        received when all are in."""
        states = {
            r["study_uid"]: r["state"]
            for r in conn.execute(
                "SELECT study_uid, state FROM retrieval_studies WHERE retrieval_id = ?", (retrieval_id,)
            )
        }
        items = conn.execute(
            "SELECT id, state, study_uids FROM retrieval_items"
            " WHERE retrieval_id = ? AND state NOT IN (?, ?, ?)",
            (
                retrieval_id,
                RetrievalItemState.PENDING,
                RetrievalItemState.NOT_FOUND,
                RetrievalItemState.FAILED,
            ),
        ).fetchall()
        for item in items:
            mine = {states.get(uid) for uid in json.loads(item["study_uids"])}
            new = _key_state(mine, str(item["state"]))
            if new != item["state"]:
                conn.execute(
                    "UPDATE retrieval_items SET state = ?, updated_at = ? WHERE id = ?",
                    (new, now, item["id"]),
                )

    # ---- the receiver's side ------------------------------------------------------------------
    def any_moving(self) -> bool:
        """Whether some study is being moved now (the box's own AE title then accepts storage)."""
        row = self.db.query_one(
            "SELECT 1 FROM retrieval_studies WHERE state = ? LIMIT 1", (RetrievalStudyState.MOVING,)
        )
        return row is not None

    def incoming_session(self, calling_aet: str, study_uid: str) -> int | None:
        """The receiving session of a study being moved to the box by the PACS `calling_aet`, and
        counts the association as open on it (as `sessions.join_or_create` does); else None."""
        query = (
            "SELECT s.id FROM retrieval_studies r JOIN sessions s ON s.id = r.session_id"
            " WHERE r.study_uid = ? AND r.state = ? AND s.state = ? AND s.calling_aet = ?"
            " ORDER BY r.id DESC LIMIT 1"
        )
        params = (study_uid, RetrievalStudyState.MOVING, SessionState.RECEIVING, calling_aet)
        if self.db.query_one(query, params) is None:  # the common case (any other send): no write lock
            return None
        with self.db.transaction() as conn:
            row = conn.execute(query, params).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE sessions SET open_associations = open_associations + 1, settle_until = NULL,"
                " updated_at = ? WHERE id = ?",
                (time.time(), row["id"]),
            )
            feeds.opened(conn, int(row["id"]))
        return int(row["id"])


def _key_state(studies: set[str | None], current: str) -> str:
    if current == RetrievalItemState.CANCELLED:
        return current
    if RetrievalStudyState.MOVING in studies:
        return RetrievalItemState.MOVING
    if RetrievalStudyState.FAILED in studies:
        return RetrievalItemState.FAILED
    if studies == {RetrievalStudyState.RECEIVED}:
        return RetrievalItemState.RECEIVED
    if RetrievalStudyState.CANCELLED in studies and RetrievalStudyState.PENDING not in studies:
        return RetrievalItemState.CANCELLED
    return RetrievalItemState.FOUND
