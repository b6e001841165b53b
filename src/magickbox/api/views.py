"""How sessions look from outside: getScratch.php entries (the original's field names and types)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from magickbox.store.layout import ScratchLayout
from magickbox.store.queries import SETTLED_STATES
from magickbox.store.sessions import Session, rfc2822_now


def rfc2822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts).astimezone())


def processing_seconds(session: Session) -> int | None:
    """Whole seconds from receipt to the end of processing (queue wait included, as the original's
    info.json-to-log-mtime difference), rounded up and at least 1; None while still in the pipeline.

    A session that will not move any more (finished, failed, cancelled, incomplete) has ended.
    """
    if session.state not in SETTLED_STATES:
        return None
    end = session.ended_at if session.ended_at is not None else session.updated_at
    return max(1, math.ceil(end - session.received_at))


class MeasuresCache:
    """`<session>/measures/*.json`, read once per session end (a settled session's files don't change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, float | None, str], dict[str, Any] | None] = {}

    def get(self, layout: ScratchLayout, session: Session) -> dict[str, Any] | None:
        key = (session.scratchdir, session.ended_at, session.state)
        if session.state in SETTLED_STATES:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
        value = read_measures(layout.session_dir(session.scratchdir) / "measures")
        if session.state in SETTLED_STATES:
            with self._lock:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[key] = value
        return value


def read_measures(folder: Path) -> dict[str, Any] | None:
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return None
    measures: dict[str, Any] = {}
    for name in names:
        try:
            measures[name[: -len(".json")]] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return measures or None


def scratch_entry(
    session: Session, layout: ScratchLayout, measures: MeasuresCache, now: float | None = None
) -> dict[str, Any]:
    """One getScratch.php object. Strings where the original had strings; `processingTime` is a
    string ("0" until the session has ended) so that the documented jq filters work literally."""
    now = time.time() if now is None else now
    seconds = processing_seconds(session)
    entry: dict[str, Any] = {
        "CallerIP": session.caller_ip,
        "AETitleCalled": session.called_aet,
        "AETitleCaller": session.calling_aet,
        "received": rfc2822_now(session.received_at),
        "scratchdir": session.scratchdir,
        "pid": session.pid,
        "lastChangedTime": "0",
        "processingTime": "0" if seconds is None else str(seconds),
    }
    try:
        stat = os.stat(layout.root / session.scratchdir / "processing.log")
    except OSError:
        stat = None
    if stat is not None:
        entry["lastChangedTime"] = rfc2822(stat.st_mtime)
        entry["processingLogSize"] = stat.st_size
        entry["processingLast"] = max(0, int(now - stat.st_mtime))
        found = measures.get(layout, session)
        if found is not None:
            entry["measures"] = found
    entry["status"] = session.state
    entry["routing"] = session.routing
    return entry
