"""The session page's pictures of OUTPUT over HTTP: an Outputs table with a thumbnail per DICOM
series, a three-plane picture beside each NIfTI file, and the viewer of an OUTPUT series."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi.testclient import TestClient

from magickbox.store import Store
from tests.support.previewoutputs import session_with_outputs
from tests.support.sessions import make_session


def _sources(page: str) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img[^>]* src="([^"]+)"', page)]


def test_session_page_shows_output_series_and_nifti_pictures(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    session, uid = session_with_outputs(store, tmp_path)
    page = client.get(f"/ui/sessions/{session.scratchdir}")
    assert page.status_code == 200 and 'id="output-series"' in page.text
    output = f"/ui/sessions/{session.scratchdir}/output"
    sources = _sources(page.text)
    assert f"{output}/series/{uid}/thumbnail.png" in sources
    nifti = sorted(s for s in sources if "/nifti/" in s)
    assert nifti == [
        f"{output}/nifti/brain.nii.gz/preview.png?size=192",
        f"{output}/nifti/derived/mask.nii/preview.png?size=192",
    ]
    for source in [*nifti, f"{output}/series/{uid}/thumbnail.png"]:
        picture = client.get(source)
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png", source
    assert "report.txt" in page.text and f"{output}/nifti/report.txt" not in page.text


def test_output_viewer_page(client: TestClient, store: Store, tmp_path: Path) -> None:
    session, uid = session_with_outputs(store, tmp_path)
    base = f"/ui/sessions/{session.scratchdir}/output/series/{uid}"
    page = client.get(base)
    assert page.status_code == 200
    assert (
        f'data-base="{base}"' in page.text and 'data-count="3"' in page.text and "OUTPUT series" in page.text
    )
    assert [i["tags"]["InstanceNumber"] for i in client.get(f"{base}/instances.json").json()] == [
        "1",
        "2",
        "3",
    ]
    assert client.get(f"{base}/instances/1/image.png").headers["content-type"] == "image/png"
    assert client.get(f"{base}/instances/2/file").headers["content-type"] == "application/dicom"
    assert client.get(f"/ui/sessions/{session.scratchdir}/output/series/1.2.3").status_code == 404
    input_viewer = client.get(f"/ui/sessions/{session.scratchdir}/series/{uid}")
    assert input_viewer.status_code == 404, "an OUTPUT series is not one of INPUT's"


def test_a_session_without_output_has_no_outputs_part(client: TestClient, store: Store) -> None:
    session = make_session(store)
    page = client.get(f"/ui/sessions/{session.scratchdir}")
    assert page.status_code == 200 and "output-series" not in page.text and "/nifti/" not in page.text
    assert not (store.layout.session_dir(session.scratchdir) / ".preview").exists(), "nothing written"
