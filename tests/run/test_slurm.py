"""Slurm buckets on a real single-node cluster: job ids, pending reasons, refusals, outages, restarts.

The cluster (tests/support/slurm.py) is slurmctld + slurmd + munged in a temp folder; the box
finds it through SLURM_CONF, as any Slurm user would.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from magickbox.config import load_settings
from magickbox.run.executor import launch_name
from magickbox.run.scheduler import Scheduler
from magickbox.run.slurm import SlurmClient, SlurmUnavailable
from magickbox.store import Job, Session, Store, load_catalog
from tests.run.conftest import CONTRACT_SCRIPT, gate, make_bucket, new_session, open_gate, wait_state
from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.slurm import SlurmCluster

pytestmark = pytest.mark.usefixtures("slurm_env")


def _log(store: Store, scratchdir: str) -> str:
    path = store.layout.log_path(scratchdir)
    return path.read_text() if path.exists() else ""


def test_three_sessions_are_three_slurm_jobs(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler]
) -> None:
    make_bucket(streams, "Three", CONTRACT_SCRIPT, slurm={}, concurrency=3)
    start_scheduler(slurm_poll_s=0.3)
    sessions = [new_session(run_store, "Three") for _ in range(3)]
    seen = set()
    for session in sessions:
        done = wait_state(run_store, session, "finished", "failed", timeout=60)
        assert done.state == "finished", _log(run_store, session.scratchdir)
        output = run_store.layout.output_dir(session.scratchdir)
        seen.add((output / "slurm_job_id.txt").read_text().strip())
        assert len(list(output.glob("img*.dcm"))) == 1
    assert len(seen) == 3 and all(job_id.isdigit() for job_id in seen)


def test_a_job_waiting_for_resources_shows_queued_with_slurms_reason(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler], slurm_env: SlurmCluster
) -> None:
    cpus = slurm_env.cpus
    make_bucket(streams, "Wide", CONTRACT_SCRIPT, slurm={"cpus": cpus}, concurrency=2)
    start_scheduler(slurm_poll_s=0.3)
    first, second = (new_session(run_store, "Wide", arguments="slow") for _ in range(2))

    found: list[tuple[Session, Job]] = []

    def one_pending() -> bool:
        for session in (first, second):
            job = run_store.jobs.for_session(session.id)[-1]
            if job.slurm_state == "PENDING" and job.slurm_reason not in ("", "None"):
                found.append((session, job))
                return True
        return False

    wait_until(one_pending, timeout=60, what="a job pending in Slurm with a reason")
    waiting, job = found[0]
    assert job.slurm_reason in ("Resources", "Priority")
    assert run_store.sessions.get(waiting.id).state == "queued"  # shown as queued, with the reason
    for session in (first, second):
        run_store.jobs.request_cancel(session.id)
    for session in (first, second):
        assert (
            wait_state(run_store, session, "cancelled", "failed", "finished", timeout=60).state == "cancelled"
        )
    wait_until(lambda: slurm_env.queue() == [], timeout=30, what="an empty squeue")


def test_a_job_slurm_refuses_fails_the_session_with_slurms_words(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler]
) -> None:
    make_bucket(streams, "Nowhere", CONTRACT_SCRIPT, slurm={"partition": "nope"})
    start_scheduler(slurm_poll_s=0.3)
    done = wait_state(run_store, new_session(run_store, "Nowhere"), "failed", "finished", timeout=30)
    assert done.state == "failed"
    assert "Slurm refused" in done.reason and "partition" in done.reason.lower()


def test_a_slurmctld_restart_during_a_job_does_not_fail_it(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler], slurm_env: SlurmCluster
) -> None:
    bucket = make_bucket(streams, "Outage", "echo started\n", slurm={})
    (bucket / "work.sh").write_text(f'#!/bin/sh\necho started\n{gate(bucket)}cp -r "$1"/. "$2"/\n')
    start_scheduler(slurm_poll_s=0.3, slurm_retry_max_s=1.0)
    session = new_session(run_store, "Outage")
    wait_until(lambda: "started" in _log(run_store, session.scratchdir), timeout=60, what="the job to run")
    wait_state(run_store, session, "running")  # the box has seen Slurm run it
    slurm_env.stop_ctld()
    try:
        wait_until(
            lambda: "Slurm did not answer" in _log(run_store, session.scratchdir),
            timeout=30,
            what="the box to notice the outage",
        )
        history = [(r["state"], r["detail"]) for r in run_store.sessions.history(session.id)]
        assert run_store.sessions.get(session.id).state == "running", history
        # squeue --json exits 0 with an empty list while slurmctld is down: that is no "not found".
        with pytest.raises(SlurmUnavailable):
            SlurmClient().find_by_name(f"magickbox-{session.scratchdir}-1.1")
    finally:
        slurm_env.start_ctld()
    open_gate(bucket)
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    assert done.state == "finished", _log(run_store, session.scratchdir)
    assert "Slurm answers again" in _log(run_store, session.scratchdir)


def test_a_clean_stop_leaves_the_slurm_job_running_and_the_next_scheduler_takes_it_over(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler], slurm_env: SlurmCluster
) -> None:
    bucket = make_bucket(streams, "Handover", "", slurm={})
    (bucket / "work.sh").write_text(f'#!/bin/sh\necho started\n{gate(bucket)}cp -r "$1"/. "$2"/\n')
    first = start_scheduler(slurm_poll_s=0.3)
    session = new_session(run_store, "Handover")
    wait_until(lambda: "started" in _log(run_store, session.scratchdir), timeout=60, what="the job to run")
    first.stop()
    (job_id,) = slurm_env.queue()  # still there: a stopping box does not cancel cluster work
    assert run_store.sessions.get(session.id).state in ("running", "queued")
    start_scheduler(slurm_poll_s=0.3)  # its lease runs out (lease_s 5), then it is taken over
    open_gate(bucket)
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    assert done.state == "finished", _log(run_store, session.scratchdir)
    job = run_store.jobs.for_session(session.id)[-1]
    assert job.slurm_job_id == job_id and job.attempts == 1
    assert f"re-attached to Slurm job {job_id}" in _log(run_store, session.scratchdir)


def test_a_job_submitted_just_before_a_crash_is_found_by_name_not_submitted_again(
    streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler], slurm_env: SlurmCluster
) -> None:
    """The window between sbatch returning and the id being stored: the dead box never stored it."""
    make_bucket(streams, "Window", CONTRACT_SCRIPT, slurm={})
    session = new_session(run_store, "Window")
    dead_owner = f"{os.uname().nodename}:{2**22 + 7}:gone"  # a pid that does not exist
    job = run_store.jobs.claim(dead_owner, 300, {"Window": 1}, 1)
    assert job is not None and run_store.jobs.slurm.set_executor(job.id, dead_owner, "slurm")
    name = launch_name(session.scratchdir, job.id, job.attempts)
    output = run_store.layout.output_dir(session.scratchdir)
    script = f'#!/bin/sh\ncp -r "{run_store.layout.input_dir(session.scratchdir)}"/. "{output}"/\n'
    done_sbatch = subprocess.run(
        ["sbatch", "--parsable", f"--job-name={name}", "--output=/dev/null"],
        input=script, capture_output=True, text=True, env={**os.environ, **slurm_env.env()}, check=True,
    )  # fmt: skip
    job_id = done_sbatch.stdout.strip()
    start_scheduler(slurm_poll_s=0.3)
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    assert done.state == "finished", _log(run_store, session.scratchdir)
    assert run_store.jobs.get(job.id).slurm_job_id == job_id  # type: ignore[union-attr]
    named = slurm_env.run("squeue", "-h", "--states=all", f"--name={name}", "-o", "%i").stdout.split()
    assert named == [job_id]
    assert f"re-attached to Slurm job {job_id}" in _log(run_store, session.scratchdir)


def test_a_slurm_bucket_without_the_slurm_client_is_named_and_not_run(
    streams: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bucket(streams, "NoClient", CONTRACT_SCRIPT, slurm={})
    make_bucket(streams, "Plain", CONTRACT_SCRIPT)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    catalog = load_catalog(streams, "local")
    assert [b.name for b in catalog.valid] == ["Plain"]
    (broken,) = catalog.invalid
    assert broken.name == "NoClient" and "sbatch" in broken.reason
    # The box-wide default makes every bucket that says nothing a Slurm bucket.
    assert load_catalog(streams, "slurm").valid == []


# ---- the whole box: kill -9 and restart, cancel through the HTTP API ---------------------------


def _box(tmp_path: Path, cluster: SlurmCluster) -> BoxProcess:
    env = {**cluster.env(), "MAGICKBOX_SLURM_POLL_S": "0.3", "MAGICKBOX_LEASE_S": "5"}
    return BoxProcess(tmp_path / "box", env=env)


def test_kill_9_of_the_box_while_its_job_runs_runs_the_job_exactly_once(
    tmp_path: Path, slurm_env: SlurmCluster
) -> None:
    box = _box(tmp_path, slurm_env)
    bucket = box.add_bucket("Once", {"name": "Once", "AETitle": "Once", "enabled": 1, "slurm": {}})
    (bucket / "work.sh").write_text(f'#!/bin/sh\necho started\n{gate(bucket)}cp -r "$1"/. "$2"/\n')
    (bucket / "work.sh").chmod(0o755)
    box.start(wait_dicom=False)
    store = Store(load_settings(data=str(box.data)))
    session = new_session(store, "Once")
    wait_until(lambda: "started" in _log(store, session.scratchdir), timeout=60, what="the job to run")
    detail = box.get_json(f"/api/v1/sessions/{session.scratchdir}")
    job_id = detail["job"]["slurm_job_id"]
    assert job_id and detail["job"]["executor"] == "slurm"
    box.kill()
    box.start(wait_dicom=False)
    open_gate(bucket)
    try:
        done = wait_state(store, session, "finished", "failed", timeout=60)
        assert done.state == "finished", _log(store, session.scratchdir) + box.server_log()
    finally:
        box.stop()
    name = f" Name=magickbox-{session.scratchdir}-"
    wait_until(lambda: any(name in line for line in slurm_env.completed_lines()), timeout=30, what="jobcomp")
    ended = [line for line in slurm_env.completed_lines() if name in line]
    assert len(ended) == 1 and "JobState=COMPLETED" in ended[0] and f"JobId={job_id} " in ended[0]
    assert len(list(store.layout.output_dir(session.scratchdir).glob("img*.dcm"))) == 1


def test_cancel_through_the_api_ends_the_slurm_job(tmp_path: Path, slurm_env: SlurmCluster) -> None:
    box = _box(tmp_path, slurm_env)
    box.add_bucket(
        "Cancel",
        {"name": "Cancel", "AETitle": "Cancel", "enabled": 1, "slurm": {}},
        "#!/bin/sh\n" + CONTRACT_SCRIPT,
    )
    box.start(wait_dicom=False)
    store = Store(load_settings(data=str(box.data)))
    try:
        session = new_session(store, "Cancel", arguments="slow")
        wait_until(lambda: "sleeping" in _log(store, session.scratchdir), timeout=60, what="the job to run")
        (job_id,) = slurm_env.queue()
        wait_state(store, session, "running")  # the box has seen Slurm run it
        page = httpx.get(f"{box.url}/ui/sessions/{session.scratchdir}", timeout=10)
        assert page.status_code == 200 and 'id="slurm-job"' in page.text and f"{job_id} RUNNING" in page.text
        response = httpx.post(f"{box.url}/api/v1/sessions/{session.scratchdir}/cancel", timeout=10)
        assert response.status_code in (200, 202), response.text
        assert wait_state(store, session, "cancelled", "failed", "finished", timeout=30).state == "cancelled"
        wait_until(lambda: slurm_env.queue() == [], timeout=30, what="an empty squeue")
    finally:
        box.stop()
