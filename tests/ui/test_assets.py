"""The page's static files are revalidated, not re-sent: curl against a running box."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.box import BoxProcess


def curl(url: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET with curl: (status, headers in lower case, body)."""
    argv = ["curl", "-s", "-D", "-", *[arg for h in headers for arg in ("-H", h)], url]
    out = subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body


@pytest.mark.parametrize("name", ["app.css", "app.js", "favicon.svg"])
def test_a_revalidation_of_a_static_file_is_answered_304_without_the_body(
    name: str, tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "data", stages="receive,http").start()
    url = f"{box.url}/ui/static/{name}"

    status, headers, body = curl(url)
    assert status == 200 and body and headers["etag"].startswith('"')
    again, again_headers, again_body = curl(url, f"If-None-Match: {headers['etag']}")
    stale, _, stale_body = curl(url, 'If-None-Match: "not-this-one"')

    assert (again, again_body) == (304, b"")
    assert again_headers["etag"] == headers["etag"]
    assert (stale, stale_body) == (200, body)
