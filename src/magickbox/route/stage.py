"""The router stage: evaluates routing.json for sessions whose bucket run ended, and sends.

One planner thread polls the store for ended sessions and for due deliveries; sends run in a
pool of worker threads, at most one at a time per destination, so a slow or dead peer holds
one worker and never the others. All state lives in the store; a restart resumes from there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from magickbox.config import Settings
from magickbox.dicom.scu import FileStatus, Outgoing, SendFailed, send_files
from magickbox.errors import NotFound
from magickbox.loop import Loop
from magickbox.models.routing import RoutingInvalid, RoutingTable, load
from magickbox.route import evaluate
from magickbox.route.needs import RouterStore
from magickbox.store import (
    Delivery,
    DeliveryState,
    DeliveryStore,
    FileResult,
    NewDelivery,
    RoutingLog,
    Session,
)

log = logging.getLogger(__name__)


def _fmt_time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


class Router:
    """The work of the stage, callable without threads (tests and the stage loop use it)."""

    def __init__(self, settings: Settings, store: RouterStore) -> None:
        self.settings = settings
        self.store = store
        self.deliveries = store.deliveries
        self.routelog = store.routelog
        self._last_invalid = ""

    # ---- planning ------------------------------------------------------------------------------
    def _table(self) -> RoutingTable | RoutingInvalid | None:
        try:
            return load(self.settings.routing_path)
        except RoutingInvalid as exc:
            return exc

    def plan_due(self) -> int:
        """Evaluate routing for every session that ended since its last check. Returns how many."""
        sessions = self.deliveries.sessions_to_route()
        if not sessions:
            return 0
        table = self._table()
        if isinstance(table, RoutingInvalid):
            # Sessions wait (nothing is lost) until the file is fixed; say so once per problem.
            if str(table) != self._last_invalid:
                self._last_invalid = str(table)
                log.error("routing.json is invalid; %d session(s) wait: %s", len(sessions), table)
                self.routelog.write(f"routing.json is invalid, routing waits: {table}")
            return 0
        self._last_invalid = ""
        for session in sessions:
            self._plan_one(session, table)
        return len(sessions)

    def _plan_one(self, session: Session, table: RoutingTable | None) -> None:
        folder = self.store.layout.session_dir(session.scratchdir)
        self.routelog.write(
            f'{RoutingLog.CALLED} {folder} "{session.called_aet}" "{session.calling_aet}"',
        )
        if table is None:
            planned: list[NewDelivery] = []
            notes = [f"no routing table ({self.settings.routing_path}): nothing to send"]
        else:
            outcome = evaluate.read_outcome(self.store.layout.proc_path(session.scratchdir))
            values = evaluate.Placeholders(
                self.settings.route_me, self.settings.route_port, session.caller_ip
            )
            planned, notes = evaluate.plan(table, session.called_aet, session.calling_aet, outcome, values)
            notes.insert(0, f"proc.json success = {outcome!r}")
        for note in notes:
            self.routelog.write(note)
        ids = self.deliveries.plan(session.id, planned)
        for delivery_id, item in zip(ids, planned, strict=False):
            self.routelog.write(
                f"{RoutingLog.ROUTE} delivery {delivery_id} -- {folder / item.folder} {item.ip} {item.port}"
                f" {item.calling_aet} {item.called_aet}",
            )
        if not planned:
            self.routelog.write(f"routing finished for {session.scratchdir}: no destination")

    # ---- sending -------------------------------------------------------------------------------
    def files_to_send(self, delivery: Delivery, session: Session) -> tuple[list[Outgoing], list[FileResult]]:
        """The files of the routed folder still to send, and the non-DICOM ones (skipped)."""
        root = self.store.layout.session_dir(session.scratchdir) / delivery.folder
        done = self.deliveries.sent_paths(delivery.id)
        which = delivery.which_groups
        outgoing: list[Outgoing] = []
        skipped: list[FileResult] = []
        for path in _walk(root):
            key = path.relative_to(root).as_posix()
            if key in done:
                continue
            if which is not None:
                verdict = evaluate.header_matches(path, which)
                if verdict is None:
                    skipped.append(FileResult(key, "skipped", None, "not a DICOM file"))
                if not verdict:
                    continue
            outgoing.append(Outgoing(path, key))
        return outgoing, skipped

    def send(self, delivery: Delivery, stop: threading.Event | None = None) -> Delivery:
        """One attempt of a claimed delivery; the outcome is recorded, never raised."""
        try:
            session = self.store.sessions.get(delivery.session_id)
        except NotFound:
            self.deliveries.cancel(delivery.id, "the session was deleted")
            return self.deliveries.get(delivery.id)
        target = f"{delivery.called_aet}@{delivery.ip}:{delivery.port}"
        results: list[FileResult] = []
        error = ""
        try:
            outgoing, skipped = self.files_to_send(delivery, session)
            results += skipped
            renewer = _LeaseRenewer(self.deliveries, delivery.id, self.settings.route_lease_s)
            statuses = send_files(
                outgoing, delivery.ip, delivery.port, delivery.calling_aet, delivery.called_aet,
                timeout_s=self.settings.route_timeout_s, progress=renewer, stop=stop,
            )  # fmt: skip
            results += [_result(s) for s in statuses]
        except SendFailed as exc:
            error = str(exc)
        except Exception as exc:  # a bug or an odd file must not kill the worker; retry later
            log.exception("delivery %d failed unexpectedly", delivery.id)
            error = f"{type(exc).__name__}: {exc}"
        interrupted = stop is not None and stop.is_set()
        if interrupted and not error:
            error = "the box stopped during the send; it continues after the restart"
        after = self.deliveries.finish_attempt(delivery.id, results, error, interrupted=interrupted)
        self._log_outcome(after, session, target)
        return after

    def _log_outcome(self, after: Delivery, session: Session, target: str) -> None:
        what = f"{session.scratchdir}/{after.folder} to {after.calling_aet} -> {target}"
        counts = f"{after.files_sent} sent, {after.files_failed} failed, {after.files_skipped} skipped"
        if after.state == DeliveryState.DONE:
            text = f"delivered {what} ({counts}, attempt {after.attempts})"
        elif after.state == DeliveryState.FAILED:
            text = f"gave up {what} after {after.attempts} attempts: {after.last_error}"
        else:
            text = (
                f"attempt {after.attempts} {what} failed: {after.last_error};"
                f" next try {_fmt_time(after.next_try_at)}"
            )
        self.routelog.write(f"{RoutingLog.DELIVERY} delivery {after.id} -- {text}")
        log.info("delivery %d: %s", after.id, text)


def _result(status: FileStatus) -> FileResult:
    return FileResult(status.key, status.outcome, status.status, status.detail)


def _walk(root: Path) -> list[Path]:
    """Regular files under `root`, sorted; symlinks are not followed out of the session."""
    found: list[Path] = []
    if root.is_symlink() or not root.is_dir():  # OUTPUT replaced by a link: nothing of the session
        return found
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink() and not name.startswith("."):
                found.append(path)
    return found


class _LeaseRenewer:
    """Keeps a long send's claim alive, without a write per file."""

    def __init__(self, deliveries: DeliveryStore, delivery_id: int, lease_s: float) -> None:
        self.deliveries = deliveries
        self.delivery_id = delivery_id
        self.lease_s = lease_s
        self.renewed = time.monotonic()

    def __call__(self, _status: FileStatus) -> None:
        if time.monotonic() - self.renewed > self.lease_s / 3:
            self.deliveries.renew(self.delivery_id, self.lease_s)
            self.renewed = time.monotonic()


class RouterStage:
    name = "router"

    def __init__(self, settings: Settings, store: RouterStore) -> None:
        self.settings = settings
        self.router = Router(settings, store)
        self._busy: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.route_workers, thread_name_prefix="route-send")
        self._loop = Loop("router", self._step, interval_s=settings.route_poll_s, scope=store.connection)
        self._stop = self._loop.stopping  # a send in the pool ends early when the box stops

    def start(self) -> None:
        released = self.router.deliveries.release_dead_claims()
        if released:
            log.warning("%d delivery(ies) were being sent when the box stopped; sending again", released)
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
        self._pool.shutdown(wait=True)

    def _step(self) -> None:
        self.router.plan_due()
        self._dispatch()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if len(self._busy) >= self.settings.route_workers:
                    return
                delivery = self.router.deliveries.claim(self.settings.route_lease_s, busy=set(self._busy))
                if delivery is None:
                    return
                self._busy.add((delivery.ip, delivery.port))
            self._pool.submit(self._run, delivery)

    def _run(self, delivery: Delivery) -> None:
        try:
            with self.router.store.connection():  # a pool thread holds no connection between sends
                self.router.send(delivery, stop=self._stop)
        finally:
            with self._lock:
                self._busy.discard((delivery.ip, delivery.port))
            self._loop.wake()


def create_stage(settings: Settings, store: RouterStore) -> RouterStage:
    return RouterStage(settings, store)
