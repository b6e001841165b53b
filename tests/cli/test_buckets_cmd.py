"""`magickbox buckets ...` as a user runs it: a real subprocess on a data folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.dicomdata import write_study


def magickbox(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, rest = args[0], args[1:]
    return subprocess.run(
        [sys.executable, "-m", "magickbox.cli.magickbox", "buckets", command, "--data", str(data), *rest],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_create_then_run_on_local_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = magickbox(data, "create", "ProcMine")
    assert created.returncode == 0, created.stderr
    folder = data / "streams" / "ProcMine"
    info = json.loads((folder / "info.json").read_text())
    assert info["AETitle"] == "ProcMine" and info["enabled"] == 1 and info["command"] == ["./work.sh"]
    assert "MB_MEMORY" in (folder / "work.sh").read_text(), "the template explains the contract"
    assert magickbox(data, "create", "ProcMine").returncode != 0, "never overwrite a bucket"
    write_study(tmp_path / "in", 2)
    ran = magickbox(data, "run", "ProcMine", str(tmp_path / "in"), str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    assert "ProcMine: processing" in ran.stdout
    assert '"success": "success"' in ran.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in (tmp_path / "in").iterdir()
    )


def test_run_reports_a_failing_bucket(tmp_path: Path) -> None:
    data = tmp_path / "data"
    magickbox(data, "create", "Fails")
    (data / "streams" / "Fails" / "work.sh").write_text("#!/bin/sh\necho broken >&2\nexit 5\n")
    (tmp_path / "in").mkdir()
    ran = magickbox(data, "run", "Fails", str(tmp_path / "in"), str(tmp_path / "out"))
    assert ran.returncode == 5
    assert "broken" in ran.stdout and "exit code 5" in ran.stderr


def test_list_shows_invalid_buckets_with_reason_and_toggles(tmp_path: Path) -> None:
    data = tmp_path / "data"
    magickbox(data, "create", "Good")
    (data / "streams" / "Bad").mkdir()
    (data / "streams" / "Bad" / "info.json").write_text('{"name": "Bad"}')
    listing = magickbox(data, "list")
    assert listing.returncode == 0
    assert "Good" in listing.stdout and "INVALID" in listing.stdout and "AETitle" in listing.stdout
    assert magickbox(data, "disable", "Good").returncode == 0
    rows = {row["bucket"]: row for row in json.loads(magickbox(data, "list", "--json").stdout)}
    assert rows["Good"]["enabled"] is False and rows["Bad"]["valid"] is False
    assert rows["Good"]["queued"] == 0 and rows["Good"]["running"] == 0
    assert json.loads((data / "streams" / "Good" / "info.json").read_text())["enabled"] == 0
    assert magickbox(data, "enable", "Good").returncode == 0
    assert json.loads((data / "streams" / "Good" / "info.json").read_text())["enabled"] == 1


def test_bad_names_get_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = magickbox(data, "create", "../escape")
    assert bad.returncode == 2 and "letters, digits" in bad.stderr
    missing = magickbox(data, "enable", "Nope")
    assert missing.returncode == 2 and "no bucket 'Nope'" in missing.stderr
