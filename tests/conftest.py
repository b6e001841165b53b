from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from magickbox.app import create_app
from magickbox.config import Settings, load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess


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


# Fixtures that start real processes (a box, dcmtk peers, Chromium, a scheduler running buckets):
# tests using them are `slow`; the rest form the quick loop (`scripts/check --quick`).
SLOW_FIXTURES = frozenset(
    {"box_factory", "served", "fleet", "sender", "storescp", "scp", "peers", "browser", "page", "box",
     "start_scheduler", "shipped", "send_files_unchanged", "slurm_cluster", "slurm_env", "podman",
     "dockerd", "busybox_tar", "podman_image", "docker_image"}
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)
