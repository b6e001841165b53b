"""What the pages show, read from the store: plain values, formatted once, escaped by the templates."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from magickbox.preview.series import files
from magickbox.store import (
    SESSION_LIVE,
    SESSION_SETTLED,
    DeliveryState,
    Session,
    SessionFilter,
    SessionState,
    Store,
)

PAGE_ROWS = 200  # the sessions table shows at most this many matching rows
MAX_FILES = 500  # the session page lists at most this many files per folder
LOG_CHUNK = 256 * 1024  # one poll of the live log returns at most this many bytes


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"  # pragma: no cover - the loop always returns


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def local_time(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class SessionRow:
    session: Session
    duration: str
    running_since: float | None  # set while running: the page ticks the duration itself
    size: str
    received: str
    # Receipt to end, queue wait included: what getScratch.php's processingTime counts (rounded up).
    in_box: str = ""
    study: dict[str, str] = field(default_factory=dict)  # the study index's fields (empty: not yet)

    @property
    def live(self) -> bool:
        return self.session.state in SESSION_LIVE


def table_version(store: Store) -> str:
    """Changes whenever a row of the table may show something new (sessions or their studies)."""
    return f"{store.queries.sessions_version()}-{store.studies.version()}"


def session_row(
    session: Session, now: float | None = None, study: dict[str, str] | None = None
) -> SessionRow:
    now = time.time() if now is None else now
    running_since = session.started_at if session.state == SessionState.RUNNING else None
    duration: float | None = None
    if session.started_at is not None:
        duration = (session.ended_at or now) - session.started_at
    in_box: float | None = None
    if session.state in SESSION_SETTLED:
        in_box = (session.ended_at or session.updated_at) - session.received_at
    return SessionRow(
        session=session,
        duration=human_seconds(duration),
        in_box=human_seconds(in_box),
        running_since=running_since,
        size=human_bytes(session.bytes),
        received=local_time(session.received_at),
        study=study or {},
    )


@dataclass(frozen=True)
class SessionTable:
    rows: list[SessionRow]
    matching: int
    total: int
    version: str  # changes whenever anything shown may have changed (the poll's ETag)


def session_table(store: Store, wanted: SessionFilter) -> SessionTable:
    """The newest PAGE_ROWS sessions that match, filtered and counted by SQLite (fast with many)."""
    version = table_version(store)
    page = store.queries.list_sessions(wanted, limit=PAGE_ROWS)
    studies = store.studies.summaries(s.id for s in page.sessions)
    now = time.time()
    return SessionTable(
        rows=[session_row(s, now, studies.get(s.id)) for s in page.sessions],
        matching=page.total,
        total=store.queries.session_count(),
        version=version,
    )


def series_rows(series: list[dict[str, str | int]]) -> list[dict[str, str | int]]:
    """The session page's series table: the index's series with a readable size."""
    return [{**item, "size": human_bytes(int(item["bytes"]))} for item in series]


def bucket_names(store: Store) -> list[str]:
    """Buckets to filter by: those on disk plus those that sessions name (a removed bucket too)."""
    return sorted({b.name for b in store.catalog().valid} | store.queries.session_buckets())


# ---- one session ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    path: str
    size: str


@dataclass(frozen=True)
class FileList:
    entries: list[FileEntry]
    total: int
    total_bytes: str


def list_files(folder: Path) -> FileList:
    """The session's files under `folder` (INPUT or OUTPUT) as the page lists them: regular files,
    no link followed (a bucket may have put links in OUTPUT or made OUTPUT one)."""
    entries: list[FileEntry] = []
    total = 0
    size = 0
    found = files(folder) if folder.is_dir() else []  # regular files only, never through a link
    for entry in sorted(found, key=lambda e: e.path):
        nbytes = entry.stat(follow_symlinks=False).st_size
        total += 1
        size += nbytes
        if len(entries) < MAX_FILES:
            entries.append(FileEntry(Path(entry.path).relative_to(folder).as_posix(), human_bytes(nbytes)))
    return FileList(entries, total, human_bytes(size))


def read_proc_json(path: Path) -> str:
    """proc.json pretty-printed, or the raw text when a bucket wrote something that is not JSON."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int  # where the next poll starts
    size: int


def read_log(path: Path, offset: int) -> LogChunk:
    """The log from `offset` on (at most LOG_CHUNK bytes); offset 0 again if the file shrank."""
    try:
        size = path.stat().st_size
    except OSError:
        return LogChunk("", 0, 0)
    if offset > size:
        offset = 0
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(LOG_CHUNK)
    keep = _whole_utf8(data)
    return LogChunk(data[:keep].decode("utf-8", errors="replace"), offset + keep, size)


def tail_offset(path: Path) -> int:
    """Where to start showing a log so that at most LOG_CHUNK bytes are shown, at a line start."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if size <= LOG_CHUNK:
        return 0
    with path.open("rb") as handle:
        handle.seek(size - LOG_CHUNK)
        head = handle.read(LOG_CHUNK)
    newline = head.find(b"\n")
    return size - LOG_CHUNK + (newline + 1 if newline >= 0 else 0)


def _whole_utf8(data: bytes) -> int:
    """How many leading bytes to send now: a UTF-8 character cut by the read waits for the next poll."""
    for cut in range(min(4, len(data))):
        try:
            data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 4:
                return len(data)  # bad bytes inside, not a cut character: send as is (replaced)
            continue
        return len(data) - cut
    return len(data)


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    destination: str
    folder: str
    rule: str
    state: str
    attempts: int
    last_error: str
    when: str  # next try while pending, else when it ended
    files: str


def deliveries(store: Store, session_id: int) -> list[DeliveryRow]:
    """The session's routed sends, as the routing stage stores them."""
    rows = []
    for d in store.deliveries.for_session(session_id):
        when = (
            f"next try {local_time(d.next_try_at)}"
            if d.state == DeliveryState.PENDING
            else local_time(d.finished_at)
        )
        rows.append(
            DeliveryRow(
                id=d.id,
                destination=f"{d.called_aet}@{d.ip}:{d.port} (as {d.calling_aet})",
                folder=d.folder,
                rule=d.rule_name,
                state=d.state,
                attempts=d.attempts,
                last_error=d.last_error,
                when=when,
                files=f"{d.files_sent} sent, {d.files_failed} failed, {d.files_skipped} skipped",
            )
        )
    return rows


# ---- buckets -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BucketLoad:
    queued: int
    running: int
    average: str
    runs: int


NO_LOAD = BucketLoad(0, 0, "", 0)


def bucket_loads(store: Store) -> dict[str, BucketLoad]:
    return {
        name: BucketLoad(s.queued, s.running, human_seconds(s.avg_run_s), s.done)
        for name, s in store.queries.bucket_stats().items()
    }


# ---- system --------------------------------------------------------------------------------------
def state_counts(store: Store) -> dict[str, int]:
    return {**dict.fromkeys(SessionState, 0), **store.queries.count_by_state()}


def sessions_per_day(store: Store, days: int = 30, today: date | None = None) -> list[tuple[date, int]]:
    today = today or date.today()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time()).timestamp()
    counts: dict[date, int] = {}
    for received_at in store.queries.received_since(since):
        day = datetime.fromtimestamp(received_at).date()
        counts[day] = counts.get(day, 0) + 1
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]


def processing_times(store: Store, last: int = 40) -> list[tuple[str, float]]:
    """(scratchdir, seconds) of the most recently ended sessions, oldest first."""
    return store.queries.processing_times(last)


@dataclass(frozen=True)
class Disk:
    free: str
    total: str
    used_percent: int


def disk(path: Path) -> Disk:
    usage = shutil.disk_usage(path)
    return Disk(human_bytes(usage.free), human_bytes(usage.total), round(100 * usage.used / usage.total))


def slurm_job(store: Store, session_id: int) -> dict[str, str] | None:
    """The Slurm side of the session's latest job (id, state, pending reason), None for local runs."""
    row = store.queries.latest_job(session_id)
    if row is None or row["executor"] != "slurm":
        return None
    reason = row["slurm_reason"] if row["slurm_state"] == "PENDING" else ""
    return {"id": row["slurm_job_id"] or "(submitting)", "state": row["slurm_state"] or "", "reason": reason}
