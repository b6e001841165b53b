"""The soak harness in its short mode: kills at random moments must lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.timeout(900)
def test_short_soak_loses_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--sessions", "60", "--kills", "3"],
        capture_output=True, text=True, timeout=880,
    )  # fmt: skip
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stdout[-3000:]
    table_row = next(line for line in result.stdout.splitlines() if line.startswith("| 60 |"))
    cells = [cell.strip() for cell in table_row.strip("|").split("|")]
    assert cells[4] == "0", "lost sessions"
    assert int(cells[5]) == 3, "every planned kill happened"
