"""API tokens: open box without tokens; with tokens, scopes read < write < admin; the token CLI."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from magickbox.app import create_app
from magickbox.config import load_settings
from magickbox.store import Store
from tests.api.conftest import start_served


def token_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "magickbox.cli.magickbox", "token", "--data", str(data), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_tokens_guard_reads_and_writes(tmp_path: Path) -> None:
    served = start_served(tmp_path / "data")
    try:
        s = served.make_session()
        url = served.url
        assert httpx.get(url + "/code/php/getScratch.php").status_code == 200  # no token yet: open
        read = token_cli(served.box.data, "create", "--scope", "read", "--name", "reader")
        write = token_cli(served.box.data, "create", "--scope", "write")
        assert read.returncode == 0 and write.returncode == 0
        read_token, write_token = read.stdout.split()[0], write.stdout.split()[0]
        assert read_token.startswith("mbx_") and read_token not in token_cli(served.box.data, "list").stdout

        denied = httpx.get(url + "/code/php/getScratch.php")
        assert denied.status_code == 401 and set(denied.json()) == {"error", "detail"}
        assert httpx.get(url + "/code/php/getScratch.php", params={"token": "mbx_wrong"}).status_code == 401
        assert httpx.get(url + "/code/php/getScratch.php", params={"token": read_token}).status_code == 200
        bearer = {"Authorization": f"Bearer {read_token}"}
        assert httpx.get(url + "/api/v1/sessions", headers=bearer).status_code == 200
        assert httpx.get(url + "/metrics", headers=bearer).status_code == 200
        assert httpx.get(url + "/healthz").status_code == 200

        params = {"scratchdir": s.scratchdir, "token": read_token}
        assert httpx.get(url + "/code/php/deleteStudy.php", params=params).status_code == 403
        assert httpx.delete(f"{url}/api/v1/sessions/{s.scratchdir}", headers=bearer).status_code == 403
        params["token"] = write_token
        assert httpx.get(url + "/code/php/deleteStudy.php", params=params).status_code == 200

        after = [
            sys.executable,
            "-m",
            "magickbox.cli.magickbox",
            "token",
            "list",
            "--data",
            str(served.box.data),
        ]
        listed = subprocess.run(after, capture_output=True, text=True, timeout=60).stdout
        assert "reader" in listed and "write" in listed
        assert token_cli(served.box.data, "revoke", "1").returncode == 0
        assert httpx.get(url + "/api/v1/sessions", headers=bearer).status_code == 401
        assert token_cli(served.box.data, "revoke", "99").returncode != 0
    finally:
        served.box.stop()
        served.store.db.close()


def test_open_reads_setting_keeps_reads_open(tmp_path: Path) -> None:
    served = start_served(tmp_path / "data", env={"MAGICKBOX_OPEN_READS": "true"})
    try:
        s = served.make_session()
        served.store.tokens.create("admin")
        assert httpx.get(served.url + "/code/php/getScratch.php").status_code == 200
        response = httpx.get(served.url + "/code/php/deleteStudy.php", params={"scratchdir": s.scratchdir})
        assert response.status_code == 401
    finally:
        served.box.stop()
        served.store.db.close()


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False), ("::1", False)])
def test_warning_when_open_on_a_non_loopback_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, host: str, warned: bool
) -> None:
    settings = load_settings(data=str(tmp_path / "data"), host=host)
    store = Store(settings)
    with caplog.at_level(logging.WARNING, logger="magickbox.app"):
        create_app(settings, store)
    assert ("no API token exists" in caplog.text) is warned
    caplog.clear()
    store.tokens.create("read")
    with caplog.at_level(logging.WARNING, logger="magickbox.app"):
        create_app(settings, store)
    assert "no API token exists" not in caplog.text
    store.db.close()
