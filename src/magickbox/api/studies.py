"""The study index over HTTP: the study attributes of a session, its series, the search
parameters of /api/v1/sessions, and the original's getArchive.php (List Studies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from magickbox.api.actions import find_session
from magickbox.dicom.studyattrs import SeriesAttrs, StudyAttrs
from magickbox.store import SessionFilter, Store, StudyFilter
from magickbox.web.deps import audit, get_store, require_read

router = APIRouter()
StoreDep = Annotated[Store, Depends(get_store)]
DATE = r"^\d{8}$"


@dataclass(frozen=True)
class StudyOut(StudyAttrs):
    """A session's study, as the index keeps it (strings, DICOM keywords), with its series' sums."""

    Modality: str = ""  # every modality of its series, `CT\\MR`
    SeriesCount: str = "0"
    InstanceCount: str = "0"


@dataclass(frozen=True)
class SeriesOut(SeriesAttrs):
    """A series as the index keeps it, with what it received."""

    instances: int = 0
    bytes: int = 0


@dataclass
class StudyQuery:
    """The study-index parameters of /api/v1/sessions."""

    q: Annotated[str, Query(max_length=200)] = ""
    patient_id: Annotated[str, Query(max_length=200)] = ""
    accession: Annotated[str, Query(max_length=200)] = ""
    modality: Annotated[str, Query(max_length=16)] = ""
    study_date_from: Annotated[str, Query(pattern=DATE, description="YYYYMMDD")] = ""
    study_date_to: Annotated[str, Query(pattern=DATE, description="YYYYMMDD")] = ""

    def filter(self) -> StudyFilter:
        return StudyFilter(
            q=self.q, patient_id=self.patient_id, accession=self.accession, modality=self.modality,
            study_date_from=self.study_date_from, study_date_to=self.study_date_to,
        )  # fmt: skip


DEFAULT_STUDY_QUERY = StudyQuery()


@router.get("/api/v1/sessions/{scratchdir}/series", dependencies=[Depends(require_read)], tags=["api v1"])
def series(store: StoreDep, scratchdir: str) -> list[SeriesOut]:
    """The series of a session, by SeriesNumber: description, modality, instances, bytes."""
    session = find_session(store, scratchdir)
    return [SeriesOut(**item) for item in store.studies.series(session.id)]  # type: ignore[arg-type]


@router.get("/code/php/getArchive.php", dependencies=[Depends(require_read)], tags=["original endpoints"])
def get_archive(request: Request, store: StoreDep) -> list[dict[str, str]]:
    """The original's List Studies: one entry per study (newest session first), from the index."""
    sessions = store.queries.list_sessions(SessionFilter(), limit=None).sessions
    studies = store.studies.summaries(s.id for s in sessions)
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for session in sessions:
        study = studies.get(session.id)
        uid = session.study_uid or ""
        if study is None or not uid or uid in seen:
            continue
        seen.add(uid)
        out.append(
            {
                "PatientID": study["PatientID"], "AccessionNumber": study["AccessionNumber"], "SIUID": uid,
                "StudyDate": study["StudyDate"], "PatientName": study["PatientName"],
                "StudyDescription": study["StudyDescription"],
            }
        )  # fmt: skip
    audit(request, "list", detail=f"getArchive.php: {len(out)} studies")
    return out
