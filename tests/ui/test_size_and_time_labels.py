"""The list and the session page give one size (the instances as received) and label both times:
the bucket's run time and receipt to end (what processingTime counts)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from magickbox.store import Store
from tests.notify.sessions import end_session


def test_one_size_and_two_labelled_times(client: TestClient, store: Store) -> None:
    scratchdir = end_session(store, "finished")
    session = store.sessions.by_scratchdir(scratchdir)
    store.sessions.record_instances(session.id, 3, 25_088)  # 24.5 KiB
    listing = client.get("/").text
    page = client.get(f"/ui/sessions/{scratchdir}").text
    assert "Run time" in listing and "Duration" not in listing
    assert "24.5 KB" in listing
    assert re.search(r"<dd>3 \(24\.5 KB as received\)</dd>", page)
    assert "Run time</dt>" in page and "Receipt to end</dt>" in page
