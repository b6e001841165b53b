"""`/metrics` in the Prometheus text format (version 0.0.4)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from magickbox.store import SessionState, Store
from magickbox.web.deps import get_store, require_read

router = APIRouter(tags=["operations"])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(store: Store) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            number = int(value) if float(value).is_integer() else value
            lines.append(f"{name}{labels} {number}")

    states = store.queries.count_by_state()
    metric(
        "magickbox_sessions", "gauge", "Sessions by state.",
        [(f'{{state="{s}"}}', states.get(s, 0)) for s in SessionState],
    )  # fmt: skip
    stats = store.queries.bucket_stats()
    names = sorted({b.name for b in store.catalog().valid} | set(stats))

    def per_bucket(attr: str) -> list[tuple[str, float]]:
        return [(f'{{bucket="{_label(n)}"}}', getattr(stats[n], attr) if n in stats else 0) for n in names]

    metric("magickbox_queue_depth", "gauge", "Jobs waiting per bucket.", per_bucket("queued"))
    metric("magickbox_jobs_running", "gauge", "Jobs running per bucket.", per_bucket("running"))
    metric("magickbox_jobs_failed", "gauge", "Failed jobs of kept sessions per bucket.", per_bucket("failed"))
    done = [(n, stats[n]) for n in names if n in stats and stats[n].done]
    lines.append("# HELP magickbox_bucket_duration_seconds Run time of finished jobs per bucket.")
    lines.append("# TYPE magickbox_bucket_duration_seconds summary")
    for n, s in done:
        label = f'{{bucket="{_label(n)}"}}'
        lines.append(f"magickbox_bucket_duration_seconds_sum{label} {(s.avg_run_s or 0.0) * s.done:.3f}")
        lines.append(f"magickbox_bucket_duration_seconds_count{label} {s.done}")
    instances, nbytes = store.queries.received_totals()
    metric("magickbox_received_instances_total", "counter", "DICOM instances received.", [("", instances)])
    metric("magickbox_received_bytes_total", "counter", "Bytes received.", [("", nbytes)])
    return "\n".join(lines) + "\n"


@router.get("/metrics", dependencies=[Depends(require_read)], response_class=PlainTextResponse)
def metrics(store: Store = Depends(get_store)) -> PlainTextResponse:  # noqa: B008
    return PlainTextResponse(render(store), media_type="text/plain; version=0.0.4; charset=utf-8")
