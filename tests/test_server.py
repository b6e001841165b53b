from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess
from tests.support.dicomdata import EXPLICIT_LE, write_study
from tests.support.net import wait_until


def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "data").start(wait_dicom=False)
    health = httpx.get(box.url + "/healthz").json()
    assert health["status"] == "ok" and health["ae_title"] == "MAGICKBOX"
    assert box.stop(signal.SIGTERM) == 0
    assert (tmp_path / "data" / "magickbox.db").exists()
    assert "stopped" in (tmp_path / "data" / "logs" / "magickbox.log").read_text()


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stages_in_separate_processes_share_one_data_folder(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    """`--stages receive` takes the study; a second process with `run,route,http` processes it."""
    data = tmp_path / "data"
    edge = box_factory(data=data, stages="run,route,http").start(wait_dicom=False)
    assert not _listens(edge.dicom_port), "a process without `receive` must not take DICOM"
    receiver = box_factory(data=data, stages="receive").start()
    study_uid, _ = write_study(tmp_path / "send", 3, source=EXPLICIT_LE)
    receiver.storescu(tmp_path / "send")
    store = Store(load_settings(data=str(data)))
    try:
        wait_until(
            lambda: any(s.state == "finished" and s.study_uid == study_uid for s in store.sessions.all()),
            timeout=60,
            what="the session received by one process and processed by the other",
        )
        session = next(s for s in store.sessions.all() if s.study_uid == study_uid)
        assert len(list(store.layout.output_dir(session.scratchdir).iterdir())) == 3
        listed = httpx.get(edge.url + "/code/php/getScratch.php").json()
        assert session.scratchdir in [entry["scratchdir"] for entry in listed]
    finally:
        store.db.close()
    assert receiver.stop() == 0 and edge.stop() == 0
