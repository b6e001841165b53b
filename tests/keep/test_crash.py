"""kill -9 in the middle of a sweep: a restart leaves no half-deleted session, and no deletion
without its audit entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from magickbox.config import load_settings
from magickbox.keep.stage import sweep
from magickbox.store import AuditFilter, Store
from tests.keep.helpers import make_session, with_bucket
from tests.support.net import wait_until

SWEEPER = """
import sys
from magickbox.config import load_settings
from magickbox.keep.stage import sweep
from magickbox.store import Store
settings = load_settings(data=sys.argv[1], retention_days=0.00001)
sweep(Store(settings), settings)
"""


def audited(store: Store) -> set[str]:
    _total, entries = store.audit.entries(AuditFilter(action="auto-delete"), limit=1000)
    return {e.scratchdir for e in entries}


def test_kill_during_sweep_then_restart(tmp_path: Path) -> None:
    settings = load_settings(data=str(tmp_path / "data"))
    store = Store(settings)
    with_bucket(settings)
    made = {make_session(store, size=256 << 10).scratchdir for _ in range(120)}
    time.sleep(1.0)  # older than the sweeper's 0.86 s retention
    sweeper = subprocess.Popen([sys.executable, "-c", SWEEPER, str(settings.data)])
    wait_until(lambda: len(audited(store)) >= 15 or sweeper.poll() is not None, timeout=30)
    os.kill(sweeper.pid, signal.SIGKILL)
    sweeper.wait()
    store.db.close()

    store = Store(settings)  # what a restart does first
    store.sessions.finish_deletes()
    store.retention.clear_leftovers()
    left = {s.scratchdir for s in store.sessions.all()}
    assert 0 < len(left) < len(made), "the kill did not land in the middle of the sweep"
    assert not store.layout.tombstoned()
    for scratchdir in left:  # every session still listed is whole
        assert (store.layout.input_dir(scratchdir) / "big.dcm").stat().st_size == 256 << 10
    on_disk = {p.name for p in store.layout.root.iterdir() if p.name.startswith("tmp.")}
    assert on_disk == left
    assert made - left <= audited(store)  # each deleted session has its audit entry

    sweep(store, load_settings(data=str(settings.data), retention_days=0.00001))
    assert store.sessions.all() == [] and audited(store) == made
    store.db.close()
