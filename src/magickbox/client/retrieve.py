"""`mb retrieve BUCKET --from PACS ...`: ask the first active box to fetch studies from a PACS.

Prints one JSON object per key (key, state, StudyInstanceUIDs, scratchdirs); exits 1 if a key
was not found or failed (with `--wait`, once the retrieval has ended and the bucket has run on
every session it made).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from magickbox.client.boxes import BoxClient
from magickbox.client.context import Context
from magickbox.client.errors import EXIT_FAILED, EXIT_OK, UsageError
from magickbox.client.output import info

BAD_KEY_STATES = ("not_found", "failed")
ENDED = ("done", "cancelled")
SESSION_LIVE = ("receiving", "queued", "running")


def finished(report: dict[str, Any]) -> bool:
    """The retrieval has ended and the bucket has run on every session it made."""
    live = [s for s in report["studies"] if s.get("scratchdir") and s.get("session_state") in SESSION_LIVE]
    return report["state"] in ENDED and not live


def read_keys(values: list[str] | None, files: list[str] | None) -> list[str]:
    """The keys given on the command line and in files (one a line; blank lines and # comments skipped)."""
    keys = list(values or [])
    for name in files or []:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror}") from exc
        keys += [
            line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
    if not keys:
        raise UsageError("no keys: give --accession, --accession-file, --study-uid or --patient-id")
    return keys


def retrieve(context: Context, body: dict[str, Any], *, wait: bool, interval: float) -> int:
    """Start the retrieval on the first active box; print its keys (after it ended, with wait)."""
    client: BoxClient = context.clients()[0]
    try:
        created = client.request("POST", "/api/v1/retrievals", "retrieve", json=body).json()
        path = f"/api/v1/retrievals/{int(created['id'])}"
        info(f"{client.label}: retrieval {created['id']} from {body['pacs']} into {body['bucket']}")
        report = client.get_json(path, "retrieval")
        while wait and not finished(report):
            time.sleep(interval)
            report = client.get_json(path, "retrieval")
    finally:
        client.close()
    for key in report["keys"]:
        line = json.dumps(  # one object a line (JSON lines): `mb retrieve ... | jq -c 'select(...)'`
            {
                "key": key["key"],
                "state": key["state"],
                "StudyInstanceUIDs": [s["StudyInstanceUID"] for s in key["studies"]],
                "scratchdirs": [s["scratchdir"] for s in key["studies"] if s["scratchdir"]],
                **({"error": key["error"]} if key["error"] else {}),
            },
            ensure_ascii=False,
        )
        print(line, flush=True)
    bad = any(key["state"] in BAD_KEY_STATES for key in report["keys"])
    return EXIT_FAILED if bad else EXIT_OK
