"""The retriever thread: one retrieval at a time, its keys looked up in order, then its studies
fetched (`max_parallel` of the PACS at a time), each into one session."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from magickbox.config import PacsNode, Settings
from magickbox.dicom.qr import (
    CANCELLED,
    PacsUnreachable,
    Progress,
    StudyQuery,
    Watch,
    find_studies,
    move_study,
)
from magickbox.dicom.querykeys import KeyInvalid, check_key
from magickbox.loop import Loop
from magickbox.retrieve.cget import fetch_by_get
from magickbox.retrieve.needs import RetrieverStore
from magickbox.store import Retrieval, SessionKey, StudyToFetch

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often an idle retriever looks for a new retrieval
PROGRESS_EVERY_S = 1.0  # at most this often a study's sub-operation counts are written


class Retriever:
    name = "retriever"

    def __init__(self, settings: Settings, store: RetrieverStore) -> None:
        self.settings = settings
        self.store = store
        self._loop = Loop("retriever", self._step, interval_s=POLL_S, scope=store.connection)
        self._stop = self._loop.stopping  # the per-study work checks it between steps of a fetch

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        """Stop between studies. A study being fetched is left `moving`: the next start fetches it
        again into the same session (the PACS sends what is already there once more)."""
        self._loop.stop()

    def _step(self) -> float | None:
        """Run the next retrieval if there is one (then look again at once), else wait POLL_S."""
        retrieval = self.store.retrievals.next_to_run()
        if retrieval is None:
            return None
        self.run(retrieval)
        return 0.0

    def run(self, retrieval: Retrieval) -> None:
        """Look up the keys not looked up yet, fetch the studies not fetched yet, end it."""
        node = self.settings.pacs.get(retrieval.pacs)
        if node is None:
            log.warning("retrieval %d: PACS %r is no longer configured", retrieval.id, retrieval.pacs)
            for item_id, _key in self.store.retrievals.pending_keys(retrieval.id):
                self.store.retrievals.record_find_failed(
                    item_id, f"PACS {retrieval.pacs!r} is not configured"
                )
        else:
            self._look_up(retrieval, node)
            self._fetch_all(retrieval, node)
        if self._stop.is_set():
            return
        state = self.store.retrievals.finish(retrieval.id)
        log.info("retrieval %d %s", retrieval.id, state)
        self.store.notifications.record("retrieval.done", {"retrieval": retrieval.id, "state": state})

    def _halted(self, retrieval: Retrieval) -> bool:
        return self._stop.is_set() or self.store.retrievals.cancel_requested(retrieval.id)

    def _look_up(self, retrieval: Retrieval, node: PacsNode) -> None:
        for item_id, key in self.store.retrievals.pending_keys(retrieval.id):
            if self._halted(retrieval):
                return
            self._look_up_key(retrieval, node, item_id, key)

    def _look_up_key(self, retrieval: Retrieval, node: PacsNode, item_id: int, key: str) -> None:
        """One key: checked again (a row stored before the API checked keys, or by another
        version), then C-FINDed. Whatever goes wrong fails this key alone, with its reason."""
        try:
            value = check_key(key, retrieval.key_type, character_set=node.character_set)
        except KeyInvalid as exc:
            log.warning("retrieval %d: key %r refused: %s", retrieval.id, key, exc)
            self.store.retrievals.record_find_failed(item_id, f"refused: the key {exc}")
            return
        query = StudyQuery(
            retrieval.key_type, value, retrieval.study_date_from, retrieval.study_date_to,
            retrieval.modality, node.character_set,
        )  # fmt: skip
        try:
            studies = find_studies(node, self.settings.ae_title, query)
        except PacsUnreachable as exc:
            log.warning("retrieval %d: C-FIND of %r failed: %s", retrieval.id, key, exc)
            self.store.retrievals.record_find_failed(item_id, str(exc))
            return
        except Exception as exc:  # a poison pill: it would fail again on every try
            log.exception("retrieval %d: C-FIND of %r failed", retrieval.id, key)
            self.store.retrievals.record_find_failed(item_id, f"C-FIND failed: {type(exc).__name__}: {exc}")
            return
        self.store.retrievals.record_found(item_id, studies)

    def _fetch_all(self, retrieval: Retrieval, node: PacsNode) -> None:
        studies = self.store.retrievals.studies_to_fetch(retrieval.id)
        with ThreadPoolExecutor(max_workers=node.max_parallel, thread_name_prefix="retrieve") as pool:
            for outcome in pool.map(lambda s: self._fetch_in_thread(retrieval, node, s), studies):
                del outcome

    def _fetch_in_thread(self, retrieval: Retrieval, node: PacsNode, study: StudyToFetch) -> None:
        with self.store.connection():
            if self._halted(retrieval):
                return
            try:
                self.fetch(retrieval, node, study)
            except Exception as exc:  # fails this study alone (not again on every start)
                log.exception("retrieval %d: fetching study %s failed", retrieval.id, study.study_uid)
                self.store.retrievals.finish_study(
                    study, Progress(error=f"{type(exc).__name__}: {exc}"[:500]), cancelled=False
                )

    def fetch(self, retrieval: Retrieval, node: PacsNode, study: StudyToFetch) -> None:
        """One study into one session: made (or found again after a restart), filled, sealed."""
        bucket = self.store.catalog().by_name(retrieval.bucket)
        called = bucket.info.AETitle if bucket is not None else retrieval.destination
        key = SessionKey(node.ae_title, called, node.host, study.study_uid, f"retrieval-{retrieval.id}")
        session_id = self.store.retrievals.begin_study(study, key, retrieval.bucket, "scp_" + study.study_uid)
        if session_id is None:
            return
        study = replace(study, session_id=session_id)
        last = [0.0]

        def on_progress(progress: Progress) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
                last[0] = time.monotonic()
                self.store.retrievals.record_progress(study.id, progress)

        def cancelled() -> bool:
            # A stopping box asks the PACS to stop too (C-CANCEL), so a long move does not hold
            # the stop; the study stays `moving` and is fetched again at start.
            return self._stop.is_set() or self.store.retrievals.cancel_requested(retrieval.id)

        watch = Watch(on_progress, cancelled)
        try:
            if retrieval.method == "get":
                progress = fetch_by_get(self.store, node, self.settings.ae_title, study, watch)
            else:
                progress = move_study(
                    node,
                    self.settings.ae_title,
                    study.found(),
                    destination=retrieval.destination,
                    watch=watch,
                )
        except PacsUnreachable as exc:
            progress = Progress(error=str(exc))
        if self._stop.is_set():
            return  # the box is stopping: the study stays `moving` and is fetched again at start
        was_cancelled = progress.status == CANCELLED or (cancelled() and progress.status != 0)
        state = self.store.retrievals.finish_study(study, progress, cancelled=was_cancelled)
        log.info(
            "retrieval %d: study %s %s (%d completed, %d failed, %d warning%s)",
            retrieval.id, study.study_uid, state, progress.completed, progress.failed, progress.warning,
            f"; {progress.error}" if progress.error else "",
        )  # fmt: skip


def create_stage(settings: Settings, store: RetrieverStore) -> Retriever:
    return Retriever(settings, store)
