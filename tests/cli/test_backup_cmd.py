"""`magickbox backup`: a consistent copy of a database in WAL mode, with the settings files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magickbox.cli.magickbox import main
from magickbox.config import load_settings
from magickbox.store import Store
from tests.notify.sessions import end_session


def test_backup_holds_what_is_still_in_the_wal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    store = Store(load_settings(data=str(data)))
    try:
        scratchdirs = {end_session(store, "finished") for _ in range(3)}
        (data / "routing.json").write_text('{"routing": []}')
        # The store's connection is still open: its last commits live in magickbox.db-wal only.
        assert main(["backup", "--data", str(data), str(tmp_path / "copy")]) == 0
    finally:
        store.db.close()
    assert "routing.json" in capsys.readouterr().out
    copy = sqlite3.connect(tmp_path / "copy" / "magickbox.db")
    try:
        found = {row[0] for row in copy.execute("SELECT scratchdir FROM sessions")}
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()
    assert found == scratchdirs
    assert (tmp_path / "copy" / "routing.json").read_text() == '{"routing": []}'


def test_backup_of_a_folder_without_a_box_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backup", "--data", str(tmp_path / "nothing"), str(tmp_path / "copy")]) == 2
    assert "no database" in capsys.readouterr().err
