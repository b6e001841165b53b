"""Container buckets on real engines (podman with runc, a private dockerd), images built here.

What only a real engine shows: `/input` is read-only, PID 1 is an init (`--init`), files in
OUTPUT belong to the user the container ran as, and a bucket can write `/proc.json` and
`/measures/*.json` from inside. Exit codes and cancel are in test_executor_contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from magickbox.run.scheduler import Scheduler
from magickbox.store import Store
from tests.run.conftest import make_bucket, new_session, wait_state

INSIDE = r"""
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
if touch /input/probe 2>/dev/null; then echo "input writable"; else echo "input read-only"; fi
echo "uid=$(id -u)"
echo '[{"success": "partial", "message": "written in the container"}]' > /proc.json
echo '{"dice": 0.91}' > /measures/quality.json
echo result > "$1/result.txt"
"""


@pytest.fixture(params=["podman", "docker"])
def engine_info(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if request.param == "podman":
        podman = request.getfixturevalue("podman")
        for key, value in podman.env().items():
            monkeypatch.setenv(key, value)
        image = request.getfixturevalue("podman_image")
        return {"image": image, "runtime": "podman", "runtime_args": podman.global_args}
    dockerd = request.getfixturevalue("dockerd")
    for key, value in dockerd.env().items():
        monkeypatch.setenv(key, value)
    return {"image": request.getfixturevalue("docker_image"), "runtime": "docker"}


def test_a_real_container_sees_the_mounts_and_writes_proc_json_and_measures(
    engine_info: dict[str, Any],
    streams: Any,
    run_store: Store,
    start_scheduler: Callable[..., Scheduler],
) -> None:
    make_bucket(
        streams, "Inside", None, container=engine_info, command=["/bin/sh", "-c", INSIDE], slurm=False
    )
    start_scheduler()
    session = new_session(run_store, "Inside")
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    layout = run_store.layout
    log = layout.log_path(session.scratchdir).read_text()
    assert done.state == "finished", log
    said = {k: v for k, _, v in (line.partition("=") for line in log.splitlines() if "=" in line)}
    assert "input read-only" in log.splitlines()
    assert "init" in said["pid1"].split()[0]  # --init: PID 1 is podman-init / docker-init
    result = layout.output_dir(session.scratchdir) / "result.txt"
    uid_inside = int(said["uid"])
    assert result.read_text() == "result\n" and result.stat().st_uid == uid_inside
    assert uid_inside == os.getuid()  # tested as root only: a rootful engine writes as root
    proc = json.loads(layout.proc_path(session.scratchdir).read_text())
    assert proc == [{"success": "partial", "message": "written in the container"}]  # the bucket's word wins
    measures = layout.session_dir(session.scratchdir) / "measures" / "quality.json"
    assert json.loads(measures.read_text()) == {"dice": 0.91}
    assert not (layout.input_dir(session.scratchdir) / "probe").exists()
