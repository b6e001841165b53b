"""`magickbox serve`: the stages of one box as threads of one process, started and stopped in order."""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
from collections.abc import Callable
from typing import Protocol

import uvicorn

from magickbox.api.app import create_app
from magickbox.api.timeouts import bounded_protocol
from magickbox.config import Settings
from magickbox.receive.stage import make_receiver
from magickbox.route.stage import create_stage as create_router
from magickbox.run.scheduler import create_scheduler
from magickbox.store import Store

log = logging.getLogger(__name__)


class Stage(Protocol):
    """A long-running part of the box (receiver, scheduler, router). start() returns at once."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


StageFactory = Callable[[Settings, Store], Stage]

# Each stage module adds its factory here; the order is the start order (stop is reversed).
# The scheduler starts first: it installs the shipped buckets before the receiver looks for them.
STAGE_FACTORIES: list[StageFactory] = [create_scheduler, make_receiver, create_router]


def configure_logging(settings: Settings) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    to_file = logging.handlers.RotatingFileHandler(
        settings.logs_dir / "magickbox.log", maxBytes=20 << 20, backupCount=5
    )
    to_stderr = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = []
    for handler in (to_file, to_stderr):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # pynetdicom logs every PDU at INFO; keep the box's own log readable.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def recover(store: Store) -> None:
    broken, settled = store.sessions.recover_receiving()
    if broken or settled:
        log.warning(
            "recovered after a stop: %d session(s) incomplete, %d sealed and queued",
            len(broken),
            len(settled),
        )


def _keep_running_after_uvicorn_stops() -> None:
    """uvicorn re-raises the stop signal when it is done, with the handler that was there before.

    With the default handler that kills the process before the stages are stopped; with this one
    the re-raised signal is only logged, so `serve` can finish associations and jobs cleanly.
    """

    def note(signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, note)


def serve(settings: Settings) -> None:
    configure_logging(settings)
    store = Store(settings)
    recover(store)
    stages = [factory(settings, store) for factory in STAGE_FACTORIES]
    started: list[Stage] = []
    try:
        for stage in stages:
            stage.start()
            started.append(stage)
            log.info("%s started", stage.name)
        config = uvicorn.Config(
            create_app(settings, store),
            host=settings.host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
            http=bounded_protocol(settings),
            limit_concurrency=settings.http_max_connections,
            backlog=settings.http_backlog,
        )
        server = uvicorn.Server(config)
        log.info(
            "MagickBox %s up: DICOM %s:%d (AE %s), HTTP %s:%d, data %s",
            settings.ae_title,
            settings.host,
            settings.dicom_port,
            settings.ae_title,
            settings.host,
            settings.http_port,
            settings.data,
        )
        _keep_running_after_uvicorn_stops()
        server.run()  # returns after SIGINT or SIGTERM
    finally:
        for stage in reversed(started):
            try:
                stage.stop()
                log.info("%s stopped", stage.name)
            except Exception:
                log.exception("%s did not stop cleanly", stage.name)
        store.db.close()
        log.info("MagickBox stopped")
