"""A real box on a real 100 MB tmpfs: the watermark sweep and retention by age, seen from outside.

The box runs the HTTP API and the housekeeping stage; the sessions are made through the store
beforehand (a running one, a kept one, ended ones), so what the sweep chooses is deterministic.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magickbox.config import load_settings
from magickbox.store import Store
from tests.keep.helpers import BUCKET, BUCKET_AET, exists, make_session
from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.tmpfs import SmallDisk, small_tmpfs

MB = 1 << 20


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_tmpfs(tmp_path / "data", size="100m") as small:
        yield small


def used_percent(root: Path) -> float:
    usage = shutil.disk_usage(root)
    return 100.0 * usage.used / (usage.used + usage.free)


def start(box_factory: type[BoxProcess], root: Path, **env: str) -> BoxProcess:
    box = box_factory(data=root, stages="http,keep", env={"MAGICKBOX_CLEANUP_INTERVAL_S": "2", **env})
    box.add_bucket(BUCKET, {"name": "keep", "AETitle": BUCKET_AET, "enabled": 1}, "#!/bin/sh\n")
    (root / "streams" / ".shipped-installed").write_text("")  # keep the tmpfs for the sessions
    return box.start(wait_dicom=False)


def test_watermark_then_age(disk: SmallDisk, box_factory: type[BoxProcess]) -> None:
    store = Store(load_settings(data=str(disk.root)))
    running = make_session(store, end=None, size=11 * MB)  # the oldest
    oldest_ended = make_session(store, size=11 * MB)
    kept = make_session(store, size=11 * MB)
    store.retention.set_kept(kept.id, True)
    second = make_session(store, size=11 * MB)
    third = make_session(store, size=11 * MB)
    newest = make_session(store, size=11 * MB)
    # Marks relative to what the store itself takes on this disk: past the high mark now, and
    # under the low mark only after two sessions (one is not enough).
    before = used_percent(disk.root)
    one = 100.0 * 11 * MB / shutil.disk_usage(disk.root).total
    high, low = before - one / 2, before - 1.5 * one
    assert low > 0
    box = start(
        box_factory,
        disk.root,
        MAGICKBOX_DISK_HIGH_PERCENT=f"{high:.2f}",
        MAGICKBOX_DISK_LOW_PERCENT=f"{low:.2f}",
    )
    wait_until(lambda: used_percent(disk.root) < low, timeout=30, what="the sweep to get under the low mark")
    assert not exists(store, oldest_ended.scratchdir) and not exists(store, second.scratchdir)
    for survivor in (running, kept, third, newest):
        assert exists(store, survivor.scratchdir), survivor.scratchdir
    audit = box.get_json("/api/v1/audit", action="auto-delete")
    named = {item["scratchdir"]: item for item in audit["items"]}
    assert set(named) == {oldest_ended.scratchdir, second.scratchdir}
    assert named[oldest_ended.scratchdir]["actor"] == "watermark"
    assert "disk_high_percent" in named[oldest_ended.scratchdir]["detail"]
    assert named[oldest_ended.scratchdir]["bytes"] >= 11 * MB
    box.stop()

    box = start(box_factory, disk.root, MAGICKBOX_RETENTION_DAYS="0.0001")  # 8.64 s
    wait_until(lambda: not exists(store, newest.scratchdir), timeout=40, what="retention by age")
    assert not exists(store, third.scratchdir)
    assert exists(store, kept.scratchdir) and exists(store, running.scratchdir)
    reasons = {item["scratchdir"]: item["detail"] for item in box.get_json("/api/v1/audit")["items"]}
    assert reasons[newest.scratchdir].startswith("age: ")
    listing = {row["scratchdir"]: row for row in box.get_json("/code/php/getScratch.php")}
    assert listing[kept.scratchdir]["kept"] is True and listing[running.scratchdir]["kept"] is False
    entries = [json.loads(line) for line in httpx.get(box.url + "/api/v1/audit.jsonl").text.splitlines()]
    deleted = sorted(entry["scratchdir"] for entry in entries if entry["action"] == "auto-delete")
    assert deleted == sorted(s.scratchdir for s in (oldest_ended, second, third, newest))
    store.db.close()
