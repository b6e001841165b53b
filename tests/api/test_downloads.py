"""One download module for /api/v1 and the original's endpoints: the same bytes and headers from
both, the session looked up once per download, one audit line each."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from magickbox.store import Store
from magickbox.store.audit import AuditFilter
from magickbox.store.sessions import Session
from tests.support.sessions import make_session


def _session_with_files(store: Store) -> Session:
    session = make_session(store)
    folder = store.layout.session_dir(session.scratchdir)
    (folder / "INPUT" / "img0001.dcm").write_bytes(b"\0" * 128 + b"DICM")
    (folder / "OUTPUT" / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "OUTPUT" / "sub" / "b.txt").write_bytes(b"beta")
    (folder / "processing.log").write_text("line one\nline two\n")
    return session


def _count_lookups(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original: Callable[[str], Session] = store.sessions.by_scratchdir

    def counting(scratchdir: str) -> Session:
        seen.append(scratchdir)
        return original(scratchdir)

    monkeypatch.setattr(store.sessions, "by_scratchdir", counting)
    return seen


ZIPS = [
    ("/code/php/getOutputZip.php?folder={s}", "OUTPUT"),
    ("/code/php/getOutputZip.php?folder={s}&type=input", "INPUT"),
    ("/api/v1/sessions/{s}/output.zip", "OUTPUT"),
    ("/api/v1/sessions/{s}/input.zip", "INPUT"),
]


@pytest.mark.parametrize(("path", "area"), ZIPS)
def test_a_zip_download_reads_its_session_once_and_keeps_the_original_shape(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch, path: str, area: str
) -> None:
    session = _session_with_files(store)
    lookups = _count_lookups(store, monkeypatch)
    response = client.get(path.format(s=session.scratchdir))
    assert response.status_code == 200
    assert lookups == [session.scratchdir], "the session is looked up once, then passed down"
    assert response.headers["content-disposition"] == f"attachment; filename={session.scratchdir}.zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    expected = "INPUT/img0001.dcm" if area == "INPUT" else "OUTPUT/sub/b.txt"
    assert names == [f"{session.scratchdir}/{expected}"]
    store.audit.flush()
    _, entries = store.audit.entries(AuditFilter(scratchdir=session.scratchdir))
    assert [(e.action, e.detail) for e in entries] == [("download-zip", area)]


@pytest.mark.parametrize("path", ["/scratch/{s}/processing.log", "/api/v1/sessions/{s}/log"])
def test_the_log_is_the_same_download_from_both_apis(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    session = _session_with_files(store)
    lookups = _count_lookups(store, monkeypatch)
    response = client.get(path.format(s=session.scratchdir))
    assert response.status_code == 200
    assert response.text == "line one\nline two\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert lookups == [session.scratchdir]
    _, entries = store.audit.entries(AuditFilter(scratchdir=session.scratchdir))
    assert [(e.action, e.detail) for e in entries] == [("download-file", "processing.log")]
