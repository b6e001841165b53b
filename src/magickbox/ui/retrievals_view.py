"""What the retrievals page shows: the PACS nodes, the buckets to retrieve into, the latest
retrievals with their studies."""

from __future__ import annotations

from typing import Any

from magickbox.config import Settings
from magickbox.store import Store

SHOWN = 20  # retrievals on the page


def latest(store: Store) -> list[dict[str, Any]]:
    """The newest retrievals, each with its studies (state, progress, session)."""
    rows = store.retrievals.listing(SHOWN)
    for row in rows:
        row["studies"] = store.retrievals.report(int(row["id"]))["studies"]
    return rows


def page(settings: Settings, store: Store) -> dict[str, Any]:
    return {
        "pacs": dict(sorted(settings.pacs.items())),
        "buckets": [b for b in store.catalog().valid if b.info.enabled],
        "retrievals": latest(store),
    }
