"""Fixtures for the run stage: a store with buckets, sealed sessions, an in-process scheduler."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from magickbox.config import Settings, load_settings
from magickbox.run.scheduler import Scheduler
from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey
from tests.support.dicomdata import write_study
from tests.support.net import wait_until


def make_bucket(streams: Path, folder: str, script: str | None = None, **info: Any) -> Path:
    """Write `streams/<folder>/` with info.json (AETitle = folder, enabled) and a work.sh."""
    bucket = streams / folder
    bucket.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {"name": folder, "AETitle": folder[:16], "enabled": 1, **info}
    (bucket / "info.json").write_text(json.dumps(fields))
    if script is not None:
        work = bucket / "work.sh"
        work.write_text("#!/bin/sh\n" + script)
        work.chmod(0o755)
    return bucket


def new_session(store: Store, bucket: str, count: int = 1, arguments: str = "", seal: bool = True) -> Session:
    """An upload session for `bucket` with `count` DICOM files in INPUT, sealed (so queued)."""
    key = SessionKey("TESTER", bucket, "127.0.0.1", None)
    session = store.sessions.create_upload(key, bucket, "test", arguments, "")
    write_study(store.layout.input_dir(session.scratchdir), count)
    if seal:
        store.sessions.seal(session.id)
    return store.sessions.get(session.id)


def state_of(store: Store, session: Session) -> str:
    return store.sessions.get(session.id).state


def wait_state(store: Store, session: Session, *states: str, timeout: float = 30) -> Session:
    wait_until(lambda: state_of(store, session) in states, timeout=timeout, what=f"session in {states}")
    return store.sessions.get(session.id)


def pid_alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that does not reap (PID 1 in containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def run_settings(tmp_path: Path) -> Settings:
    return load_settings(data=str(tmp_path / "data"), max_workers=4, lease_s=5.0)


@pytest.fixture
def run_store(run_settings: Settings) -> Iterator[Store]:
    store = Store(run_settings)
    # A marker so the scheduler does not install the shipped buckets into these tests' streams.
    (run_settings.streams_dir / ".shipped-installed").write_text("")
    yield store
    store.db.close()


@pytest.fixture
def start_scheduler(run_store: Store) -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def start(**overrides: Any) -> Scheduler:
        settings = run_store.settings.model_copy(update=overrides) if overrides else run_store.settings
        scheduler = Scheduler(settings, run_store)
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.stop()


@pytest.fixture
def streams(run_settings: Settings) -> Path:
    return run_settings.streams_dir


def gate(bucket: Path) -> str:
    """Shell lines that wait until the test creates `<bucket>/memory/go` (an observable pause)."""
    path = bucket / "memory" / "go"
    return f'while [ ! -e "{path}" ]; do sleep 0.02; done\n'


def open_gate(bucket: Path) -> None:
    (bucket / "memory").mkdir(exist_ok=True)
    (bucket / "memory" / "go").write_text("")
