"""What a sweep would do now, and why: the one decision `magickbox cleanup --dry-run` prints and
the housekeeping stage carries out."""

from __future__ import annotations

from dataclasses import dataclass, field

from magickbox.config import Settings
from magickbox.files import DiskUse, disk_use, folder_bytes
from magickbox.keep.needs import KeeperStore
from magickbox.store import Candidate, Catalog

DAY_S = 86400.0


@dataclass(frozen=True)
class Decision:
    """One thing to take away: `delete` a session or `trim-input` (its INPUT only)."""

    candidate: Candidate
    action: str  # delete | trim-input
    reason: str  # age | watermark | trim_input_days
    detail: str  # for people: the rule and the numbers behind it
    bytes: int


@dataclass
class Plan:
    disk: DiskUse
    decisions: list[Decision] = field(default_factory=list)
    short_by: int = 0  # bytes the watermark wanted freed that nothing deletable holds

    @property
    def freed(self) -> int:
        return sum(d.bytes for d in self.decisions)


def _days(catalog: Catalog, bucket: str, name: str, default: float | None) -> float | None:
    found = catalog.by_name(bucket)
    value = getattr(found.info, name) if found is not None else None
    return default if value is None else float(value)


def make_plan(store: KeeperStore, settings: Settings, now: float) -> Plan:
    """Age first, then (past the high mark) the oldest ended sessions until under the low mark,
    then INPUT trims of what stays. Kept, unended and undelivered sessions are never candidates."""
    catalog = store.catalog()
    candidates = store.retention.candidates()
    plan = Plan(disk=disk_use(settings.data))
    folder = store.layout.session_dir
    chosen: set[int] = set()
    for c in candidates:
        days = _days(catalog, c.bucket, "retention_days", settings.retention_days) or 0.0
        if days > 0 and now - c.ended_at > days * DAY_S:
            age = (now - c.ended_at) / DAY_S
            detail = f"ended {age:.4g} days ago; retention_days is {days:g}"
            plan.decisions.append(Decision(c, "delete", "age", detail, folder_bytes(folder(c.scratchdir))))
            chosen.add(c.id)
    if settings.disk_high_percent < 100 and plan.disk.percent >= settings.disk_high_percent:
        _watermark(plan, candidates, chosen, store, settings)
    for c in candidates:
        trim = _days(catalog, c.bucket, "trim_input_days", None)
        if c.id in chosen or c.input_removed or c.state != "finished" or not trim:
            continue
        if now - c.ended_at > trim * DAY_S:
            detail = f"finished {(now - c.ended_at) / DAY_S:.4g} days ago; trim_input_days is {trim:g}"
            size = folder_bytes(store.layout.input_dir(c.scratchdir))
            plan.decisions.append(Decision(c, "trim-input", "trim_input_days", detail, size))
    return plan


def _watermark(
    plan: Plan, candidates: list[Candidate], chosen: set[int], store: KeeperStore, settings: Settings
) -> None:
    need = plan.disk.bytes_over(settings.disk_low_percent) - plan.freed
    detail = (
        f"disk {plan.disk.percent:.1f}% used, over disk_high_percent {settings.disk_high_percent:g};"
        f" oldest first until under disk_low_percent {settings.disk_low_percent:g}"
    )
    for c in candidates:  # oldest received first
        if need <= 0:
            break
        if c.id in chosen:
            continue
        size = folder_bytes(store.layout.session_dir(c.scratchdir))
        plan.decisions.append(Decision(c, "delete", "watermark", detail, size))
        chosen.add(c.id)
        need -= size
    plan.short_by = max(0, need)
