"""One contract, every executor: a command on the box, podman, docker, a Slurm job, podman in a Slurm job.

Each case runs the same bucket (CONTRACT_SCRIPT: copies INPUT to OUTPUT, writes its MB_*
environment and arguments, fails or sleeps on request) through the real scheduler and a real
engine, and checks what a user sees: the session's state, OUTPUT, processing.log, proc.json,
the job's exit code, and that a cancel leaves nothing running.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from magickbox.run.orphans import processes_of_session
from magickbox.run.scheduler import Scheduler
from magickbox.store import Session, Store
from tests.run.conftest import CONTRACT_SCRIPT, make_bucket, new_session, wait_state
from tests.support.net import wait_until


@dataclass
class Case:
    name: str
    info: dict[str, Any]  # the bucket's info.json fields that select the executor
    inside: bool  # runs in a container: paths are /input, /output
    slurm: bool  # runs as a Slurm job
    leftovers: Callable[[Path], list[str]]  # what runs for a session folder (pids, job ids, containers)


@pytest.fixture(params=["local", "podman", "docker", "slurm", "slurm+podman"])
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Case:
    name: str = request.param
    info: dict[str, Any] = {"slurm": False}
    leftovers: list[Callable[[], list[str]]] = []
    folder: list[Path] = []
    if name in ("local", "slurm"):  # the bucket's own processes, on this host
        leftovers.append(lambda: [str(pid) for pid in processes_of_session(folder[0])])
    if name.startswith("slurm"):
        cluster = request.getfixturevalue("slurm_env")
        info = {"slurm": {}}
        leftovers.append(cluster.queue)
    if name.endswith("podman"):
        podman = request.getfixturevalue("podman")
        image = request.getfixturevalue("podman_image")
        for key, value in podman.env().items():
            monkeypatch.setenv(key, value)
        info["container"] = {"image": image, "runtime": "podman", "runtime_args": podman.global_args}
        leftovers.append(podman.containers)
    if name == "docker":
        dockerd = request.getfixturevalue("dockerd")
        image = request.getfixturevalue("docker_image")
        for key, value in dockerd.env().items():
            monkeypatch.setenv(key, value)
        info["container"] = {"image": image, "runtime": "docker"}
        leftovers.append(dockerd.containers)

    def still_running(session_dir: Path) -> list[str]:
        folder[:] = [session_dir]
        return [item for probe in leftovers for item in probe()]

    return Case(name, info, "container" in info, name.startswith("slurm"), still_running)


@pytest.fixture
def run_case(
    case: Case, streams: Path, run_store: Store, start_scheduler: Callable[..., Scheduler]
) -> Callable[[str], Session]:
    make_bucket(streams, "Contract", CONTRACT_SCRIPT, **case.info)
    start_scheduler(slurm_poll_s=0.3)

    def run(arguments: str) -> Session:
        return new_session(run_store, "Contract", count=2, arguments=arguments)

    return run


def _env(output: Path) -> dict[str, str]:
    lines = (output / "env.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_a_run_gets_the_contract_and_finishes(
    case: Case, run_case: Callable[[str], Session], run_store: Store
) -> None:
    session = run_case("")
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    layout = run_store.layout
    log = layout.log_path(session.scratchdir).read_text()
    assert done.state == "finished", log
    output = layout.output_dir(session.scratchdir)
    inputs = sorted(p.name for p in layout.input_dir(session.scratchdir).iterdir())
    assert inputs and all((output / name).is_file() for name in inputs)
    env = _env(output)
    expected_in = "/input" if case.inside else str(layout.input_dir(session.scratchdir).resolve())
    expected_out = "/output" if case.inside else str(output.resolve())
    assert env["MB_INPUT"] == expected_in and env["MB_OUTPUT"] == expected_out
    assert env["MB_AETITLE_CALLER"] == "TESTER" and env["MB_BUCKET"] == "Contract"
    assert (output / "args.txt").read_text().split() == [expected_in, expected_out]
    assert "hello from Contract" in log
    proc = json.loads(layout.proc_path(session.scratchdir).read_text())
    assert proc[0]["success"] == "success"
    job = run_store.jobs.for_session(session.id)[-1]
    assert job.exit_code == 0
    if case.slurm:
        assert job.executor == "slurm" and job.slurm_job_id
        assert job.slurm_state == "COMPLETED"
        if not case.inside:  # a container sees only MB_* variables
            assert (output / "slurm_job_id.txt").read_text().strip() == job.slurm_job_id


def test_a_failing_run_fails_the_session_with_its_exit_code(
    case: Case, run_case: Callable[[str], Session], run_store: Store
) -> None:
    session = run_case("fail")
    done = wait_state(run_store, session, "finished", "failed", timeout=60)
    assert done.state == "failed"
    assert "exit code 3" in done.reason
    if case.slurm:
        assert "FAILED" in done.reason  # Slurm's own state is named
    assert run_store.jobs.for_session(session.id)[-1].exit_code == 3
    assert "failing on purpose" in run_store.layout.log_path(session.scratchdir).read_text()
    proc = json.loads(run_store.layout.proc_path(session.scratchdir).read_text())
    assert proc[0]["success"] == "failed"


def test_cancel_stops_the_run_and_leaves_nothing_running(
    case: Case, run_case: Callable[[str], Session], run_store: Store
) -> None:
    session = run_case("slow")
    log_path = run_store.layout.log_path(session.scratchdir)
    wait_until(
        lambda: log_path.exists() and "sleeping" in log_path.read_text(), timeout=60, what="the run to start"
    )
    folder = run_store.layout.session_dir(session.scratchdir)
    assert case.leftovers(folder), "the run should be visible to its engine while it runs"
    assert run_store.jobs.request_cancel(session.id)
    done = wait_state(run_store, session, "cancelled", "failed", "finished", timeout=60)
    assert done.state == "cancelled", done.reason
    wait_until(lambda: case.leftovers(folder) == [], timeout=30, what=f"{case.name} to have nothing left")
