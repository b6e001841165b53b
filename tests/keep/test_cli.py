"""`magickbox cleanup [--dry-run]`, `magickbox audit`, audited token commands: the real command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Store
from tests.keep.helpers import exists, make_session, with_bucket


def magickbox(data: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "magickbox.cli.magickbox", *args, "--data", str(data)],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    return done.stdout


def test_cleanup_dry_run_then_cleanup_and_audit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(load_settings(data=str(data)))
    with_bucket(store.settings)
    old = make_session(store, size=300_000)
    kept = make_session(store)
    store.retention.set_kept(kept.id, True)
    time.sleep(1.0)
    env = {"MAGICKBOX_RETENTION_DAYS": "0.00001"}
    said = magickbox(data, "cleanup", "--dry-run", **env)
    assert f"would delete {old.scratchdir} ({old.pid})" in said and "age: ended" in said
    assert "KiB" in said and kept.scratchdir not in said and "1 to go" in said
    assert exists(store, old.scratchdir)
    said = magickbox(data, "cleanup", **env)
    assert f"did delete {old.scratchdir}" in said and not exists(store, old.scratchdir)
    magickbox(data, "token", "create", "--scope", "read", "--name", "viewer")
    lines = [json.loads(line) for line in magickbox(data, "audit", "--since", "2020-01-01").splitlines()]
    assert (lines[0]["action"], lines[0]["actor"]) == ("auto-delete", "retention")
    assert (
        lines[1]["action"] == "token-create" and "viewer" in lines[1]["detail"] and lines[1]["via"] == "cli"
    )
    assert magickbox(data, "audit", "--since", "2999-01-01") == ""
    store.db.close()
