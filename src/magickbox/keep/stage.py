"""The housekeeping stage: a thread that sweeps every `cleanup_interval_s`, and at once when a
writer saw the disk past the high mark (`store.retention.request_sweep`)."""

from __future__ import annotations

import json
import logging
import time

from magickbox.config import Settings
from magickbox.files import disk_use
from magickbox.keep.needs import KeeperStore
from magickbox.keep.plan import Decision, Plan, make_plan
from magickbox.loop import Loop
from magickbox.store import AuditEntry, take_sweep_request

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the thread looks for a sweep request or a disk past the high mark
MIN_GAP_S = 2.0  # a full disk that nothing can free does not make it sweep without a pause
MAX_ROUNDS = 5  # watermark rounds per sweep (the estimate of what deleting frees is near, not exact)


def _entry(decision: Decision, now: float) -> AuditEntry:
    c = decision.candidate
    return AuditEntry(
        at=now,
        actor="retention" if decision.reason != "watermark" else "watermark",
        via="keep",
        ip="",
        action="auto-delete" if decision.action == "delete" else "remove-input",
        scratchdir=c.scratchdir,
        pid=c.pid,
        study_uid=c.study_uid,
        detail=f"{decision.reason}: {decision.detail}",
        bytes=decision.bytes,
    )


def carry_out(store: KeeperStore, decision: Decision, now: float) -> bool:
    """Do one decision through the store; False when the session may no longer go."""
    c = decision.candidate
    if decision.action == "delete":
        done = store.retention.delete(c, _entry(decision, now))
    else:
        store.retention.remove_area(c.id, "INPUT")
        store.audit.record(_entry(decision, now))
        done = True
    if done:
        log.info(
            "%s %s (%s, %d bytes): %s",
            decision.action,
            c.scratchdir,
            decision.reason,
            decision.bytes,
            decision.detail,
        )
    return done


def sweep(store: KeeperStore, settings: Settings) -> Plan:
    """One sweep: finish interrupted deletions, then age, watermark and trim decisions; rotate the audit."""
    store.sessions.finish_deletes()
    store.retention.clear_leftovers()
    store.audit.flush()
    note_disk_high(store, settings)
    done: list[Decision] = []
    plan = make_plan(store, settings, time.time())
    for _round in range(MAX_ROUNDS):
        acted = [d for d in plan.decisions if carry_out(store, d, time.time())]
        done += acted
        if not any(d.reason == "watermark" for d in acted):
            break
        plan = make_plan(store, settings, time.time())
        if disk_use(settings.data).percent < settings.disk_low_percent:
            break
    store.audit.rotate(settings.audit_days)
    _report(store, settings, plan, done)
    return plan


def note_disk_high(store: KeeperStore, settings: Settings) -> None:
    """A `disk.high` notification when used space passes the high mark: once per crossing (again
    only after it was under the low mark), so a box that stays full does not repeat it every sweep."""
    if settings.disk_high_percent >= 100:
        return
    use = disk_use(settings.data)
    raised = store.retention.status().get("disk_high", ("0", 0.0))[0] == "1"
    if use.percent >= settings.disk_high_percent and not raised:
        detail = {"used_percent": round(use.percent, 1), "available_bytes": use.available,
                  "disk_high_percent": settings.disk_high_percent}  # fmt: skip
        store.notifications.record("disk.high", detail)
        store.retention.set_status("disk_high", "1")
        log.warning("disk past the high mark (%.1f%% used): disk.high notified", use.percent)
    elif raised and use.percent < settings.disk_low_percent:
        store.retention.set_status("disk_high", "0")


def _report(store: KeeperStore, settings: Settings, plan: Plan, done: list[Decision]) -> None:
    if plan.short_by > 0:
        log.warning(
            "cleanup cannot free enough: %d more bytes should go to be under %g%%, but every session left"
            " is running, kept or waiting for delivery", plan.short_by, settings.disk_low_percent,
        )  # fmt: skip
    status = {
        "deleted": sum(d.action == "delete" for d in done),
        "trimmed": sum(d.action == "trim-input" for d in done),
        "freed_bytes": sum(d.bytes for d in done),
        "disk_percent": round(disk_use(settings.data).percent, 1),
        "short_by_bytes": plan.short_by,
    }
    store.retention.set_status("last_sweep", json.dumps(status))


class KeepStage:
    name = "keep"

    def __init__(self, settings: Settings, store: KeeperStore) -> None:
        self.settings = settings
        self.store = store
        self._last = float("-inf")  # sweep once at start: a restart finishes what a kill interrupted
        self._loop = Loop("keep", self._step, interval_s=POLL_S, scope=store.connection)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _due(self, last: float) -> bool:
        since = time.monotonic() - last
        if since >= self.settings.cleanup_interval_s or take_sweep_request(self.settings.data):
            return True
        high = self.settings.disk_high_percent
        return high < 100 and since >= MIN_GAP_S and disk_use(self.settings.data).percent >= high

    def _step(self) -> None:
        """Sweep when due; a failed sweep (logged by the loop) is tried again when due next."""
        if self._due(self._last):
            self._last = time.monotonic()
            sweep(self.store, self.settings)


def create_stage(settings: Settings, store: KeeperStore) -> KeepStage:
    return KeepStage(settings, store)
