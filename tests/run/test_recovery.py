"""Crash recovery with a real `magickbox serve`: kill -9 mid-run, restart, the job runs again."""

from __future__ import annotations

from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Store
from tests.run.conftest import new_session, pid_alive, wait_state
from tests.support.box import BoxProcess
from tests.support.net import wait_until

# First attempt: note its pid and hang (the box gets killed meanwhile). Later attempts: copy.
SCRIPT = """#!/bin/sh
if [ ! -e "$MB_MEMORY/first-pid" ]; then
    echo $$ > "$MB_MEMORY/first-pid"
    echo "attempt one hangs"
    sleep 120
fi
echo "attempt two copies"
cp -R "$1/." "$2/"
"""


def test_kill_9_mid_run_then_restart_runs_the_job_again(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    data = tmp_path / "data"
    box = box_factory(data=data)
    bucket = box.add_bucket("Crashy", {"name": "Crashy", "AETitle": "Crashy", "enabled": 1}, SCRIPT)
    store = Store(load_settings(data=str(data)))
    box.start(wait_dicom=False)
    session = new_session(store, "Crashy", count=2)
    first_pid = bucket / "memory" / "first-pid"
    wait_until(lambda: first_pid.exists() and first_pid.read_text().strip() != "", what="first attempt")
    assert store.sessions.get(session.id).state == "running"
    box.kill()
    orphan = int(first_pid.read_text())
    assert pid_alive(orphan), "a bucket runs in its own session and outlives a killed box"

    box.start(wait_dicom=False)
    ended = wait_state(store, session, "finished", timeout=60)
    assert not pid_alive(orphan), "the restart stops what the dead box left running"
    jobs = store.jobs.for_session(session.id)
    assert len(jobs) == 1 and jobs[0].attempts == 2 and jobs[0].state == "done"
    history = [(row["state"], row["detail"]) for row in store.sessions.history(session.id)]
    assert [state for state, _ in history] == [
        "receiving",
        "queued",
        "running",
        "queued",
        "running",
        "finished",
    ]
    assert "interrupted" in history[3][1]
    assert len(list(store.layout.output_dir(session.scratchdir).iterdir())) == 2
    log = store.layout.log_path(session.scratchdir).read_text()
    assert "attempt one hangs" in log and "attempt two copies" in log
    assert ended.started_at is not None and ended.ended_at is not None
    store.db.close()


def test_a_job_interrupted_too_often_fails_with_the_reason(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    data = tmp_path / "data"
    box = box_factory(data=data, env={"MAGICKBOX_MAX_ATTEMPTS": "1"})
    box.add_bucket("Hangs", {"name": "Hangs", "AETitle": "Hangs", "enabled": 1}, "#!/bin/sh\nsleep 120\n")
    store = Store(load_settings(data=str(data)))
    box.start(wait_dicom=False)
    session = new_session(store, "Hangs")
    wait_state(store, session, "running")
    box.kill()
    box.start(wait_dicom=False)
    failed = wait_state(store, session, "failed", timeout=60)
    assert "gave up after 1 attempt(s)" in failed.reason
    store.db.close()
