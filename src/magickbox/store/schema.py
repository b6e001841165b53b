"""The SQLite schema, versioned: `PRAGMA user_version` counts the MIGRATIONS applied.

Migration 1 is the schema as it was before versioning (BASELINE plus BASELINE_COLUMNS): it is
idempotent, so every unversioned database (user_version 0), whatever it already had, upgrades
to it. Every later change is a new migration appended at the end of MIGRATIONS (see
docs/architecture.md, "Adding a migration"); BASELINE itself never changes again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BASELINE: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS sessions (
        id INTEGER PRIMARY KEY,
        scratchdir TEXT NOT NULL UNIQUE,
        pid TEXT NOT NULL,
        source TEXT NOT NULL,                 -- 'dicom' | 'upload'
        calling_aet TEXT NOT NULL,
        called_aet TEXT NOT NULL,
        caller_ip TEXT NOT NULL,
        study_uid TEXT,                       -- NULL when grouped by association instead
        group_key TEXT,                       -- association-scoped key when study_uid is missing
        bucket TEXT,                          -- bucket folder name chosen at creation
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        routing TEXT NOT NULL DEFAULT 'none', -- none | pending | routed | failed
        open_associations INTEGER NOT NULL DEFAULT 0,
        settle_until REAL,
        received_at REAL NOT NULL,
        sealed_at REAL,
        started_at REAL,
        ended_at REAL,
        updated_at REAL NOT NULL,
        instances INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        arguments TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        route_checked_at REAL                 -- when the router last evaluated routing.json for it
    )
    """,
    "CREATE INDEX IF NOT EXISTS sessions_state ON sessions(state)",
    "CREATE INDEX IF NOT EXISTS sessions_received ON sessions(received_at)",
    "CREATE INDEX IF NOT EXISTS sessions_key ON sessions(calling_aet, called_aet, caller_ip, study_uid)",
    """
    CREATE TABLE IF NOT EXISTS session_events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        at REAL NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX IF NOT EXISTS session_events_session ON session_events(session_id)",
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        bucket TEXT NOT NULL,
        state TEXT NOT NULL,                  -- queued | running | done | failed | cancelled
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until REAL,
        queued_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        exit_code INTEGER,
        reason TEXT NOT NULL DEFAULT '',
        cancel_requested INTEGER NOT NULL DEFAULT 0  -- set by the API; the worker stops the run
    )
    """,
    "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(bucket, state, id)",
    "CREATE INDEX IF NOT EXISTS jobs_session ON jobs(session_id)",
    # The scheduler asks "anything queued?" every few milliseconds; keep that an index lookup.
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id)",
    """
    CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )
    """,
]
BASELINE.append(
    """
    CREATE TABLE IF NOT EXISTS api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        token_hash TEXT NOT NULL UNIQUE,      -- sha256 of the token; the token itself is never stored
        scope TEXT NOT NULL,                  -- read | write | admin (each includes the ones before)
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    )
    """
)
# Received totals for /metrics that survive deleting sessions: every increase of a session's
# instances/bytes (store.sessions.record_instances) is added to two counters.
BASELINE.append(
    """
    CREATE TRIGGER IF NOT EXISTS sessions_count_received AFTER UPDATE OF instances, bytes ON sessions
    WHEN NEW.instances > OLD.instances OR NEW.bytes > OLD.bytes
    BEGIN
        INSERT INTO counters(name, value) VALUES ('received_instances', NEW.instances - OLD.instances)
            ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;
        INSERT INTO counters(name, value) VALUES ('received_bytes', NEW.bytes - OLD.bytes)
            ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;
    END
    """
)

# Routing: one row per (session, destination) planned by the router; sent by its worker threads.
BASELINE += [
    """
    CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        planned_at REAL NOT NULL,             -- = sessions.route_checked_at of the evaluation
        rule_index INTEGER NOT NULL,
        rule_name TEXT NOT NULL,
        send_key TEXT NOT NULL,
        ip TEXT NOT NULL,
        port INTEGER NOT NULL,
        calling_aet TEXT NOT NULL,
        called_aet TEXT NOT NULL,
        folder TEXT NOT NULL,                 -- OUTPUT | INPUT
        which TEXT,                           -- JSON of the `which` filter, NULL = all files
        state TEXT NOT NULL,                  -- pending | sending | done | failed | superseded | cancelled
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at REAL NOT NULL,
        give_up_at REAL NOT NULL,             -- failing after this moment means giving up
        last_try_at REAL,
        last_error TEXT NOT NULL DEFAULT '',
        finished_at REAL,
        lease_until REAL,
        files_sent INTEGER NOT NULL DEFAULT 0,
        files_failed INTEGER NOT NULL DEFAULT 0,
        files_skipped INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_try_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_session ON deliveries(session_id)",
    """
    CREATE TABLE IF NOT EXISTS delivery_files (
        delivery_id INTEGER NOT NULL,
        path TEXT NOT NULL,                   -- relative to the routed folder
        outcome TEXT NOT NULL,                -- sent | failed | skipped
        status INTEGER,                       -- DICOM status of the C-STORE, NULL if none
        detail TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        PRIMARY KEY (delivery_id, path)
    )
    """,
]

# Which process holds a `sending` delivery, so a restarted box takes back its own dead claims at
# once instead of waiting for the lease to run out.
BASELINE += [
    """
    CREATE TABLE IF NOT EXISTS delivery_claims (
        delivery_id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL                   -- '<host>:<pid>'
    )
    """,
]

# Columns added to a table before versioning: (table, column, declaration). Migration 1 adds the
# missing ones (SQLite has no ADD COLUMN IF NOT EXISTS), so an unversioned database upgrades in place.
BASELINE_COLUMNS: list[tuple[str, str, str]] = [
    # Where the job runs ('local' | 'slurm'); set before anything is submitted, so recovery knows
    # whether to re-attach (Slurm) or to re-run (local).
    ("jobs", "executor", "TEXT NOT NULL DEFAULT 'local'"),
    ("jobs", "slurm_job_id", "TEXT"),  # the id sbatch printed, stored as soon as it returns
    ("jobs", "slurm_state", "TEXT NOT NULL DEFAULT ''"),  # PENDING, RUNNING, COMPLETED, ...
    ("jobs", "slurm_reason", "TEXT NOT NULL DEFAULT ''"),  # Slurm's pending reason (Resources, ...)
]


def add_missing_columns(conn: sqlite3.Connection, columns: Sequence[tuple[str, str, str]]) -> None:
    """ALTER TABLE ... ADD COLUMN for each (table, column, declaration) the table lacks."""
    for table, column, declaration in columns:
        present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


# ---- notifications (issue 21) -----------------------------------------------------------------------
# The outbox. A session's end and a delivery's giving up are written into notification_events by
# triggers, so the event commits in the same transaction as the state change that causes it (a
# kill can lose neither one without the other). The notify stage expands each event into one
# notification_sends row per matching webhook and posts it with retries; every try is logged.
NOTIFICATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS notification_events (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,        -- sent to receivers for de-duplication
        event TEXT NOT NULL,                  -- session.finished | delivery.failed | ...
        at REAL NOT NULL,
        session_id INTEGER,                   -- NULL for events not about one session
        scratchdir TEXT,
        bucket TEXT,
        caller TEXT,                          -- calling AE title of the session
        detail TEXT NOT NULL DEFAULT '{}',    -- JSON object added to the body
        only_url TEXT,                        -- a test event goes to this webhook only
        expanded INTEGER NOT NULL DEFAULT 0   -- 1 once its sends are planned
    )
    """,
    "CREATE INDEX IF NOT EXISTS notification_events_new ON notification_events(expanded, id)",
    """
    CREATE TABLE IF NOT EXISTS notification_sends (
        id INTEGER PRIMARY KEY,
        event_row INTEGER NOT NULL,           -- notification_events.id
        url TEXT NOT NULL,
        body TEXT NOT NULL,                   -- frozen at planning: every retry sends the same bytes
        state TEXT NOT NULL,                  -- pending | sending | done | failed | dropped
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at REAL NOT NULL,
        give_up_at REAL NOT NULL,
        lease_until REAL,
        last_error TEXT NOT NULL DEFAULT '',
        finished_at REAL
    )
    """,
    "CREATE INDEX IF NOT EXISTS notification_sends_due ON notification_sends(state, next_try_at)",
    """
    CREATE TABLE IF NOT EXISTS notification_attempts (
        id INTEGER PRIMARY KEY,
        send_id INTEGER NOT NULL,
        at REAL NOT NULL,
        status INTEGER,                       -- HTTP status, NULL when no answer came
        error TEXT NOT NULL DEFAULT ''
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS notify_session_end AFTER INSERT ON session_events
    WHEN NEW.state IN ('finished', 'failed', 'incomplete')
    BEGIN
        INSERT INTO notification_events(event_id, event, at, session_id, scratchdir, bucket, caller)
        SELECT lower(hex(randomblob(16))), 'session.' || NEW.state, NEW.at, s.id, s.scratchdir,
               s.bucket, s.calling_aet
        FROM sessions s WHERE s.id = NEW.session_id;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS notify_delivery_failed AFTER UPDATE OF state ON deliveries
    WHEN NEW.state = 'failed' AND OLD.state != 'failed'
    BEGIN
        INSERT INTO notification_events(event_id, event, at, session_id, scratchdir, bucket, caller,
                                        detail)
        SELECT lower(hex(randomblob(16))), 'delivery.failed', COALESCE(NEW.finished_at, s.updated_at),
               s.id, s.scratchdir, s.bucket, s.calling_aet,
               json_object('delivery', json_object('id', NEW.id, 'rule', NEW.rule_name,
                   'ip', NEW.ip, 'port', NEW.port, 'called_aet', NEW.called_aet,
                   'attempts', NEW.attempts, 'error', NEW.last_error))
        FROM sessions s WHERE s.id = NEW.session_id;
    END
    """,
]
# ---- end of notifications ------------------------------------------------------------------------


# ---- Retention, kept sessions, audit log (issue 18) ------------------------------------------------
# Migration 3: the columns and tables of housekeeping.
RETENTION_COLUMNS: list[tuple[str, str, str]] = [
    ("sessions", "kept", "INTEGER NOT NULL DEFAULT 0"),  # 1: retention and watermarks never delete it
    ("sessions", "input_removed_at", "REAL"),  # INPUT emptied (trim_input_days or a user's action)
    ("sessions", "output_removed_at", "REAL"),  # OUTPUT emptied by a user's action
]
RETENTION: list[str] = [
    # Append-only: rows are inserted, and removed only by rotation (audit_days); no UPDATE anywhere.
    # It names sessions by scratchdir/pid/study UID, never by id, so it outlives them.
    """
    CREATE TABLE IF NOT EXISTS audit_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,                  -- token name, 'anonymous', 'retention', 'watermark', ...
        via TEXT NOT NULL DEFAULT '',         -- api | web | mb | cli | keep
        ip TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,                 -- delete | download-zip | download-file | keep | ...
        scratchdir TEXT NOT NULL DEFAULT '',
        pid TEXT NOT NULL DEFAULT '',
        study_uid TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        bytes INTEGER
    )
    """,
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at)",
    "CREATE INDEX IF NOT EXISTS audit_log_session ON audit_log(scratchdir)",
    # Small named values of the housekeeping stage (last sweep, what it could not free).
    """
    CREATE TABLE IF NOT EXISTS housekeeping (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        at REAL NOT NULL
    )
    """,
]

# ---- The study index (patient / study / series attributes, search) ---------------------------
# One row per session in `studies`, one per series in `series`; `study_search` (FTS5 trigram:
# case-insensitive substring search) holds one lowercased text per session, kept by triggers for
# the session's own fields and rewritten by store/studies.py when the study's attributes change.
STUDY_INDEX: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS studies (
        session_id INTEGER PRIMARY KEY,
        PatientID TEXT NOT NULL DEFAULT '',
        PatientName TEXT NOT NULL DEFAULT '',
        PatientBirthDate TEXT NOT NULL DEFAULT '',
        PatientSex TEXT NOT NULL DEFAULT '',
        AccessionNumber TEXT NOT NULL DEFAULT '',
        StudyDate TEXT NOT NULL DEFAULT '',
        StudyTime TEXT NOT NULL DEFAULT '',
        StudyDescription TEXT NOT NULL DEFAULT '',
        ReferringPhysicianName TEXT NOT NULL DEFAULT '',
        complete INTEGER NOT NULL DEFAULT 0,  -- 1: nothing left to add (end of receipt, upload, re-index)
        seq INTEGER NOT NULL DEFAULT 0        -- the index's change counter when this row last changed
    )
    """,
    "CREATE INDEX IF NOT EXISTS studies_patient ON studies(PatientID)",
    "CREATE INDEX IF NOT EXISTS studies_accession ON studies(AccessionNumber)",
    "CREATE INDEX IF NOT EXISTS studies_date ON studies(StudyDate)",
    "CREATE INDEX IF NOT EXISTS studies_seq ON studies(seq)",
    """
    CREATE TABLE IF NOT EXISTS series (
        session_id INTEGER NOT NULL,
        SeriesInstanceUID TEXT NOT NULL,
        SeriesNumber TEXT NOT NULL DEFAULT '',
        SeriesDescription TEXT NOT NULL DEFAULT '',
        Modality TEXT NOT NULL DEFAULT '',
        BodyPartExamined TEXT NOT NULL DEFAULT '',
        instances INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, SeriesInstanceUID)
    )
    """,
    "CREATE INDEX IF NOT EXISTS series_modality ON series(Modality)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS study_search USING fts5(text, tokenize='trigram')",
    """
    CREATE TRIGGER IF NOT EXISTS study_search_new_session AFTER INSERT ON sessions BEGIN
        INSERT INTO study_search(rowid, text) VALUES (NEW.id, lower(NEW.calling_aet || ' ' ||
            NEW.called_aet || ' ' || NEW.scratchdir || ' ' || NEW.pid || ' ' || COALESCE(NEW.study_uid, '')));
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS study_index_gone AFTER DELETE ON sessions BEGIN
        DELETE FROM studies WHERE session_id = OLD.id;
        DELETE FROM series WHERE session_id = OLD.id;
        DELETE FROM study_search WHERE rowid = OLD.id;
    END
    """,
]
STUDY_INDEX.append(  # sessions that existed before the index: searchable by their own fields at once
    "INSERT INTO study_search(rowid, text) SELECT id, lower(calling_aet || ' ' || called_aet || ' ' ||"
    " scratchdir || ' ' || pid || ' ' || COALESCE(study_uid, '')) FROM sessions"
    " WHERE id NOT IN (SELECT rowid FROM study_search)"
)


# Retrievals (docs/retrieve.md): a list of keys fetched from a PACS; each study found is one
# row of retrieval_studies and, once fetched, one session (sessions.retrieval points back).
RETRIEVALS = [
    """
    CREATE TABLE IF NOT EXISTS retrievals (
        id INTEGER PRIMARY KEY,
        pacs TEXT NOT NULL,
        bucket TEXT NOT NULL,
        method TEXT NOT NULL,
        destination TEXT NOT NULL,
        key_type TEXT NOT NULL,
        study_date_from TEXT NOT NULL DEFAULT '',
        study_date_to TEXT NOT NULL DEFAULT '',
        modality TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        ended_at REAL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS retrieval_items (
        id INTEGER PRIMARY KEY,
        retrieval_id INTEGER NOT NULL REFERENCES retrievals(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        state TEXT NOT NULL,
        study_uids TEXT NOT NULL DEFAULT '[]',
        status INTEGER,
        error TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL,
        UNIQUE (retrieval_id, position)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS retrieval_studies (
        id INTEGER PRIMARY KEY,
        retrieval_id INTEGER NOT NULL REFERENCES retrievals(id) ON DELETE CASCADE,
        study_uid TEXT NOT NULL,
        patient_id TEXT NOT NULL DEFAULT '',
        accession TEXT NOT NULL DEFAULT '',
        study_date TEXT NOT NULL DEFAULT '',
        sop_classes TEXT NOT NULL DEFAULT '',
        expected INTEGER,
        state TEXT NOT NULL,
        session_id INTEGER,
        completed INTEGER NOT NULL DEFAULT 0,
        remaining INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        warning INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        error TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL,
        UNIQUE (retrieval_id, study_uid)
    )
    """,
    "CREATE INDEX IF NOT EXISTS retrieval_studies_by_uid ON retrieval_studies(study_uid, state)",
]
RETRIEVAL_COLUMNS = [("sessions", "retrieval", "INTEGER")]  # the retrieval that fetched the session


def _baseline(conn: sqlite3.Connection) -> None:
    for statement in BASELINE:
        conn.execute(statement)
    add_missing_columns(conn, BASELINE_COLUMNS)


# Which receiving process holds which associations (store/feeds.py).
FEEDS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS association_feeds (
        session_id INTEGER NOT NULL,
        pid INTEGER NOT NULL,                 -- the receiving process holding the associations
        n INTEGER NOT NULL,                   -- how many of the session's open associations
        PRIMARY KEY (session_id, pid)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS association_feeds_pid ON association_feeds(pid)",
]


@dataclass(frozen=True)
class Migration:
    """One step of the schema: SQL statements run in order, or a function for anything more."""

    name: str
    statements: Sequence[str] = ()
    run: Callable[[sqlite3.Connection], None] | None = None

    def apply(self, conn: sqlite3.Connection) -> None:
        for statement in self.statements:
            conn.execute(statement)
        if self.run is not None:
            self.run(conn)


# Append-only: migration N is MIGRATIONS[N - 1]. Never edit or reorder one that has been merged.
MIGRATIONS: list[Migration] = [
    Migration("baseline: sessions, events, jobs (with the Slurm columns), tokens, deliveries", run=_baseline),
    Migration(
        "notifications: outbox, sends, attempts; triggers on session ends and given-up deliveries",
        statements=NOTIFICATIONS,
    ),
    Migration(
        "retention: kept and removal columns on sessions, the audit log, housekeeping values",
        statements=RETENTION,
        run=lambda conn: add_missing_columns(conn, RETENTION_COLUMNS),
    ),
    Migration("study index: studies, series, study_search (FTS5 trigram)", statements=STUDY_INDEX),
    Migration(
        "retrievals: retrievals, retrieval_items, retrieval_studies, sessions.retrieval",
        statements=RETRIEVALS,
        run=lambda conn: add_missing_columns(conn, RETRIEVAL_COLUMNS),
    ),
    Migration("receive workers: association_feeds (which process feeds which session)", statements=FEEDS),
]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer MagickBox (more migrations than this one knows)."""


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database has not had yet, inside the caller's transaction.

    Returns the schema version now. The version is written in the same transaction as the
    changes, so a crash leaves the database at the old version with none of them, or at the new.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database is at schema version {version}; this MagickBox knows {len(MIGRATIONS)}"
        )
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration.apply(conn)
        conn.execute(f"PRAGMA user_version = {number}")  # no parameters in PRAGMA; an int here
    return len(MIGRATIONS)
