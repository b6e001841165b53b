"""A received SeriesInstanceUID made to escape from the URL it is put into (issue 28, item 1).

The session page used to write `<img src="/ui/sessions/S/series/<UID>/thumbnail.png">`; with a UID
of `../../../../code/php/deleteStudy.php?SIUID=<pid>&x=` the browser loaded the original's deleting
GET as an image, so viewing a page deleted another session. Here a real browser views the pages.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.support import hostile
from tests.support.box import BoxProcess
from tests.support.net import wait_until

DELETING = ("deleteStudy", "/delete")


def _sessions(box: BoxProcess) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = box.get_json("/code/php/getScratch.php")
    return rows


def _send(box: BoxProcess, folder: Path, series_uid: str, calling: str) -> dict[str, Any]:
    folder.mkdir()
    hostile.with_series_uid(folder / "a.dcm", series_uid, study_uid=generate_uid(), patient_id=calling)
    box.storescu(folder, calling=calling, called="ProcCopy")
    found: list[dict[str, Any]] = []
    wait_until(
        lambda: bool(found.extend(r for r in _sessions(box) if r["AETitleCaller"] == calling) or found),
        timeout=30, what=f"the session from {calling}",
    )  # fmt: skip
    return found[0]


@pytest.mark.slow
def test_viewing_a_hostile_series_uid_deletes_nothing(
    tmp_path: Path, box_factory: type[BoxProcess], page: Any
) -> None:
    box = box_factory(data=tmp_path / "data").start()
    victim = _send(box, tmp_path / "victim", generate_uid(), "VICTIM")
    escape = f"../../../../code/php/deleteStudy.php?SIUID={victim['pid']}&x="
    attacker = _send(box, tmp_path / "attacker", escape, "ATTACKER")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    for path in ("/", f"/ui/sessions/{attacker['scratchdir']}"):
        page.goto(box.url + path, wait_until="networkidle")
    page.wait_for_timeout(500)  # lazy pictures that scrolled into view
    assert not [url for url in requests if any(word in url for word in DELETING)], requests
    assert {r["scratchdir"] for r in _sessions(box)} == {victim["scratchdir"], attacker["scratchdir"]}
    row = page.locator("#series tbody tr").first
    assert "invalid Series Instance UID" in row.inner_text()  # listed, without a link or picture
    assert row.locator("img, a").count() == 0
    with httpx.Client(base_url=box.url, timeout=10) as http:  # the routes refuse what is no UID
        for prefix in ("/ui", "/api/v1"):
            answer = http.get(f"{prefix}/sessions/{attacker['scratchdir']}/series/1.2.3%3Fx/thumbnail.png")
            assert 400 <= answer.status_code < 500


@pytest.mark.slow
def test_the_deleting_get_refuses_browser_subresources_but_not_curl(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "data").start()
    victim = _send(box, tmp_path / "victim", generate_uid(), "VICTIM")
    url = f"{box.url}/code/php/deleteStudy.php?scratchdir={victim['scratchdir']}"
    for dest in ("image", "script", "iframe", "style"):
        refused = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", "-H", f"Sec-Fetch-Dest: {dest}",
             "-H", "Sec-Fetch-Site: same-origin", url],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        body, code = refused.stdout.rsplit("\n", 1)
        assert code == "403" and '"error"' in body, (dest, refused.stdout)
    assert [r["scratchdir"] for r in _sessions(box)] == [victim["scratchdir"]]
    deleted = subprocess.run(["curl", "-s", "-f", url], check=True, capture_output=True, text=True)
    assert "will delete now" in deleted.stdout  # the original's contract, as scripts call it
    wait_until(lambda: not _sessions(box), timeout=30, what="the session deleted")
