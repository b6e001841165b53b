"""Receive workers: several processes share the DICOM port, one study stays one session, a killed
worker's send ends `incomplete` while the box goes on receiving."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

from tests.receive.helpers import (
    all_settled,
    assert_identical,
    context_of,
    input_files,
    make_box,
    normalise_like_storescu,
    pynetdicom_association,
    sealed,
    sessions,
    storescu_seed,
)
from tests.support import dicomdata
from tests.support.net import wait_until


def feeding_workers(log: str, scratchdir: str) -> set[str]:
    """The workers (by log tag) whose associations fed `scratchdir`."""
    return set(re.findall(rf"\[(receive-\d+)\]: association \S+ feeds session {scratchdir}", log))


def test_a_study_over_associations_on_two_workers_is_one_session(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, settle_s=1.0, env={"MAGICKBOX_RECEIVE_WORKERS": "2"}).start()
    wait_until(lambda: len(box.receive_workers()) == 2, timeout=30, what="two receive workers")
    study_uid, first = dicomdata.write_study(tmp_path / "a", 3)
    _, second = dicomdata.write_study(tmp_path / "b", 3, study_uid=study_uid)
    context = context_of(first[0])

    # Both associations are open at once: the acceptor gives the second to the idle worker.
    one, two = pynetdicom_association(box, [context]), pynetdicom_association(box, [context])
    for assoc, files in ((one, first), (two, second)):
        for path in files:
            assert assoc.send_c_store(path).Status == 0
    one.release()
    two.release()

    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert len(input_files(box, session)) == 6
    log = box.server_log(limit=200_000)
    assert feeding_workers(log, session["scratchdir"]) == {"receive-0", "receive-1"}


def test_kill_9_of_a_worker_ends_its_send_incomplete_and_the_box_receives_on(
    box_factory: Any, tmp_path: Path
) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_RECEIVE_WORKERS": "2"}).start()
    wait_until(lambda: len(box.receive_workers()) == 2, timeout=30, what="two receive workers")
    _, files = dicomdata.write_study(tmp_path / "cut", 4)
    assoc = pynetdicom_association(box, [context_of(files[0])])
    for path in files[:2]:
        assert assoc.send_c_store(path).Status == 0
    [session] = sessions(box)
    [worker] = feeding_workers(box.server_log(limit=200_000), session["scratchdir"])
    slot = int(worker.split("-")[1])
    old_pid = box.receive_workers()[slot]

    os.kill(old_pid, signal.SIGKILL)

    wait_until(lambda: not assoc.is_established, timeout=20, what="the sender to see the connection go")
    wait_until(lambda: sessions(box)[0]["state"] == "incomplete", timeout=20, what="the send incomplete")
    assert "receive worker" in sessions(box)[0]["reason"]
    restarted = lambda: box.receive_workers().get(slot) not in (None, old_pid)  # noqa: E731
    wait_until(restarted, timeout=30, what="the worker started again")
    study_uid, again = dicomdata.write_study(tmp_path / "again", 3)
    normalise_like_storescu(tmp_path / "again")
    assert storescu_seed(box, tmp_path / "again").returncode == 0
    wait_until(lambda: all_settled(box) and len(sessions(box)) == 2, timeout=30, what="the next send sealed")
    latest = sessions(box)[1]
    assert latest["pid"] == f"scp_{study_uid}" and sealed(box, latest)
    assert_identical(again, input_files(box, latest))
    assert "ended with signal SIGKILL" in box.server_log(limit=200_000)


def test_workers_die_with_the_box_and_a_restart_recovers(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_RECEIVE_WORKERS": "2"}).start()
    wait_until(lambda: len(box.receive_workers()) == 2, timeout=30, what="two receive workers")
    workers = box.receive_workers()
    _, files = dicomdata.write_study(tmp_path / "cut", 2)
    assoc = pynetdicom_association(box, [context_of(files[0])])
    assert assoc.send_c_store(files[0]).Status == 0

    box.kill()

    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers.values()), timeout=10,
               what="the workers to die with the serve process")  # fmt: skip
    box.start()
    assert sessions(box)[0]["state"] == "incomplete"
    _, again = dicomdata.write_study(tmp_path / "again", 2)
    normalise_like_storescu(tmp_path / "again")
    assert storescu_seed(box, tmp_path / "again").returncode == 0
    wait_until(lambda: all_settled(box) and len(sessions(box)) == 2, timeout=30, what="the next send sealed")
    assert_identical(again, input_files(box, sessions(box)[1]))


def test_receive_workers_0_receives_in_the_serve_process(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_RECEIVE_WORKERS": "0"}).start()
    _, files = dicomdata.write_study(tmp_path / "send", 3)
    normalise_like_storescu(tmp_path / "send")

    assert storescu_seed(box, tmp_path / "send").returncode == 0

    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    assert box.receive_workers() == {}
    [session] = sessions(box)
    assert_identical(files, input_files(box, session))
    assert "[receive-" not in box.server_log(limit=200_000)
