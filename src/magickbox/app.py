"""Builds the web application: the HTTP API (`api/`) and the web page (`ui/`) over one store,
behind the edge rules of `web/`. The one place that knows both; neither imports the other."""

from __future__ import annotations

import ipaddress
import logging
import threading

from fastapi import FastAPI

from magickbox import __version__
from magickbox.api import (
    keep_endpoints,
    legacy,
    machines,
    metrics,
    notifications,
    previews,
    retrievals,
    studies,
    v1,
)  # fmt: skip
from magickbox.api.routing_endpoints import router as routing_router
from magickbox.config import Settings
from magickbox.store import Store
from magickbox.ui import pages as ui_pages
from magickbox.ui import viewer as ui_viewer
from magickbox.web.bodies import BodyGuard, BodyLimits
from magickbox.web.deps import body_gate
from magickbox.web.edge import EdgeGuard, HostRule, own_names
from magickbox.web.errors import install_error_handlers
from magickbox.web.proxies import ClientAddress, ProxyRule, parse_networks

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_open(settings: Settings, store: Store) -> None:
    if not store.tokens.any_active() and not _is_loopback(settings.host):
        log.warning(
            "no API token exists: the HTTP API on %s:%d is open to anyone who can reach it "
            "(create one with 'magickbox token create --scope admin')",
            settings.host,
            settings.http_port,
        )


def create_app(settings: Settings, store: Store) -> FastAPI:
    app = FastAPI(
        title="MagickBox",
        version=__version__,
        description="The original's /code/php endpoints, /api/v1, /metrics. See docs/http-api.md.",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: off unless asked for.
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    # Outermost last: the client address first, then the edge rules, then the body rules.
    limits = BodyLimits(default=settings.http_max_body_bytes, upload=settings.upload_max_bytes)
    app.add_middleware(BodyGuard, limits=limits, gate=body_gate(store))
    app.add_middleware(EdgeGuard, hosts=HostRule(settings.allowed_hosts, own_names()))
    app.add_middleware(ClientAddress, rule=ProxyRule(parse_networks(settings.trusted_proxies)))
    app.state.settings = settings
    app.state.store = store
    install_error_handlers(app)
    warn_if_open(settings, store)
    threading.Thread(target=legacy.warm_up, args=(store,), name="api-warm-up", daemon=True).start()

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, object]:
        store.ping()
        return {"status": "ok", "version": __version__, "ae_title": settings.ae_title}

    for router in (
        legacy.router,
        v1.router,
        keep_endpoints.router,
        metrics.router,
        routing_router,
        machines.router,
        notifications.router,
        studies.router,
        previews.router,
        retrievals.router,
    ):
        app.include_router(router)
    app.include_router(ui_viewer.router)
    ui_pages.install(app)

    return app
