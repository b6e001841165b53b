"""Container buckets: the argv for each runtime, and the runner's path with an executable named
`docker` that records its argv. Real podman and docker runs are in test_container_engines and
test_executor_contract."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from magickbox.run.container import container_argv, container_name, inside_env, stop_argv
from magickbox.run.scheduler import Scheduler
from magickbox.store import Store
from tests.run.conftest import make_bucket, new_session, wait_state
from tests.support.net import wait_until

MOUNTS = {"input_dir": Path("/d/in"), "output_dir": Path("/d/out"), "memory_dir": Path("/d/mem")}

FAKE_RUNTIME = """#!{python}
# A stand-in for a container engine: records argv, then acts like an image that copies /input to /output.
import json, shutil, sys, time
from pathlib import Path
args = sys.argv[1:]
with open({record!r}, "a") as out:
    out.write(json.dumps(args) + "\\n")
if args[0] != "run":
    sys.exit(0)
mounts = {{}}
for flag, value in zip(args, args[1:]):
    if flag == "-v":
        host, inside = value.split(":")[:2]
        mounts[inside] = host
image = next(a for a in args if a.startswith("example/"))
print("fake engine running", image, flush=True)
if image == "example/slow":
    time.sleep(60)
shutil.copytree(mounts["/input"], mounts["/output"], dirs_exist_ok=True)
"""


def test_docker_and_podman_argv() -> None:
    env = {"MB_AETITLE_CALLER": "ME"}
    argv = container_argv("podman", "img:1", env=env, name="n1", **MOUNTS)
    assert argv[:4] == ["podman", "run", "--rm", "--init"]
    assert argv[4:6] == ["--name", "n1"]
    assert "/d/in:/input:ro" in argv and "/d/out:/output" in argv and "/d/mem:/memory" in argv
    assert argv[argv.index("-e") + 1] == "MB_AETITLE_CALLER=ME"
    assert argv[-4:] == ["img:1", "/root/work.sh", "/input", "/output"]
    assert stop_argv("podman", "n1") == ["podman", "rm", "-f", "n1"]


def test_apptainer_argv() -> None:
    argv = container_argv("apptainer", "/images/x.sif", env={"A": "1"}, command=["run.sh"], **MOUNTS)
    assert argv[:2] == ["apptainer", "exec"]
    assert "/d/in:/input:ro" in argv and argv[argv.index("--env") + 1] == "A=1"
    assert argv[-4:] == ["/images/x.sif", "run.sh", "/input", "/output"]
    assert stop_argv("apptainer", "x") is None


def test_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown container runtime"):
        container_argv("lxc", "img", env={}, **MOUNTS)


def test_inside_env_points_at_mounts() -> None:
    env = inside_env({"MB_INPUT": "/host/in", "MB_ARGUMENTS": "x", "MB_PYTHON": "/usr/bin/python3"})
    assert env["MB_INPUT"] == "/input" and env["MB_MEMORY"] == "/memory" and env["MB_ARGUMENTS"] == "x"
    assert "MB_PYTHON" not in env
    assert container_name("tmp.AbCdEfGhIj", 7) == "magickbox-tmp-AbCdEfGhIj-7"


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "docker-calls.jsonl"
    script = bin_dir / "docker"
    script.write_text(FAKE_RUNTIME.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return record


def test_container_bucket_runs_through_the_runtime(
    run_store: Store, streams: Path, start_scheduler: Callable[..., Scheduler], fake_docker: Path
) -> None:
    make_bucket(streams, "Boxed", container={"image": "example/copy:1", "runtime": "docker"})
    session = new_session(run_store, "Boxed", count=2)
    start_scheduler()
    wait_state(run_store, session, "finished")
    outputs = list(run_store.layout.output_dir(session.scratchdir).iterdir())
    assert len(outputs) == 2
    argv = json.loads(fake_docker.read_text().splitlines()[0])
    folder = run_store.layout.session_dir(session.scratchdir)
    assert f"{folder / 'INPUT'}:/input:ro" in argv
    assert f"{streams / 'Boxed' / 'memory'}:/memory" in argv
    assert argv[-3:] == ["/root/work.sh", "/input", "/output"]
    assert "fake engine running example/copy:1" in run_store.layout.log_path(session.scratchdir).read_text()


def test_cancelling_a_container_run_removes_the_container(
    run_store: Store, streams: Path, start_scheduler: Callable[..., Scheduler], fake_docker: Path
) -> None:
    make_bucket(streams, "SlowBox", container={"image": "example/slow", "runtime": "docker"})
    session = new_session(run_store, "SlowBox")
    start_scheduler()
    wait_state(run_store, session, "running")
    log = run_store.layout.log_path(session.scratchdir)
    wait_until(lambda: log.exists() and "fake engine running" in log.read_text(), what="container started")
    run_store.jobs.request_cancel(session.id)
    wait_state(run_store, session, "cancelled")
    calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    name = calls[0][calls[0].index("--name") + 1]
    assert ["rm", "-f", name] in calls


def test_recovery_removes_the_container_a_dead_box_left(
    run_store: Store, streams: Path, start_scheduler: Callable[..., Scheduler], fake_docker: Path
) -> None:
    make_bucket(streams, "Boxed", container={"image": "example/copy:1", "runtime": "docker"})
    session = new_session(run_store, "Boxed")
    dead = subprocess.Popen(["true"])
    dead.wait()
    job = run_store.jobs.claim(f"{socket.gethostname()}:{dead.pid}:gone", 600, {"Boxed": 1}, 1)
    assert job is not None
    start_scheduler()
    wait_state(run_store, session, "finished")
    calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    assert calls[0] == ["rm", "-f", container_name(session.scratchdir, job.id)]
    assert run_store.jobs.for_session(session.id)[0].attempts == 2
