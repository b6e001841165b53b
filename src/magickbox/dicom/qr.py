"""Query/Retrieve as a client of a PACS: C-ECHO, C-FIND (study level), C-MOVE and C-GET.

Only pynetdicom's public SCU API is used here. Callers get plain results (status, counts, error
comment) and never a pynetdicom object; a PACS that cannot be reached raises `PacsUnreachable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, build_context, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext

from magickbox.config import PacsNode
from magickbox.dicom.querykeys import DEFAULT_CHARACTER_SET
from magickbox.dicom.uid import is_valid_uid

# PS3.4 Annex C.6: the Query/Retrieve information models (pynetdicom's names are not typed).
VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT = ("1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2", "1.2.840.10008.5.1.4.1.2.1.3")
STUDY_ROOT = ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.5.1.4.1.2.2.3")
PENDING = (0xFF00, 0xFF01)
CANCELLED = 0xFE00
# Status of a C-GET's C-STORE the box could not keep (PS3.4 Annex B: out of resources).
STORE_FAILED = 0xA700
# Transfer syntaxes offered for each storage class in a C-GET: one context per pair, so the
# PACS can send every instance in the syntax it holds (bit for bit) rather than convert it.
GET_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
MAX_CONTEXTS = 127  # PS3.8: context ids are odd numbers 1..255; one is the C-GET model's
# Offered when the PACS does not say which SOP classes a study holds (SOPClassesInStudy).
COMMON_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.7",  # secondary capture
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT structure set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT plan
    "1.2.840.10008.5.1.4.1.1.66.4",  # segmentation
)


class PacsUnreachable(Exception):
    """No association: the PACS is down, refused the box, or is not configured to know it."""


@dataclass(frozen=True)
class StudyQuery:
    """One C-FIND at study level: exactly one key, optionally narrowed by date range and modality."""

    key_type: str  # accession | study_uid | patient_id
    key: str
    date_from: str = ""  # YYYYMMDD
    date_to: str = ""
    modality: str = ""
    character_set: str = DEFAULT_CHARACTER_SET  # SpecificCharacterSet the key is sent in


@dataclass(frozen=True)
class FoundStudy:
    study_uid: str
    patient_id: str = ""
    accession: str = ""
    study_date: str = ""
    instances: int | None = None  # NumberOfStudyRelatedInstances, when the PACS says
    sop_classes: tuple[str, ...] = ()


@dataclass
class Progress:
    """The PACS's sub-operation counts from its pending responses, then its final status."""

    completed: int = 0
    remaining: int = 0
    failed: int = 0
    warning: int = 0
    status: int | None = None
    error: str = ""
    failed_uids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Watch:
    """What a C-MOVE or C-GET reports its progress to, and asks whether to stop (then it sends
    C-CANCEL once and reads on)."""

    on_progress: Callable[[Progress], None]
    cancelled: Callable[[], bool]


KEY_ATTRIBUTE = {"accession": "AccessionNumber", "study_uid": "StudyInstanceUID", "patient_id": "PatientID"}


def _models(node: PacsNode) -> tuple[str, str, str]:
    """(find, move, get) SOP classes of the node's information model."""
    return PATIENT_ROOT if node.query_model == "patient" else STUDY_ROOT


@contextmanager
def _association(node: PacsNode, calling_aet: str, ae: AE, **kwargs: object) -> Iterator[Association]:
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)  # type: ignore[arg-type]
    if not assoc.is_established:
        raise PacsUnreachable(
            f"no association with {node.ae_title}@{node.host}:{node.port} as {calling_aet}"
            f" ({'rejected' if assoc.is_rejected else 'aborted' if assoc.is_aborted else 'no answer'})"
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(node: PacsNode, calling_aet: str) -> int:
    """C-ECHO the PACS; returns its status (0 is success)."""
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(VERIFICATION)
    with _association(node, calling_aet, ae) as assoc:
        answer = assoc.send_c_echo()
    if "Status" not in answer:
        raise PacsUnreachable(f"{node.ae_title} did not answer the C-ECHO")
    return int(answer.Status)


def _identifier(query: StudyQuery) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in ("StudyInstanceUID", "PatientID", "AccessionNumber", "StudyDate", "ModalitiesInStudy"):
        setattr(ds, keyword, "")
    ds.NumberOfStudyRelatedInstances = ""
    ds.SOPClassesInStudy = ""
    if query.character_set != DEFAULT_CHARACTER_SET:
        ds.SpecificCharacterSet = query.character_set
    setattr(ds, KEY_ATTRIBUTE[query.key_type], query.key)
    if query.date_from or query.date_to:
        ds.StudyDate = f"{query.date_from}-{query.date_to}"
    if query.modality:
        ds.ModalitiesInStudy = query.modality
    return ds


def _found(ds: Dataset) -> FoundStudy:
    count = ds.get("NumberOfStudyRelatedInstances", "")
    classes = ds.get("SOPClassesInStudy", [])
    return FoundStudy(
        study_uid=str(ds.get("StudyInstanceUID", "")),
        patient_id=str(ds.get("PatientID", "")),
        accession=str(ds.get("AccessionNumber", "")),
        study_date=str(ds.get("StudyDate", "")),
        instances=int(count) if str(count).strip().isdigit() else None,
        sop_classes=tuple(str(c) for c in ([classes] if isinstance(classes, str) else classes) if c),
    )


def find_studies(node: PacsNode, calling_aet: str, query: StudyQuery) -> list[FoundStudy]:
    """C-FIND at study level; the studies matching, each once. Raises on a failure status."""
    find_model = _models(node)[0]
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(find_model)
    studies: dict[str, FoundStudy] = {}
    with _association(node, calling_aet, ae) as assoc:
        for status, ds in assoc.send_c_find(_identifier(query), find_model):
            if "Status" not in status:
                raise PacsUnreachable(f"{node.ae_title} stopped answering the C-FIND")
            if status.Status in PENDING and ds is not None:
                study = _found(ds)
                # The UID names the session's pid and is the C-MOVE/C-GET key: a match that is not
                # a UID (empty, `*`, a path) would fetch more than this study or name a path.
                if is_valid_uid(study.study_uid):
                    studies.setdefault(study.study_uid, study)
            elif status.Status != 0:
                raise PacsUnreachable(
                    f"{node.ae_title} answered the C-FIND with 0x{int(status.Status):04X}"
                    f" {status.get('ErrorComment', '')}".rstrip()
                )
    return list(studies.values())


def _retrieve_identifier(study: FoundStudy, node: PacsNode) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study.study_uid
    if node.query_model == "patient":
        ds.PatientID = study.patient_id
    return ds


def _follow(
    assoc: Association,
    responses: Iterator[tuple[Dataset, Dataset | None]],
    context_id: int,
    watch: Watch,
) -> Progress:
    """Read a C-MOVE's or C-GET's responses; a cancel sends C-CANCEL once and reads on."""
    progress = Progress()
    asked_cancel = False
    for status, ds in responses:
        if "Status" not in status:
            progress.error = progress.error or "the PACS stopped answering (association ended or timed out)"
            break
        progress.completed = int(status.get("NumberOfCompletedSuboperations", progress.completed) or 0)
        progress.remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        progress.failed = int(status.get("NumberOfFailedSuboperations", progress.failed) or 0)
        progress.warning = int(status.get("NumberOfWarningSuboperations", progress.warning) or 0)
        if status.Status in PENDING:
            watch.on_progress(progress)
            if not asked_cancel and watch.cancelled():
                asked_cancel = True
                assoc.send_c_cancel(1, context_id)
            continue
        progress.status = int(status.Status)
        progress.error = str(status.get("ErrorComment", "") or "")
        if ds is not None and "FailedSOPInstanceUIDList" in ds:
            uids = ds.FailedSOPInstanceUIDList
            progress.failed_uids = [str(u) for u in ([uids] if isinstance(uids, str) else uids)]
    return progress


def _context_id(assoc: Association, abstract_syntax: str) -> int:
    for context in assoc.accepted_contexts:
        if context.abstract_syntax == abstract_syntax and context.context_id is not None:
            return int(context.context_id)
    raise PacsUnreachable(f"the PACS did not accept {abstract_syntax}")


def move_study(
    node: PacsNode,
    calling_aet: str,
    study: FoundStudy,
    *,
    destination: str,
    watch: Watch,
) -> Progress:
    """C-MOVE one study to `destination` (an AE title the PACS knows)."""
    move_model = _models(node)[1]
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(move_model)
    with _association(node, calling_aet, ae) as assoc:
        responses = assoc.send_c_move(_retrieve_identifier(study, node), destination, move_model, msg_id=1)
        return _follow(assoc, responses, _context_id(assoc, move_model), watch)


def get_contexts(sop_classes: tuple[str, ...]) -> list[PresentationContext]:
    """Storage contexts for a C-GET: every offered syntax of each class, within the 127 limit."""
    contexts: list[PresentationContext] = []
    for sop_class in sop_classes or COMMON_STORAGE:
        for syntax in GET_SYNTAXES:
            if len(contexts) < MAX_CONTEXTS - 1:
                contexts.append(build_context(sop_class, [syntax]))
    return contexts


OnInstance = Callable[[str, str, str, bytes], int]


def get_study(
    node: PacsNode,
    calling_aet: str,
    study: FoundStudy,
    *,
    on_instance: OnInstance,
    watch: Watch,
) -> Progress:
    """C-GET one study: the PACS sends its instances back on this association (the box is the
    storage SCP). `on_instance(sop_class, sop_instance, transfer_syntax, data_set_bytes)` keeps
    each one exactly as received and returns the C-STORE status to answer."""
    get_model = _models(node)[2]
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(get_model)
    contexts = get_contexts(study.sop_classes)
    roles = []
    for sop_class in dict.fromkeys(str(c.abstract_syntax) for c in contexts):
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = sop_class
        role.scu_role = False
        role.scp_role = True
        roles.append(role)
    ae.requested_contexts = [*ae.requested_contexts, *contexts]

    def store(event: evt.Event) -> int:
        request = event.request
        assert isinstance(request, C_STORE)
        data = request.DataSet.getvalue() if request.DataSet is not None else b""
        return on_instance(
            str(request.AffectedSOPClassUID),
            str(request.AffectedSOPInstanceUID),
            str(event.context.transfer_syntax),
            data,
        )

    handlers = [(evt.EVT_C_STORE, store)]
    with _association(node, calling_aet, ae, ext_neg=roles, evt_handlers=handlers) as assoc:
        responses = assoc.send_c_get(_retrieve_identifier(study, node), get_model, msg_id=1)
        return _follow(assoc, responses, _context_id(assoc, get_model), watch)
