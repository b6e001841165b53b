"""SIGHUP makes `magickbox serve` reopen its log file, as logrotate expects; the box keeps running."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.box import BoxProcess
from tests.support.net import wait_until


def test_sighup_reopens_the_log_after_it_was_moved(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    box = box_factory(data=tmp_path / "data", stages="http").start(wait_dicom=False)
    log = tmp_path / "data" / "logs" / "magickbox.log"
    wait_until(log.exists, timeout=10)
    log.rename(log.with_name("magickbox.log.1"))
    assert box.proc is not None
    box.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log.exists() and "log files reopened" in log.read_text(), timeout=10, what="new log")
    assert box.get_json("/healthz")["status"] == "ok"
    assert "MagickBox" in log.with_name("magickbox.log.1").read_text()
