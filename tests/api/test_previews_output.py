"""Pictures of what a bucket wrote: DICOM series in OUTPUT (found by the header scan of OUTPUT,
not the study index) and NIfTI three-plane previews; the issue's render URL by SOPInstanceUID."""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from magickbox.errors import NotFound
from magickbox.preview import Previews
from magickbox.store import Store
from tests.support import niftidata
from tests.support.previewoutputs import session_with_outputs
from tests.support.sessions import make_session


def _pixels(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_output_series_listing_thumbnail_and_instances(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    session, uid = session_with_outputs(store, tmp_path)
    base = f"/api/v1/sessions/{session.scratchdir}/output/series"
    listing = client.get(base).json()
    assert [(s["SeriesInstanceUID"], s["instances"], s["SeriesDescription"]) for s in listing] == [
        (uid, 3, "derived")
    ]
    thumb = _pixels(client.get(f"{base}/{uid}/thumbnail.png"))
    assert thumb.shape[:2] == (128, 128) and thumb.std() > 5
    assert np.array_equal(_pixels(client.get(f"{base}/{uid}/thumbnail")), thumb)
    instances = client.get(f"{base}/{uid}/instances").json()
    assert [i["tags"]["InstanceNumber"] for i in instances] == ["1", "2", "3"]
    assert _pixels(client.get(f"{base}/{uid}/instances/2/image.png", params={"size": 200})).shape[:2] == (
        200,
        200,
    )
    stored = client.get(f"{base}/{uid}/instances/1/file")
    assert pydicom.dcmread(io.BytesIO(stored.content)).SOPInstanceUID == instances[1]["SOPInstanceUID"]
    assert (store.layout.session_dir(session.scratchdir) / ".preview" / "series-OUTPUT.json").is_file()

    input_uid = str(store.studies.series(session.id)[0]["SeriesInstanceUID"])
    assert client.get(f"{base}/{input_uid}/instances").status_code == 404, "an INPUT series is not OUTPUT's"
    assert client.get(f"/api/v1/sessions/{session.scratchdir}/series/{uid}/instances").status_code == 404
    for hostile in ("1.2.3", "..", "derived", "%2e%2e"):
        answer = client.get(f"{base}/{hostile}/thumbnail.png")
        # 404: a UID OUTPUT does not have (or a path the client normalised); 400: not a UID at all
        wanted = (404,) if hostile == "1.2.3" else (400, 404)
        assert answer.status_code in wanted and "error" in answer.json(), hostile


def test_render_by_sop_instance_uid(client: TestClient, store: Store, tmp_path: Path) -> None:
    session, _ = session_with_outputs(store, tmp_path)
    uid = str(store.studies.series(session.id)[0]["SeriesInstanceUID"])
    base = f"/api/v1/sessions/{session.scratchdir}/series/{uid}"
    sops = [i["SOPInstanceUID"] for i in client.get(f"{base}/instances").json()]
    by_index = _pixels(client.get(f"{base}/instances/1/image.png", params={"size": 256}))
    by_uid = _pixels(client.get(f"{base}/instances/{sops[1]}/render", params={"size": 256}))
    assert np.array_equal(by_uid, by_index)
    narrow = _pixels(
        client.get(f"{base}/instances/{sops[1]}/render", params={"size": 256, "window": "40,10"})
    )
    assert ((narrow == 0) | (narrow == 255)).mean() > ((by_uid == 0) | (by_uid == 255)).mean()
    windowed = client.get(f"{base}/instances/1/image.png", params={"size": 256, "wc": 40, "ww": 10})
    assert np.array_equal(_pixels(windowed), narrow)

    assert client.get(f"{base}/instances/1.2.3/render").status_code == 404
    for bad in ("40", "40,0", "40,-5", "a,b", "40,10,3", "nan,10", "40,inf", "1e9,10"):
        answer = client.get(f"{base}/instances/{sops[0]}/render", params={"window": bad})
        assert answer.status_code == 400 and "window" in answer.json()["detail"], bad
    assert client.get(f"{base}/instances/{sops[0]}/render", params={"size": 5}).status_code == 422


def test_nifti_previews_by_listed_name(client: TestClient, store: Store, tmp_path: Path) -> None:
    session, _ = session_with_outputs(store, tmp_path)
    base = f"/api/v1/sessions/{session.scratchdir}/output/nifti"
    assert client.get(base).json() == ["brain.nii.gz", "derived/mask.nii"]
    picture = _pixels(client.get(f"{base}/brain.nii.gz/preview.png", params={"size": 300}))
    assert picture.shape[1] == 300 and picture.std() > 10
    nested = _pixels(client.get(f"{base}/derived/mask.nii/preview.png"))
    assert nested.shape[1] == 384 and not np.array_equal(nested[:, :300], picture[:, :300])
    cached = list((store.layout.session_dir(session.scratchdir) / ".preview").glob("nifti-*.png"))
    assert len(cached) == 2

    outside = tmp_path / "outside.nii"
    niftidata.write(outside, niftidata.gradient())
    os.symlink(outside, store.layout.output_dir(session.scratchdir) / "linked.nii")
    for hostile in (
        "report.txt", "missing.nii", "linked.nii", "..%2Fx", "%2e%2e/x.nii", "%2e%2e",
        "%2Fetc%2Fpasswd", "/etc/passwd", "derived%2F..%2Fbrain.nii.gz",
    ):  # fmt: skip
        answer = client.get(f"{base}/{hostile}/preview.png")
        assert answer.status_code == 404 and "error" in answer.json(), hostile
    previews = Previews(store)
    for name in ("../x", "../../magickbox.db", str(outside), "derived/../brain.nii.gz", "./brain.nii.gz"):
        with pytest.raises(NotFound):
            previews.nifti_preview(session.scratchdir, name)


def test_a_broken_nifti_is_a_placeholder_not_an_error(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    session, _ = session_with_outputs(store, tmp_path)
    (store.layout.output_dir(session.scratchdir) / "broken.nii.gz").write_bytes(b"\x1f\x8b garbage")
    answer = client.get(f"/api/v1/sessions/{session.scratchdir}/output/nifti/broken.nii.gz/preview.png")
    assert _pixels(answer).shape[:2] == (384, 384)


def test_a_session_without_output_lists_nothing(client: TestClient, store: Store) -> None:
    session = make_session(store)
    base = f"/api/v1/sessions/{session.scratchdir}/output"
    assert client.get(f"{base}/series").json() == [] and client.get(f"{base}/nifti").json() == []
    assert client.get("/api/v1/sessions/tmp.AAAAAAAAAA/output/series").status_code == 404
