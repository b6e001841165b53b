"""Fixtures for the run stage: a store with buckets, sealed sessions, an in-process scheduler."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from magickbox.config import Settings, load_settings
from magickbox.run.scheduler import Scheduler
from magickbox.store import Session, SessionKey, Store
from tests.support import containers
from tests.support.containers import Dockerd, Podman
from tests.support.dicomdata import write_study
from tests.support.net import wait_until
from tests.support.slurm import SlurmCluster, missing_binaries


def make_bucket(streams: Path, folder: str, script: str | None = None, **info: Any) -> Path:
    """Write `streams/<folder>/` with info.json (AETitle = folder, enabled) and a work.sh."""
    bucket = streams / folder
    bucket.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {"name": folder, "AETitle": folder[:16], "enabled": 1, **info}
    (bucket / "info.json").write_text(json.dumps(fields))
    if script is not None:
        work = bucket / "work.sh"
        work.write_text("#!/bin/sh\n" + script)
        work.chmod(0o755)
    return bucket


def new_session(store: Store, bucket: str, count: int = 1, arguments: str = "", seal: bool = True) -> Session:
    """An upload session for `bucket` with `count` DICOM files in INPUT, sealed (so queued)."""
    key = SessionKey("TESTER", bucket, "127.0.0.1", None)
    session = store.sessions.create_upload(key, bucket, "test", arguments, "")
    write_study(store.layout.input_dir(session.scratchdir), count)
    if seal:
        store.sessions.seal(session.id)
    return store.sessions.get(session.id)


def state_of(store: Store, session: Session) -> str:
    return store.sessions.get(session.id).state


def wait_state(store: Store, session: Session, *states: str, timeout: float = 30) -> Session:
    wait_until(lambda: state_of(store, session) in states, timeout=timeout, what=f"session in {states}")
    return store.sessions.get(session.id)


def pid_alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that does not reap (PID 1 in containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def run_settings(tmp_path: Path) -> Settings:
    return load_settings(data=str(tmp_path / "data"), max_workers=4, lease_s=5.0)


@pytest.fixture
def run_store(run_settings: Settings) -> Iterator[Store]:
    store = Store(run_settings)
    # A marker so the scheduler does not install the shipped buckets into these tests' streams.
    (run_settings.streams_dir / ".shipped-installed").write_text("")
    yield store
    store.db.close()


@pytest.fixture
def start_scheduler(run_store: Store) -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def start(**overrides: Any) -> Scheduler:
        settings = run_store.settings.model_copy(update=overrides) if overrides else run_store.settings
        scheduler = Scheduler(settings, run_store)
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.stop()


@pytest.fixture
def streams(run_settings: Settings) -> Path:
    return run_settings.streams_dir


def gate(bucket: Path) -> str:
    """Shell lines that wait until the test creates `<bucket>/memory/go` (an observable pause)."""
    path = bucket / "memory" / "go"
    return f'while [ ! -e "{path}" ]; do sleep 0.02; done\n'


def open_gate(bucket: Path) -> None:
    (bucket / "memory").mkdir(exist_ok=True)
    (bucket / "memory" / "go").write_text("")


# ---- real engines: a single-node Slurm cluster, podman, a private dockerd (shared per test run) ----

# What every engine test bucket does: the contract a run gets, written into OUTPUT for the test.
CONTRACT_SCRIPT = """\
echo "hello from $MB_BUCKET (Slurm job ${SLURM_JOB_ID:-none})"
cp -r "$1"/. "$2"/
env | grep '^MB_' | sort > "$2/env.txt"
echo "${SLURM_JOB_ID:-}" > "$2/slurm_job_id.txt"
echo "$1" "$2" > "$2/args.txt"
case "$MB_ARGUMENTS" in
  fail) echo "failing on purpose"; exit 3 ;;
  slow) echo "sleeping"; sleep 120 ;;
esac
"""


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Slurm not installed ({', '.join(missing)} missing; scripts/install-test-deps)")
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons with SlurmUser=root: run the tests as root")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm_env(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """The cluster, with SLURM_CONF exported to the box under test (as a Slurm user would)."""
    for key, value in slurm_cluster.env().items():
        monkeypatch.setenv(key, value)
    return slurm_cluster


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    if os.geteuid() != 0:
        pytest.skip("the podman set-up here is rootful (runc, cgroupfs): run the tests as root")
    lacking = containers.missing("podman", "runc", "catatonit")
    if lacking or not containers.BUSYBOX.exists():
        pytest.skip(
            f"podman not installed ({', '.join(lacking) or 'busybox-static'}; scripts/install-test-deps)"
        )
    return Podman(tmp_path_factory.mktemp("podman")).setup()


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not containers.BUSYBOX.exists():
        pytest.skip("busybox-static not installed (scripts/install-test-deps)")
    script = "#!/bin/sh\n" + CONTRACT_SCRIPT
    return containers.busybox_rootfs_tar(tmp_path_factory.mktemp("image"), {"/root/work.sh": script})


@pytest.fixture(scope="session")
def podman_image(podman: Podman, busybox_tar: Path) -> str:
    return podman.import_image(busybox_tar, "localhost/mb-contract:1")


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    lacking = containers.missing("docker", "dockerd")
    if lacking:
        pytest.skip(f"docker not installed ({', '.join(lacking)}; scripts/install-test-deps)")
    daemon = Dockerd(tmp_path_factory.mktemp("docker")).start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def docker_image(dockerd: Dockerd, busybox_tar: Path) -> str:
    return dockerd.import_image(busybox_tar, "mb-contract:1")
