"""What the System and Audit pages show of housekeeping: the last sweep and the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import ACTIONS, AuditFilter, Store, scope_allows
from magickbox.ui import auth
from magickbox.ui.views import human_bytes, local_time

PAGE_SIZE = 100


@dataclass(frozen=True)
class Sweep:
    when: str
    deleted: int
    trimmed: int
    freed: str
    short: str  # empty when the last sweep freed what the marks asked for


def last_sweep(store: Store) -> Sweep | None:
    found = store.retention.status().get("last_sweep")
    if found is None:
        return None
    value, at = found
    data = json.loads(value)
    short = int(data.get("short_by_bytes", 0))
    return Sweep(
        when=local_time(at),
        deleted=int(data.get("deleted", 0)),
        trimmed=int(data.get("trimmed", 0)),
        freed=human_bytes(int(data.get("freed_bytes", 0))),
        short=human_bytes(short) if short else "",
    )


def may_audit(request: Request, reader: auth.Access) -> bool:
    """The API asks for admin scope once tokens exist; the page asks the same of its login."""
    if not reader.tokens_enabled:
        return True
    granted = reader.tokens.check(request.cookies.get(auth.SESSION_COOKIE, ""))
    return granted is not None and scope_allows(granted, "admin")


def audit_context(store: Store, session: str, action: str, page: int) -> dict[str, Any]:
    flt = AuditFilter(
        scratchdir=session if is_scratchdir_name(session) else None,
        action=action if action in ACTIONS else None,
    )
    total, entries = store.audit.entries(flt, PAGE_SIZE, page * PAGE_SIZE)
    rows = [
        {**e.__dict__, "when": local_time(e.at), "size": "" if e.bytes is None else human_bytes(e.bytes)}
        for e in entries
    ]
    return {
        "entries": rows,
        "total": total,
        "page": page,
        "more": (page + 1) * PAGE_SIZE < total,
        "actions": ACTIONS,
        "session": flt.scratchdir or "",
        "action": flt.action or "",
    }
