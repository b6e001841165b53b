from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.box import BoxProcess


def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "data").start(wait_dicom=False)
    health = httpx.get(box.url + "/healthz").json()
    assert health["status"] == "ok" and health["ae_title"] == "MAGICKBOX"
    assert box.stop(signal.SIGTERM) == 0
    assert (tmp_path / "data" / "magickbox.db").exists()
    assert "stopped" in (tmp_path / "data" / "logs" / "magickbox.log").read_text()
