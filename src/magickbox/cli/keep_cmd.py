"""`magickbox cleanup [--dry-run]` and `magickbox audit [--since ...]`: housekeeping for the admin."""

from __future__ import annotations

import argparse
import getpass
import time
from datetime import UTC, datetime

from magickbox.cli.serve_cmd import add_command, settings_of
from magickbox.config import Settings
from magickbox.errors import InvalidInput
from magickbox.keep.plan import Plan, make_plan
from magickbox.keep.stage import sweep
from magickbox.store import ACTIONS, AuditEntry, AuditFilter, Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cleanup = add_command(
        subparsers, "cleanup", run_cleanup, help="delete what retention and the disk marks say should go"
    )
    cleanup.add_argument("--dry-run", action="store_true", help="only print what would go and why")
    audit = add_command(
        subparsers, "audit", run_audit, help="print the audit log as JSON lines, oldest first"
    )
    audit.add_argument("--since", help="ISO 8601 time (e.g. 2026-01-31 or 2026-01-31T08:00)")
    audit.add_argument("--session", help="only this scratchdir")
    audit.add_argument("--action", choices=ACTIONS, help="only this action")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def print_plan(plan: Plan, settings: Settings, verb: str) -> None:
    """One line per session to go, then the totals and the disk marks."""
    for d in plan.decisions:
        what = "delete" if d.action == "delete" else "remove INPUT of"
        print(
            f"{verb} {what} {d.candidate.scratchdir} ({d.candidate.pid}) {_size(d.bytes)}:"
            f" {d.reason}: {d.detail}"
        )
    print(
        f"{len(plan.decisions)} to go, {_size(plan.freed)}; disk {plan.disk.percent:.1f}% used"
        f" (high mark {settings.disk_high_percent:g}%, low mark {settings.disk_low_percent:g}%,"
        f" retention_days {settings.retention_days:g})"
    )
    if plan.short_by:
        print(
            f"cannot free enough: {_size(plan.short_by)} more would have to go,"
            " but what is left is running, kept or waiting for delivery"
        )


def run_cleanup(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with Store(settings).connection() as store:
        if args.dry_run:
            print_plan(make_plan(store, settings, time.time()), settings, "would")
        else:
            print_plan(sweep(store, settings), settings, "did")
    return 0


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {text!r}: give an ISO 8601 date or time, e.g. 2026-01-31T08:00"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def run_audit(args: argparse.Namespace) -> int:
    with Store(settings_of(args)).connection() as store:
        for line in store.audit.export(AuditFilter(args.session, args.action, _since(args.since))):
            print(line, end="")
    return 0


def audit_cli(store: Store, action: str, detail: str) -> None:
    """Audit an admin command run on the box itself (token create/revoke): the OS user is who."""
    store.audit.record(AuditEntry(time.time(), getpass.getuser(), "cli", "", action, detail=detail))
