"""C-GET into a session: the PACS sends each instance on the same association and this stage
keeps it exactly as received (the data set bytes behind a Part 10 file meta)."""

from __future__ import annotations

import os
import secrets

from magickbox.config import PacsNode
from magickbox.dicom.part10 import file_meta
from magickbox.dicom.qr import STORE_FAILED, Progress, Watch, get_study
from magickbox.dicom.uid import is_valid_uid
from magickbox.retrieve.needs import RetrieverStore
from magickbox.store import StudyToFetch

SUCCESS = 0x0000


def fetch_by_get(
    store: RetrieverStore,
    node: PacsNode,
    calling_aet: str,
    study: StudyToFetch,
    watch: Watch,
) -> Progress:
    """C-GET `study` into its session's INPUT/; the instance counts reach the store at the end."""
    assert study.session_id is not None
    session = store.sessions.get(study.session_id)
    input_dir = store.layout.input_dir(session.scratchdir)
    incoming = store.layout.incoming_dir(session.scratchdir)
    incoming.mkdir(parents=True, exist_ok=True)
    added = [0, 0]  # new instances, bytes

    def keep(sop_class: str, sop_instance: str, syntax: str, data: bytes) -> int:
        if not is_valid_uid(sop_instance) or not is_valid_uid(sop_class):
            return STORE_FAILED
        content = file_meta(sop_class, sop_instance, syntax, source_aet=node.ae_title) + data
        target = input_dir / f"{sop_instance}.dcm"
        if target.exists() and target.read_bytes() == content:
            return SUCCESS  # fetched again after a restart: already here
        part = incoming / f"{secrets.token_hex(8)}.part"
        try:
            with open(part, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, target)
        except OSError:
            part.unlink(missing_ok=True)
            return STORE_FAILED
        added[0] += 1
        added[1] += len(content)
        return SUCCESS

    progress = get_study(node, calling_aet, study.found(), on_instance=keep, watch=watch)
    if added[0]:
        store.sessions.record_instances(study.session_id, added[0], added[1])
    return progress
