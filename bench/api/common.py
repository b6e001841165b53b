"""Shared bits of the API benchmarks: a served box on a fresh data folder, sessions made in its store."""

from __future__ import annotations

import secrets
import statistics
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Session, SessionKey, SessionState, Store
from tests.support import sessions as factory
from tests.support.box import BoxProcess

AET = "ProcBench"
BUCKET = "bucketProcBench"


def start_box(data: Path) -> tuple[BoxProcess, Store]:
    box = BoxProcess(data=data, stages="http")  # no scheduler: the sessions stay as made
    box.add_bucket(BUCKET, {"name": "bench", "AETitle": AET, "enabled": 1}, "#!/bin/sh\n")
    box.start(wait_dicom=False)
    return box, Store(load_settings(data=str(data)))


def finished_session(store: Store, caller: str, log: bool = True) -> Session:
    key = SessionKey(caller, AET, "127.0.0.1", "1.2.3." + str(secrets.randbelow(10**12)))
    session = store.sessions.join_or_create(key, BUCKET, f"scp_{key.study_uid}")
    store.sessions.release(session.id, 0)
    factory.start(store, session.id)
    if log:
        store.layout.log_path(session.scratchdir).write_text("bench\n")
    factory.end(store, session.id, SessionState.FINISHED)
    return session


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {percentile(values, 0.95) * 1000:.1f} ms"
