"""The sessions one association feeds: one per Study Instance UID, joined or created on first use.

Every instance of the association is counted here; counts reach the store in batches (at most
once a second, and when the association ends) so the hot path does not write SQLite per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from magickbox.dicom import studyattrs
from magickbox.dicom.header import SERIES_INSTANCE_UID
from magickbox.dicom.studyattrs import SeriesAttrs, StudyAttrs
from magickbox.dicom.uid import is_valid_uid
from magickbox.errors import StoreFull
from magickbox.receive.needs import ReceiverStore, SealerStore
from magickbox.store import Bucket, SessionKey, SessionState, StudyTally

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0


@dataclass
class SessionSlot:
    """One session this association feeds, with what it added since the last flush."""

    session_id: int
    scratchdir: str
    # Plain strings: the writer builds a path from them per instance, and pathlib costs more
    # than the rest of putting a small file in place.
    input_dir: str
    incoming_dir: str
    pending_instances: int = 0
    pending_bytes: int = 0
    study: StudyTally = field(default_factory=StudyTally)  # index entries since the last flush
    # Decoded once per session and series (by raw SeriesInstanceUID): the hot path only counts.
    study_attrs: StudyAttrs | None = None
    series_attrs: dict[bytes, SeriesAttrs] = field(default_factory=dict)
    settle_s: float | None = None  # 0 for a retrieval's session: sealed as soon as all have ended


class NoSession(Exception):
    """An instance to the box's own AE title of a study no retrieval is fetching."""


RetrievalLookup = Callable[[str, str], "int | None"]


@dataclass(frozen=True)
class Peer:
    calling_aet: str
    called_aet: str
    ip: str
    port: int


def study_key_and_pid(study_uid: str) -> tuple[str, str]:
    """The session key's study part and the session's pid for a Study Instance UID as received.

    A valid UID (digits and dots, at most 64) is used as it is; anything else (slashes, spaces,
    shell syntax, 64 KB...) is replaced by a short hash, so `pid` always matches
    `[A-Za-z0-9._-]{1,80}` and nothing unbounded reaches the database or getScratch.
    """
    if is_valid_uid(study_uid):
        return study_uid, "scp_" + study_uid
    digest = hashlib.sha256(study_uid.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return "invalid-" + digest, "scp_x" + digest


@contextmanager
def thread_db(store: SealerStore) -> Iterator[None]:
    """Association threads are short-lived: after each use their SQLite connection is left for
    the next thread (Database.release), so an ended association holds none."""
    with store.connection():
        yield


def tidy_incoming(store: SealerStore, session_id: int) -> None:
    """A session that can no longer receive needs no `.incoming/` folder."""
    session = store.sessions.get(session_id)
    if session.state != SessionState.RECEIVING:
        store.layout.clear_incoming(session.scratchdir)


class AssociationTracker:
    """Thread-safe: the DUL thread adds instances, the handler thread ends the association."""

    def __init__(
        self,
        store: ReceiverStore,
        peer: Peer,
        bucket: Bucket | None,
        settle_s: float,
        *,
        retrieval_session: RetrievalLookup | None = None,
        on_unrecorded: Callable[[int, str], None] | None = None,
    ) -> None:
        self.store = store
        self.peer = peer
        self.bucket = bucket  # None: the box's own AE title, for retrieved studies only
        self.settle_s = settle_s
        self.retrieval_session = retrieval_session
        # Where ends a full disk refused go to be retried (the sealer's process keeps them).
        self.on_unrecorded = on_unrecorded or store.sessions.unrecorded_ends.add
        self.group_key = "assoc-" + secrets.token_hex(8)
        self.instances = 0
        self.bytes = 0
        self._slots: dict[str | None, SessionSlot] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._ended = False  # no new sessions: the association is over (or being ended)
        self._settled = False  # its sessions were released or aborted in the store

    def slot_for(self, study_uid: str | None) -> SessionSlot:
        """The session of this study for this association (created or joined on first use)."""
        with self._lock:
            slot = self._slots.get(study_uid)
            if slot is not None:
                return slot
            if self._ended:
                raise RuntimeError("the association has ended")
            slot = self._join(study_uid)
            self._slots[study_uid] = slot
            return slot

    def _join(self, study_uid: str | None) -> SessionSlot:
        retrieved = self._join_retrieval(study_uid)
        if retrieved is not None:
            return retrieved
        if self.bucket is None:
            raise NoSession(
                f"no retrieval of the box is fetching study {study_uid!r} from {self.peer.calling_aet}"
            )
        if study_uid is None:
            key = SessionKey(self.peer.calling_aet, self.peer.called_aet, self.peer.ip, None, self.group_key)
            pid = "scp_" + self.group_key
        else:
            study_key, pid = study_key_and_pid(study_uid)
            key = SessionKey(self.peer.calling_aet, self.peer.called_aet, self.peer.ip, study_key)
        with thread_db(self.store):
            session = self.store.sessions.join_or_create(key, self.bucket.name, pid=pid)
        layout = self.store.layout
        incoming = layout.incoming_dir(session.scratchdir)
        incoming.mkdir(exist_ok=True)
        log.info("association %s feeds session %s (pid %s)", self.group_key, session.scratchdir, pid)
        return SessionSlot(
            session.id, session.scratchdir, str(layout.input_dir(session.scratchdir)), str(incoming)
        )

    def _join_retrieval(self, study_uid: str | None) -> SessionSlot | None:
        """The session of a study a retrieval is fetching from this peer, if it is one."""
        if study_uid is None or self.retrieval_session is None or not is_valid_uid(study_uid):
            return None
        with thread_db(self.store):
            session_id = self.retrieval_session(self.peer.calling_aet, study_uid)
            if session_id is None:
                return None
            session = self.store.sessions.get(session_id)
        layout = self.store.layout
        incoming = layout.incoming_dir(session.scratchdir)
        incoming.mkdir(exist_ok=True)
        log.info("association %s feeds retrieved session %s", self.group_key, session.scratchdir)
        return SessionSlot(
            session.id,
            session.scratchdir,
            str(layout.input_dir(session.scratchdir)),
            str(incoming),
            settle_s=0.0,
        )

    def count(self, slot: SessionSlot, nbytes: int, indexed: dict[int, bytes] | None = None) -> None:
        """One instance is in INPUT/: count it, and note its index attributes (header bytes)."""
        with self._lock:
            slot.pending_instances += 1
            slot.pending_bytes += nbytes
            self.instances += 1
            self.bytes += nbytes
            self._note_index(slot, indexed or {}, nbytes)
            if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
                # The instance is already durable in INPUT/; counts a full disk refuses stay
                # pending for the next flush (the release's flush must succeed; restart recounts).
                with contextlib.suppress(StoreFull):
                    self._flush()

    @staticmethod
    def _note_index(slot: SessionSlot, indexed: dict[int, bytes], nbytes: int) -> None:
        raw_uid = indexed.get(SERIES_INSTANCE_UID, b"")
        series = slot.series_attrs.get(raw_uid)
        if series is None or slot.study_attrs is None:
            study, series = studyattrs.from_raw(indexed)
            slot.study_attrs = slot.study_attrs or study
            slot.series_attrs[raw_uid] = series
        slot.study.add(slot.study_attrs, series, nbytes)

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        with thread_db(self.store):
            for slot in self._slots.values():
                if slot.pending_instances:
                    self.store.sessions.record_instances(
                        slot.session_id, slot.pending_instances, slot.pending_bytes
                    )
                    slot.pending_instances = slot.pending_bytes = 0
                if not slot.study.empty or self._ended:
                    self.store.studies.add(slot.session_id, slot.study, complete=self._ended)
                    slot.study = StudyTally()

    def end(self, released: bool, reason: str, after: Callable[[], None] | None = None) -> None:
        """The association is over: release its sessions (settle window) or mark them incomplete.

        When the store cannot write (full disk) the ends are handed to the store's unrecorded
        ends, which the sealer retries, and a release raises `StoreFull` so that the caller cuts
        the connection: the sender must not believe a send the box could not record.
        """
        with self._lock:
            if self._settled:
                return
            self._ended = True
            with thread_db(self.store):
                recorded = self._settle(released, reason)
            self._settled = True
        if after is not None:
            after()
        if released and not recorded:
            raise StoreFull("the release could not be recorded: the data folder is full")

    def _settle(self, released: bool, reason: str) -> bool:
        """Record the end of every session; False if the store refused (then deferred as aborts)."""
        try:
            self._flush()
            for slot in self._slots.values():
                if released:
                    settle = self.settle_s if slot.settle_s is None else slot.settle_s
                    self.store.sessions.release(slot.session_id, settle)
                    tidy_incoming(self.store, slot.session_id)
                else:
                    self.store.sessions.abort(slot.session_id, reason)
            return True
        except StoreFull:
            why = "the end of an association could not be recorded (the data folder was full)"
            log.warning("association %s: %s; retrying until the store can write", self.group_key, why)
            for slot in self._slots.values():
                self.on_unrecorded(slot.session_id, why)
            return False

    @property
    def session_dirs(self) -> list[str]:
        with self._lock:
            return [slot.scratchdir for slot in self._slots.values()]
