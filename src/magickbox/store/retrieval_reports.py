"""What the API and the page show of retrievals: one with its keys and studies, the latest."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from magickbox.store.db import Database


def report(db: Database, retrieval: dict[str, Any]) -> dict[str, Any]:
    """`retrieval` (its row as a dict) with its keys (state, studies) and studies (progress,
    status, error, session scratchdir and state)."""
    retrieval_id = retrieval["id"]
    report: dict[str, Any] = dict(retrieval)
    studies = db.query(
        "SELECT r.study_uid, r.patient_id, r.accession, r.study_date, r.expected, r.state,"
        " r.completed, r.remaining, r.failed, r.warning, r.status, r.error, s.scratchdir,"
        " s.state AS session_state, s.instances FROM retrieval_studies r"
        " LEFT JOIN sessions s ON s.id = r.session_id WHERE r.retrieval_id = ? ORDER BY r.id",
        (retrieval_id,),
    )
    report["studies"] = [dict(row) for row in studies]
    items = db.query(
        "SELECT key, state, study_uids, status, error FROM retrieval_items"
        " WHERE retrieval_id = ? ORDER BY position",
        (retrieval_id,),
    )
    by_uid = {row["study_uid"]: row for row in studies}
    report["keys"] = [
        {
            "key": item["key"],
            "state": item["state"],
            "studies": [
                {
                    "StudyInstanceUID": uid,
                    "scratchdir": by_uid[uid]["scratchdir"] if uid in by_uid else None,
                }
                for uid in json.loads(item["study_uids"])
            ],
            "status": item["status"],
            "error": item["error"] or _first_error(json.loads(item["study_uids"]), by_uid),
        }
        for item in items
    ]
    return report


def listing(db: Database, limit: int) -> list[dict[str, Any]]:
    """The newest retrievals (rows as dicts) with their key counts per state."""
    rows = db.query("SELECT * FROM retrievals ORDER BY id DESC LIMIT ?", (limit,))
    counts = db.query(
        "SELECT retrieval_id, state, COUNT(*) AS n FROM retrieval_items"
        " WHERE retrieval_id IN (SELECT id FROM retrievals ORDER BY id DESC LIMIT ?)"
        " GROUP BY retrieval_id, state",
        (limit,),
    )
    out = []
    for row in rows:
        summary: dict[str, Any] = dict(row)
        summary["keys"] = {c["state"]: c["n"] for c in counts if c["retrieval_id"] == row["id"]}
        out.append(summary)
    return out


def _first_error(uids: list[str], by_uid: dict[str, sqlite3.Row]) -> str:
    """A key's error when its C-FIND went well: the first of its studies' errors."""
    return next((str(by_uid[u]["error"]) for u in uids if u in by_uid and by_uid[u]["error"]), "")
