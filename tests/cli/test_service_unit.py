"""scripts/magickbox.service is a unit systemd accepts without a warning, with the hardening the
operations page promises, pointing at the command that serves."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "scripts" / "magickbox.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # Point it at this checkout so the ExecStart binary exists; everything else as shipped.
    text = UNIT.read_text().replace("/opt/magickbox", str(ROOT))
    unit = tmp_path / "magickbox.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_unit_is_hardened_and_restarts() -> None:
    keys = dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert keys["ExecStart"].endswith("/.venv/bin/magickbox serve")
    assert keys["ProtectSystem"] == "strict" and keys["ReadWritePaths"] == "/var/lib/magickbox"
    assert keys["Environment"] == "MAGICKBOX_DATA=/var/lib/magickbox" and keys["User"] == "magickbox"
    assert keys["Restart"] == "on-failure" and keys["ExecReload"] == "/bin/kill -HUP $MAINPID"
