"""How sessions look from outside: getScratch.php entries (the original's field names and types)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from magickbox.store import (
    SESSION_SETTLED,
    Queries,
    ScratchLayout,
    Session,
    SessionFilter,
    StudyIndex,
    rfc2822_now,
)


def rfc2822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts).astimezone())


def processing_seconds(session: Session) -> int | None:
    return seconds_in_box(session.state, session.received_at, session.ended_at, session.updated_at)


def seconds_in_box(state: str, received_at: float, ended_at: float | None, updated_at: float) -> int | None:
    """Whole seconds from receipt to the end of processing (queue wait included, as the original's
    info.json-to-log-mtime difference), rounded up and at least 1; None while still in the pipeline.

    A session that will not move any more (finished, failed, cancelled, incomplete) has ended.
    """
    if state not in SESSION_SETTLED:
        return None
    end = ended_at if ended_at is not None else updated_at
    return max(1, math.ceil(end - received_at))


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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity would make the whole answer invalid


def read_info_keys(path: str) -> dict[str, Any]:
    """The keys of a session's info.json (getScratch.php passes them through); {} when unreadable."""
    try:
        with open(path, "rb") as handle:
            value = json.loads(handle.read(), parse_constant=_no_constant)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


_InfoRead = tuple[tuple[int, int] | None, dict[str, Any]]  # info.json's stat and its keys


# The study index's fields in every entry (strings, as the original's getArchive gave them).
SCRATCH_STUDY_KEYS = (
    "PatientID", "PatientName", "AccessionNumber", "StudyDate", "StudyDescription", "Modality",
    "SeriesCount", "InstanceCount",
)  # fmt: skip
NO_STUDY = {"SeriesCount": "0", "InstanceCount": "0"}  # a session the index knows nothing of (yet)


@dataclass(frozen=True)
class _Studies:
    index: StudyIndex
    changed: set[int]  # sessions whose study changed since the last rebuild


@dataclass
class _Rendered:
    row: Session  # the session it was made from
    checked: float
    head: str  # '{"CallerIP": ... "processingLogSize": n' (no closing brace)
    mtime: float | None  # log mtime, for processingLast
    size: int | None  # log size
    tail: str  # ',"measures": ..., "routing": ..., "PatientID": ...}'
    info_stat: tuple[int, int] | None  # info.json's (mtime_ns, size) when it was read
    study: dict[str, str]  # the study index's fields for this session

    @property
    def settled(self) -> bool:
        return self.row.state in SESSION_SETTLED


class ScratchRenderer:
    """getScratch.php as one JSON text, fast with many sessions.

    Each entry is rendered once and kept while its session row is unchanged; only
    `processingLast` (now - log mtime) is filled in per request. A cheap signature of the sessions
    table (`Queries.sessions_version`: count, sums of ids and update times) tells when any row was
    added, changed or deleted; then only the changed rows are rendered again. Sessions still in
    the pipeline are looked at on disk on every request; settled ones every `recheck_s` seconds
    (so a log touched by hand shows up soon).
    """

    def __init__(self, recheck_s: float = 30.0) -> None:
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._by_id: dict[int, _Rendered] = {}
        self._info: dict[str, _InfoRead] = {}  # by scratchdir
        self._entries: list[_Rendered] = []
        self._live: list[int] = []
        self._signature: str | None = None
        self._index_version = 0
        self._built = 0.0

    def render(
        self, queries: Queries, layout: ScratchLayout, studies: StudyIndex, now: float | None = None
    ) -> str:
        now = time.time() if now is None else now
        index_version = studies.version()
        signature = f"{queries.sessions_version()}|{index_version}"
        with self._lock:
            if signature != self._signature or now - self._built > self.recheck_s:
                changed = (
                    studies.changed_since(self._index_version)
                    if index_version != self._index_version
                    else set()
                )
                self._rebuild(queries, layout, now, _Studies(studies, changed))
                self._signature, self._index_version = signature, index_version
                self._built = now
            entries = self._entries
            for index in self._live:  # still in the pipeline: look at the disk every time
                entries[index] = self._render_one(entries[index].row, layout, now, entries[index].study)
            parts = [
                e.head + e.tail
                if e.mtime is None
                else f'{e.head},"processingLast":{max(0, int(now - e.mtime))}{e.tail}'
                for e in entries
            ]
        return "[" + ",".join(parts) + "]"

    def _rebuild(self, queries: Queries, layout: ScratchLayout, now: float, studies: _Studies) -> None:
        rows = queries.list_sessions(SessionFilter(), limit=None).sessions
        stale = [row for row in rows if self._stale(row, studies.changed)]
        summaries = studies.index.summaries(row.id for row in stale)
        by_id: dict[int, _Rendered] = {}
        entries: list[_Rendered] = []
        for row in rows:
            done = self._by_id.get(row.id)
            if done is None or self._stale(row, studies.changed):
                done = self._render_one(row, layout, now, summaries.get(row.id, NO_STUDY))
            elif now - done.checked > self.recheck_s:
                done = self._recheck(done, layout, now)
            by_id[row.id] = done
            entries.append(done)
        self._by_id, self._entries = by_id, entries
        kept = {e.row.scratchdir for e in entries}
        self._info = {name: value for name, value in self._info.items() if name in kept}
        self._live = [index for index, e in enumerate(entries) if not e.settled]

    def _stale(self, row: Session, changed: set[int]) -> bool:
        done = self._by_id.get(row.id)
        return done is None or done.row != row or not done.settled or row.id in changed

    def _recheck(self, done: _Rendered, layout: ScratchLayout, now: float) -> _Rendered:
        """A settled entry again: re-rendered only if its log changed on disk."""
        try:
            stat = os.stat(os.path.join(layout.root, done.row.scratchdir, "processing.log"))
            found: tuple[float | None, int | None] = (stat.st_mtime, stat.st_size)
        except OSError:
            found = (None, None)
        info_path = os.path.join(layout.root, done.row.scratchdir, "info.json")
        if found != (done.mtime, done.size) or _stat_key(info_path) != done.info_stat:
            return self._render_one(done.row, layout, now, done.study)
        done.checked = now
        return done

    def _info_keys(self, layout: ScratchLayout, scratchdir: str) -> _InfoRead:
        """info.json's stat and keys, read again only when the file changed (live sessions are
        rendered on every request; this keeps that to one stat)."""
        path = os.path.join(layout.root, scratchdir, "info.json")
        stat = _stat_key(path)
        cached = self._info.get(scratchdir)
        if cached is None or cached[0] != stat:
            keys = {} if stat is None else read_info_keys(path)
            cached = self._info[scratchdir] = (stat, keys)
        return cached

    def _render_one(
        self, row: Session, layout: ScratchLayout, now: float, study: dict[str, str]
    ) -> _Rendered:
        scratchdir, state = row.scratchdir, row.state
        seconds = processing_seconds(row)
        head: dict[str, Any] = {
            "CallerIP": row.caller_ip,
            "AETitleCalled": row.called_aet,
            "AETitleCaller": row.calling_aet,
            "received": rfc2822_now(row.received_at),
            "scratchdir": scratchdir,
            "pid": row.pid,
            "lastChangedTime": "0",
            "processingTime": "0" if seconds is None else str(seconds),
        }
        tail: dict[str, Any] = {}
        mtime, size = None, None
        try:
            stat = os.stat(os.path.join(layout.root, scratchdir, "processing.log"))
        except OSError:
            stat = None
        if stat is not None:
            mtime, size = stat.st_mtime, stat.st_size
            head["lastChangedTime"] = rfc2822(mtime)
            head["processingLogSize"] = stat.st_size
            found = read_measures(layout.root / scratchdir / "measures")
            if found is not None:
                tail["measures"] = found
        tail["status"] = state
        tail["routing"] = row.routing
        tail["kept"] = bool(row.kept)
        tail.update((key, study.get(key, "")) for key in SCRATCH_STUDY_KEYS)
        info_stat, info_keys = self._info_keys(layout, scratchdir)
        if info_keys:
            # As the original: info.json's keys first, each computed key wins over its namesake.
            later = {*tail, "processingLast"} if mtime is not None else set(tail)
            head = {**{k: v for k, v in info_keys.items() if k not in later}, **head}
        return _Rendered(
            row=row,
            checked=now,
            head=json.dumps(head, separators=(",", ":"))[:-1],
            mtime=mtime,
            size=size,
            tail="," + json.dumps(tail, separators=(",", ":"))[1:],
            info_stat=info_stat,
            study=study,
        )
