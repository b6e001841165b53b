from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from magickbox.app import create_app
from magickbox.config import Settings, load_settings
from magickbox.store import Store
from tests.support import orthanc as orthanc_support
from tests.support.box import BoxProcess
from tests.support.orthanc import Orthanc


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data=str(tmp_path / "data"))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings)
    yield store
    store.db.close()


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app in this process (no stages) over the `store` fixture (as `localhost`: the box
    answers only to host names it knows, and TestClient's default `testserver` is not one)."""
    with TestClient(create_app(settings, store), base_url="http://localhost") as client:
        yield client


@pytest.fixture
def box_factory(tmp_path: Path) -> Iterator[type[BoxProcess]]:
    """Start real boxes with `box_factory(data=...)`; every box is stopped at the end of the test."""
    started: list[BoxProcess] = []

    class _Box(BoxProcess):
        def start(self, wait_dicom: bool = True) -> BoxProcess:
            started.append(self)
            return super().start(wait_dicom)

    yield _Box
    for box in started:
        box.stop()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the run (for each xdist worker that runs its group, so one in all): tests
    register the modalities they need and remove the studies they upload."""
    reason = orthanc_support.missing()
    if reason:
        pytest.skip(reason)
    pacs = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    yield pacs
    pacs.stop()


# Fixtures that start real processes (a box, dcmtk peers, Chromium, a scheduler running buckets):
# tests using them are `slow`; the rest form the quick loop (`scripts/check --quick`).
SLOW_FIXTURES = frozenset(
    {"box_factory", "served", "fleet", "sender", "storescp", "scp", "peers", "browser", "page", "box",
     "start_scheduler", "shipped", "send_files_unchanged", "slurm_cluster", "slurm_env", "podman",
     "dockerd", "busybox_tar", "podman_image", "docker_image", "orthanc", "pacs"}
)  # fmt: skip


# A heavy peer started once per run (session fixtures): every test that uses it goes to the same
# xdist worker (`--dist loadgroup`, scripts/check), so the run starts it once, and tests that
# restart or fill it (slurmctld restarts, container clean-ups) never race a second worker.
# Order matters: a test that needs two (Slurm running podman) joins the first one's group.
SHARED_PEERS = (
    ("slurm", ("slurm_cluster", "slurm_env")),
    ("dockerd", ("dockerd", "docker_image")),
    ("podman", ("podman", "podman_image")),
    ("orthanc", ("orthanc", "pacs")),
)


def shared_peer(item: pytest.Item) -> str | None:
    """The xdist group of the shared peer `item` uses: by fixture name, or by a parameter that
    picks an engine (the executor contract suite takes its engine with `getfixturevalue`)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    params = " ".join(str(v) for v in callspec.params.values()) if callspec is not None else ""
    for group, names in SHARED_PEERS:
        if fixtures & set(names) or group.removesuffix("d") in params:
            return group
    return None


def module_fixture_group(item: pytest.Item) -> str | None:
    """A module's own group when `item` uses a module-scoped fixture (a box started for the
    module): its tests then stay in one worker, which starts that fixture once, not once each."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    if any(defs and defs[-1].scope == "module" for defs in definitions):
        return "module:" + item.nodeid.split("::")[0]
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)
        group = shared_peer(item) or module_fixture_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
