"""`/api/v1/pacs` and `/api/v1/retrievals`: C-ECHO a PACS; start, follow and cancel retrievals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from magickbox.config import PacsNode, Settings
from magickbox.dicom.qr import PacsUnreachable, echo
from magickbox.dicom.querykeys import KeyInvalid, check_key
from magickbox.errors import NotFound
from magickbox.store import NewRetrieval, Store
from magickbox.web.deps import actor_of, audit, get_settings, get_store, require_read, require_write
from magickbox.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["retrievals"])
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# A key is one DICOM value: accession (SH, 16), UID (64) or patient id (LO, 64); checked against
# its VR and the PACS's character set by `check_keys` (the bound here only caps what is read).
Key = Annotated[str, StringConstraints(max_length=1000)]
MAX_REPORTED = 20  # invalid keys named in one 422 answer
DicomDate = Annotated[str, StringConstraints(pattern=r"^(\d{8})?$")]
MAX_KEYS = 10_000


class RetrievalIn(BaseModel):
    pacs: str = Field(min_length=1, max_length=64)
    bucket: str = Field(min_length=1, max_length=200, description="bucket name or its AE title")
    keys: list[Key] = Field(min_length=1, max_length=MAX_KEYS)
    key_type: Literal["accession", "study_uid", "patient_id"] = "accession"
    study_date_from: DicomDate = ""
    study_date_to: DicomDate = ""
    modality: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{0,16}$")] = ""
    method: Literal["move", "get"] | None = Field(default=None, description="default: the PACS's method")
    destination: Literal["box", "bucket"] = Field(
        default="box", description="C-MOVE destination: the box's own AE title or the bucket's"
    )


class RetrievalCreated(BaseModel):
    id: int
    state: str


class EchoOut(BaseModel):
    pacs: str
    ok: bool
    status: int | None
    error: str


def check_keys(keys: list[str], key_type: str, node: PacsNode) -> list[str]:
    """The keys as they will be sent, or 422 naming each refused key and why: no key may match
    more than the one value it names (no wildcard, control character, empty or unencodable key)."""
    checked: list[str] = []
    refused: list[dict[str, Any]] = []
    for index, key in enumerate(keys):
        try:
            checked.append(check_key(key, key_type, character_set=node.character_set))
        except KeyInvalid as exc:
            refused.append({"index": index, "key": key, "reason": f"the key {exc}"})
    if refused:
        raise ApiError(422, "invalid key", refused[:MAX_REPORTED])
    return checked


def _node_or_404(settings: Settings, name: str) -> PacsNode:
    node = settings.pacs.get(name)
    if node is None:
        raise ApiError(
            404, "no such PACS", f"{name!r} is not in setting pacs (known: {sorted(settings.pacs)})"
        )
    return node


@router.get("/pacs", dependencies=[Depends(require_read)])
def list_pacs(settings: SettingsDep) -> dict[str, dict[str, Any]]:
    """The PACS nodes of setting `pacs`."""
    return {name: node.model_dump() for name, node in sorted(settings.pacs.items())}


@router.post("/pacs/{name}/echo", dependencies=[Depends(require_write)])
async def echo_pacs(name: str, settings: SettingsDep) -> EchoOut:
    """C-ECHO the PACS with the box's AE title."""
    node = _node_or_404(settings, name)
    try:
        status = await run_in_threadpool(echo, node, settings.ae_title)
    except PacsUnreachable as exc:
        return EchoOut(pacs=name, ok=False, status=None, error=str(exc))
    return EchoOut(pacs=name, ok=status == 0, status=status, error="")


@router.post("/retrievals", dependencies=[Depends(require_write)], status_code=201)
def create_retrieval(
    body: RetrievalIn, request: Request, store: StoreDep, settings: SettingsDep
) -> RetrievalCreated:
    """Fetch the studies of these keys from the PACS into the bucket, one session per study."""
    node = _node_or_404(settings, body.pacs)
    catalog = store.catalog()
    bucket = catalog.by_name(body.bucket) or catalog.for_called_aet(body.bucket)
    if bucket is None or not bucket.info.enabled:
        raise ApiError(404, "no such bucket", f"{body.bucket!r} is not an enabled bucket of this box")
    if body.study_date_from and body.study_date_to and body.study_date_from > body.study_date_to:
        raise ApiError(422, "bad date range", "study_date_from is after study_date_to")
    keys = check_keys(body.keys, body.key_type, node)
    method = body.method or node.method
    destination = settings.ae_title if body.destination == "box" else bucket.info.AETitle
    new = NewRetrieval(
        pacs=body.pacs, bucket=bucket.name, method=method, destination=destination, key_type=body.key_type,
        keys=list(dict.fromkeys(keys)), study_date_from=body.study_date_from,
        study_date_to=body.study_date_to, modality=body.modality, created_by=actor_of(request).name,
    )  # fmt: skip
    retrieval_id = store.retrievals.create(new)
    what = f"retrieval {retrieval_id}: {len(new.keys)} {new.key_type} keys"
    audit(request, "retrieval-create", detail=f"{what} from {new.pacs} into {new.bucket}")
    return RetrievalCreated(id=retrieval_id, state=store.retrievals.get(retrieval_id).state)


@router.get("/retrievals", dependencies=[Depends(require_read)])
def list_retrievals(store: StoreDep) -> list[dict[str, Any]]:
    """The newest 100 retrievals, with how many keys are in each state."""
    return store.retrievals.listing()


@router.get("/retrievals/{retrieval_id}", dependencies=[Depends(require_read)])
def get_retrieval(retrieval_id: int, store: StoreDep) -> dict[str, Any]:
    """A retrieval: per key its state and studies, per study its progress and session scratchdir."""
    try:
        return store.retrievals.report(retrieval_id)
    except NotFound:
        raise ApiError(404, "no such retrieval", f"retrieval {retrieval_id} does not exist") from None


@router.post("/retrievals/{retrieval_id}/cancel", dependencies=[Depends(require_write)])
def cancel_retrieval(request: Request, retrieval_id: int, store: StoreDep) -> RetrievalCreated:
    """Stop a retrieval: a running C-MOVE/C-GET gets a C-CANCEL, keys not fetched yet are not."""
    try:
        retrieval = store.retrievals.request_cancel(retrieval_id)
    except NotFound:
        raise ApiError(404, "no such retrieval", f"retrieval {retrieval_id} does not exist") from None
    audit(request, "retrieval-cancel", detail=f"retrieval {retrieval_id}")
    return RetrievalCreated(id=retrieval.id, state=retrieval.state)
