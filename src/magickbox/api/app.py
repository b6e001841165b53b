"""Builds the FastAPI application over a store."""

from __future__ import annotations

from fastapi import FastAPI

from magickbox import __version__
from magickbox.api import machines
from magickbox.config import Settings
from magickbox.store import Store


def create_app(settings: Settings, store: Store) -> FastAPI:
    app = FastAPI(title="MagickBox", version=__version__)
    app.state.settings = settings
    app.state.store = store
    app.include_router(machines.router)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        store.db.query_one("SELECT 1")
        return {"status": "ok", "version": __version__, "ae_title": settings.ae_title}

    return app
