"""A study sent with storescu: its series pictures and instances over the HTTP API."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
from PIL import Image

from tests.support.box import BoxProcess
from tests.support.previewstudy import send_study


def _png(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_series_pictures_of_a_sent_study(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    box = box_factory(data=tmp_path / "data").start()
    sent = send_study(box, tmp_path / "study")
    base = f"{box.url}/api/v1/sessions/{sent.scratchdir}/series"
    with httpx.Client(timeout=30) as http:
        thumb = _png(http.get(f"{base}/{sent.ct}/thumbnail.png"))
        assert thumb.shape[:2] == (128, 128) and thumb.std() > 5, "a real picture whose pixels vary"
        assert _png(http.get(f"{base}/{sent.ct}/thumbnail.png", params={"size": 64})).shape[:2] == (64, 64)
        assert _png(http.get(f"{base}/{sent.jpeg2000}/thumbnail.png")).std() > 5
        assert _png(http.get(f"{base}/{sent.plan}/thumbnail.png")).shape[:2] == (128, 128)

        listing = http.get(f"{base}/{sent.ct}/instances").json()
        assert [i["tags"]["InstanceNumber"] for i in listing] == ["1", "2", "3", "4"]
        first = _png(http.get(f"{base}/{sent.ct}/instances/0/image.png", params={"size": 256}))
        last = _png(http.get(f"{base}/{sent.ct}/instances/3/image.png", params={"size": 256}))
        assert first.shape == (256, 256) and not np.array_equal(first, last)
        narrow = _png(http.get(f"{base}/{sent.ct}/instances/0/image.png", params={"wc": 40, "ww": 10}))
        assert ((narrow == 0) | (narrow == 255)).mean() > ((first == 0) | (first == 255)).mean()

        download = http.get(f"{base}/{sent.ct}/instances/2/file")
        assert download.headers["content-type"] == "application/dicom"
        ds = pydicom.dcmread(io.BytesIO(download.content))
        assert ds.SOPInstanceUID == listing[2]["SOPInstanceUID"] and ds.InstanceNumber == 3

        for hostile in (
            f"{base}/1.2.3/thumbnail.png",  # a series of no session
            f"{base}/..%2F..%2Fmagickbox.db/thumbnail.png",
            f"{base}/{sent.ct}/instances/4/image.png",
            f"{base}/{sent.ct}/instances/-1/file",
            f"{box.url}/api/v1/sessions/tmp.AAAAAAAAAA/series/{sent.ct}/instances",
            f"{box.url}/api/v1/sessions/..%2Fx/series/{sent.ct}/instances",
        ):
            answer = http.get(hostile)
            # 400: a series id that is no UID is refused before any look-up; 404: none such
            assert answer.status_code in (400, 404) and "error" in answer.json(), hostile
        too_big = http.get(f"{base}/{sent.ct}/instances/0/image.png", params={"size": 100000})
        assert too_big.status_code == 422
