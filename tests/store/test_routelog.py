from __future__ import annotations

import re
from pathlib import Path

import pytest

from magickbox.store import routelog


def test_lines_have_the_original_time_format_and_render_newest_first(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "routing.log"
    routelog.write(log, 'CALLED routing with /d/scratch/tmp.A "ProcX" "CT1"')
    routelog.write(log, 'check route 0 "r": matches')
    routelog.write(log, "ROUTE: delivery 1 -- /d/scratch/tmp.A/OUTPUT 10.0.0.5 104 BOX PACS")
    routelog.write(log, "DELIVERY: delivery 1 -- delivered\nwith a newline")
    lines = log.read_text().splitlines()
    assert len(lines) == 4
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line) for line in lines)
    shown = routelog.render(log)
    assert [line[19:] for line in shown] == [
        " delivered with a newline",
        " /d/scratch/tmp.A/OUTPUT 10.0.0.5 104 BOX PACS",
        ' /d/scratch/tmp.A "ProcX" "CT1"',
    ]
    assert routelog.render(tmp_path / "missing.log") == []


def test_a_big_log_is_rotated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routelog, "MAX_BYTES", 200)
    log = tmp_path / "routing.log"
    for number in range(20):
        routelog.write(log, f"ROUTE: delivery {number} -- x")
    assert (tmp_path / "routing.log.1").exists()
    assert log.stat().st_size <= 200 + 60
    assert routelog.render(log)[0].endswith(" x")
