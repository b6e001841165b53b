"""Keep, unkeep and remove INPUT by clicking in Chromium against a real box; the Audit page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magickbox.config import load_settings
from magickbox.store import Store
from tests.keep.helpers import BUCKET, BUCKET_AET, make_session
from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.ui.conftest import screenshot

READS = ("view", "list", "download-file")  # audited too, between the changes


def test_keep_from_list_and_session_page(page: Any, box_factory: type[BoxProcess], tmp_path: Path) -> None:
    box = box_factory(data=tmp_path / "data", stages="http,keep")
    box.add_bucket(BUCKET, {"name": "keep", "AETitle": BUCKET_AET, "enabled": 1}, "#!/bin/sh\n")
    box.start(wait_dicom=False)
    store = Store(load_settings(data=str(box.data)))
    session = make_session(store, size=5000)
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto(box.url + "/")
    row = page.locator(f'tr[data-scratchdir="{session.scratchdir}"]')
    row.locator('button[data-action="keep"]').click()
    wait_until(lambda: store.retention.is_kept(session.id), timeout=10, what="kept after the click")
    row.locator('button[data-action="unkeep"]').wait_for()  # the list refreshed with the new button

    page.goto(f"{box.url}/ui/sessions/{session.scratchdir}")
    assert page.locator("#kept").inner_text().startswith("yes")
    page.locator('button[data-action="unkeep"]').click()
    wait_until(lambda: not store.retention.is_kept(session.id), timeout=10, what="released after the click")
    page.locator('button[data-action="remove_input"]').click()
    input_dir = store.layout.input_dir(session.scratchdir)
    wait_until(lambda: not any(input_dir.iterdir()), timeout=10, what="INPUT removed")
    assert (store.layout.output_dir(session.scratchdir) / "result.txt").exists()
    page.get_by_role("heading", name="INPUT 0 file(s)").wait_for()  # the page reloaded after the action

    page.goto(box.url + "/ui/audit")
    rows = page.locator("#audit tbody tr")
    changes = [n for n in range(rows.count()) if rows.nth(n).locator("td").nth(4).inner_text() not in READS]
    assert [rows.nth(n).locator("td").nth(4).inner_text() for n in changes[:3]] == [
        "remove-input",
        "unkeep",
        "keep",
    ]
    assert rows.nth(changes[0]).locator("td").nth(2).inner_text() == "web"  # the page's script said so
    screenshot(page, "audit")
    page.goto(box.url + "/ui/system")
    assert "cleanup from 100" in page.locator("#disk-marks").inner_text()
    store.db.close()
