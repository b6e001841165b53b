from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from magickbox.api.app import create_app
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
