"""`magickbox serve`: the stages of one box as threads of one process, started and stopped in order."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

import uvicorn

from magickbox.app import create_app
from magickbox.config import Settings
from magickbox.dicom import pynetdicom_compat
from magickbox.errors import SettingsError
from magickbox.keep.stage import create_stage as create_keeper
from magickbox.logsetup import configure_logging
from magickbox.notify.stage import create_stage as create_notifier
from magickbox.receive.stage import make_receiver
from magickbox.retrieve.stage import create_stage as create_retriever
from magickbox.route.stage import create_stage as create_router
from magickbox.run.scheduler import create_scheduler
from magickbox.run.shipped import install_shipped
from magickbox.store import Store
from magickbox.web.timeouts import bounded_protocol

log = logging.getLogger(__name__)


class Stage(Protocol):
    """A long-running part of the box (receiver, scheduler, router). start() returns at once."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


StageFactory = Callable[[Settings, Store], Stage]

# The stages `magickbox serve` can run, in start order (stop is reversed). `http` is not in this
# table: it runs in the main thread once the others are up (see serve()).
STAGES: dict[str, StageFactory] = {
    "run": create_scheduler,
    "receive": make_receiver,
    "route": create_router,
    "notify": create_notifier,
    "keep": create_keeper,
    "retrieve": create_retriever,
}


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


def prepare(settings: Settings, store: Store) -> None:
    """What must hold before any stage starts, in this order.

    pynetdicom must be a version whose private parts we know (dicom/pynetdicom_compat.py).
    The shipped buckets go into an empty streams/ first: the receiver maps called AE titles to
    buckets from the first association on. Sessions left `receiving` by a stop are settled only by
    a process that receives: another process's receiver may be feeding them right now.
    """
    try:
        log.info("pynetdicom %s", pynetdicom_compat.check_version())
        pynetdicom_compat.remember_uid_conversions()
    except RuntimeError as exc:
        raise SettingsError(str(exc)) from exc
    pynetdicom_compat.send_files_from_disk()  # the router's sends: bytes as stored, never re-encoded
    install_shipped(settings.streams_dir)
    if "receive" in settings.stages:
        recover(store)
        threading.Thread(target=index_older_sessions, args=(store,), name="study-index", daemon=True).start()


def index_older_sessions(store: Store) -> None:
    """Sessions received before the study index existed (or whose receipt a crash cut short) are
    indexed from their INPUT headers, in the background: the box answers meanwhile."""
    with store.connection():
        try:
            done = store.studies.index_older()
        except Exception:
            log.exception("indexing older sessions stopped")
            return
    if done:
        log.info("study index: %d older session(s) indexed from their INPUT headers", done)


def serve(settings: Settings) -> None:
    """Run the stages named in `settings.stages` until SIGINT or SIGTERM, then stop them in reverse."""
    configure_logging(settings)
    store = Store(settings)
    with store.connection():  # the main thread's connection
        prepare(settings, store)
        stages = [factory(settings, store) for name, factory in STAGES.items() if name in settings.stages]
        started: list[Stage] = []
        try:
            for stage in stages:
                stage.start()
                started.append(stage)
                log.info("%s started", stage.name)
            log.info(
                "MagickBox %s up (stages %s): DICOM %s:%d, HTTP %s:%d, data %s",
                settings.ae_title, ",".join(settings.stages), settings.host, settings.dicom_port,
                settings.host, settings.http_port, settings.data,
            )  # fmt: skip
            if "http" in settings.stages:
                _serve_http(settings, store)  # returns after SIGINT or SIGTERM
            else:
                _wait_for_stop_signal()
        finally:
            for stage in reversed(started):
                try:
                    stage.stop()
                    log.info("%s stopped", stage.name)
                except Exception:
                    log.exception("%s did not stop cleanly", stage.name)
    log.info("MagickBox stopped")


def _serve_http(settings: Settings, store: Store) -> None:
    config = uvicorn.Config(
        create_app(settings, store),
        host=settings.host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # forwarded headers are believed from `trusted_proxies` only (web/proxies.py)
        http=bounded_protocol(settings),
        limit_concurrency=settings.http_max_connections,
        backlog=settings.http_backlog,
    )
    _keep_running_after_uvicorn_stops()
    uvicorn.Server(config).run()


def _wait_for_stop_signal() -> None:
    stop = threading.Event()

    def note(signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, note)
    while not stop.wait(1.0):
        pass
