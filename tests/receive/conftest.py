from __future__ import annotations

import pytest
from pynetdicom import _config


@pytest.fixture(autouse=True)
def send_files_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """pynetdicom's SCU then sends a file's data set bytes as they are (no re-encoding)."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
