"""The sweep in this process over a real store: what it may delete, fractional ages, trims."""

from __future__ import annotations

import json
import time
from pathlib import Path

from magickbox.config import Settings, load_settings
from magickbox.keep.plan import make_plan
from magickbox.keep.stage import sweep
from magickbox.store import AuditEntry, AuditFilter, NewDelivery, Store, take_sweep_request, wake_if_high
from tests.keep.helpers import exists, make_session, with_bucket
from tests.support.net import wait_until


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return load_settings(data=str(tmp_path / "data"), **values)


def test_never_chosen_even_past_every_mark(tmp_path: Path) -> None:
    """A disk 'over' a 1 % mark and a tiny retention: only plain ended sessions are chosen."""
    settings = settings_for(tmp_path, retention_days=0.00001, disk_high_percent=1, disk_low_percent=0.5)
    store = Store(settings)
    with_bucket(settings)
    running = make_session(store, end=None)
    queued = store.sessions.get(make_session(store, end=None).id)
    kept = make_session(store)
    store.retention.set_kept(kept.id, True)
    undelivered = make_session(store)
    target = NewDelivery(0, "rule", ".*", "127.0.0.1", 9, "BOX", "PACS", "OUTPUT", None)
    store.deliveries.plan(undelivered.id, [target])  # routing pending, the delivery not yet sent
    unrouted = make_session(store)
    store.deliveries.plan(unrouted.id, [target])
    claimed = store.deliveries.claim(60.0)  # the undelivered one is being sent (leased)
    assert claimed is not None
    failed = make_session(store, end="failed")
    plan = make_plan(store, settings, time.time() + 60)
    chosen = [d.candidate.scratchdir for d in plan.decisions]
    assert chosen == [failed.scratchdir]  # by age; the watermark finds nothing more to take
    assert plan.short_by > 0
    sweep(store, settings)
    for spared in (running, queued, kept, undelivered, unrouted):
        assert exists(store, spared.scratchdir)
    assert json.loads(store.retention.status()["last_sweep"][0])["short_by_bytes"] > 0
    store.db.close()


def test_fractional_days_and_bucket_override(tmp_path: Path) -> None:
    """The bucket's retention_days wins over the box's, both ways; ages may be fractions of a day."""
    settings = settings_for(tmp_path, retention_days=0.00001)  # 0.86 s for every bucket but ours
    store = Store(settings)
    with_bucket(settings, retention_days=0)  # our bucket keeps its sessions forever
    session = make_session(store)
    time.sleep(1.0)
    sweep(store, settings)
    assert exists(store, session.scratchdir)

    settings = settings_for(tmp_path, retention_days=0)  # the box keeps forever ...
    with_bucket(settings, retention_days=0.00002)  # ... but our bucket for 1.7 s
    assert not make_plan(store, settings, time.time()).decisions  # too young yet
    wait_until(lambda: not sweep(store, settings) or not exists(store, session.scratchdir), timeout=10)
    assert not store.layout.session_dir(session.scratchdir).exists()
    assert not store.layout.tombstoned()
    store.db.close()


def test_trim_input_keeps_output_and_record(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = Store(settings)
    with_bucket(settings, trim_input_days=0.00001)
    session = make_session(store, size=50_000)
    failed = make_session(store, end="failed", size=50_000)
    time.sleep(1.0)
    sweep(store, settings)
    folder = store.layout.session_dir(session.scratchdir)
    assert list((folder / "INPUT").iterdir()) == []
    assert (folder / "OUTPUT" / "result.txt").read_text() == "result\n"
    assert (store.layout.input_dir(failed.scratchdir) / "big.dcm").exists()  # only finished ones
    _total, entries = store.audit.entries(AuditFilter())
    assert [(e.action, e.scratchdir, e.actor) for e in entries] == [
        ("remove-input", session.scratchdir, "retention")
    ]
    assert entries[0].bytes and entries[0].bytes >= 50_000
    sweep(store, settings)  # done once: the next sweep finds nothing more to trim
    assert store.audit.entries(AuditFilter())[0] == 1
    store.db.close()


def test_audit_rotation_by_age(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, audit_days=1)
    store = Store(settings)
    now = time.time()
    for age_days in (3, 0.5):
        store.audit.record(AuditEntry(now - age_days * 86400, "alice", "api", "10.0.0.1", "delete", "tmp.A"))
    sweep(store, settings)
    _total, entries = store.audit.entries(AuditFilter())
    assert [round((now - e.at) / 86400, 1) for e in entries] == [0.5]
    assert store.audit.rotate(0) == 0  # 0 keeps every entry
    store.db.close()


def test_a_writer_past_the_high_mark_asks_for_a_sweep(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    wake_if_high(data, 100)  # the watermark is off
    assert not take_sweep_request(data)
    wake_if_high(data, 0.0001)  # any used byte is past this mark
    assert take_sweep_request(data) and not take_sweep_request(data)  # taken once


def test_disk_high_is_notified_once_per_crossing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, disk_high_percent=1, disk_low_percent=0.5)  # always past the mark
    store = Store(settings)
    with store.connection():
        sweep(store, settings)
        sweep(store, settings)
        events = [e for e in store.notifications.unplanned() if e.event == "disk.high"]
        assert len(events) == 1, "a box that stays full is notified once, not every sweep"
        assert events[0].detail["disk_high_percent"] == 1
    calm = settings_for(tmp_path, disk_high_percent=100)
    with store.connection():
        sweep(store, calm)
        assert len([e for e in store.notifications.unplanned() if e.event == "disk.high"]) == 1
