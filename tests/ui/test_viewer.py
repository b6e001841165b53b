"""The series pictures in Chromium: thumbnails on the sessions list and the session page, and the
viewer paged with the keyboard and the wheel, windowed by preset, on a desktop and a phone; the
pictures of what a bucket wrote into OUTPUT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import niftidata
from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.previewstudy import send_study
from tests.ui import driving
from tests.ui.conftest import screenshot


def _loaded(image: Any) -> bool:
    return bool(image.evaluate("img => img.complete && img.naturalWidth > 0"))


def _wait_loaded(image: Any, what: str) -> None:
    # Polled from Python: the page's CSP forbids eval, which wait_for_function with a string needs.
    wait_until(lambda: _loaded(image), timeout=15, what=what)


def _shown(page: Any) -> tuple[str, bytes]:
    image = page.locator("#viewer-image")
    _wait_loaded(image, "the viewer's image")
    return str(image.get_attribute("src")), image.screenshot()


def test_thumbnails_and_the_viewer(tmp_path: Path, box_factory: type[BoxProcess], page: Any) -> None:
    box = box_factory(data=tmp_path / "data").start()
    sent = send_study(box, tmp_path / "study")
    page.goto(box.url + "/")
    _wait_loaded(page.locator("img.thumb").first, "the session's thumbnail on the list")

    page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}")
    thumbs = page.locator("#series img.thumb")
    assert thumbs.count() == 3
    for n in range(3):  # the RT plan's is a placeholder, loaded like the others
        _wait_loaded(thumbs.nth(n), f"series thumbnail {n}")
    thumbs.first.click()
    page.wait_for_url(f"**/series/{sent.ct}")

    first_src, first_pixels = _shown(page)
    assert page.locator("#viewer-position").text_content() == "3 / 4"
    wait_until(lambda: page.locator("#viewer-tags dd").count() > 5, timeout=10, what="the tag list")
    page.keyboard.press("ArrowDown")
    second_src, second_pixels = _shown(page)
    assert page.locator("#viewer-position").text_content() == "4 / 4"
    assert second_src != first_src and second_pixels != first_pixels, "paging changes the image"
    assert page.locator("#viewer-download").get_attribute("href", timeout=1000).endswith("/instances/3/file")
    page.locator("#viewer-stage").hover()
    page.mouse.wheel(0, -120)
    wait_until(lambda: page.locator("#viewer-position").text_content() == "3 / 4", timeout=5, what="wheel")
    page.get_by_role("button", name="Lung").click()
    lung_src, lung_pixels = _shown(page)
    assert "wc=-600" in lung_src and "ww=1500" in lung_src and lung_pixels != first_pixels
    screenshot(page, "viewer")

    page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}/series/{sent.plan}")
    _shown(page)  # a data set without pixels: a placeholder picture, not an error page
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}/series/{sent.ct}")
    _shown(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "fits a phone's width"
    screenshot(page, "viewer-phone")
    assert page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}/series/1.2.3").status == 404


def test_output_thumbnails_after_a_bucket_wrote_dicom(
    tmp_path: Path, box_factory: type[BoxProcess], page: Any
) -> None:
    box = box_factory(data=tmp_path / "data").start()
    sent = send_study(box, tmp_path / "study")  # to ProcCopy, which copies INPUT to OUTPUT
    store = driving.open_store(box.data)
    try:
        driving.wait_for_state(store, "VIEWER", "finished", timeout=60)
        # A NIfTI file beside the copies, as a conversion bucket would leave it.
        niftidata.write(store.layout.output_dir(sent.scratchdir) / "volume.nii.gz", niftidata.gradient())
    finally:
        store.db.close()

    page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}")
    thumbs = page.locator("#output-series img.thumb")
    assert thumbs.count() == 3, "the three series ProcCopy wrote into OUTPUT"
    for n in range(3):
        _wait_loaded(thumbs.nth(n), f"OUTPUT series thumbnail {n}")
    _wait_loaded(page.locator("img.nifti"), "the NIfTI file's three planes")
    assert page.locator("img.nifti").evaluate("img => img.naturalWidth") == 192
    page.locator(f"#output-series a[href$='/output/series/{sent.ct}']").first.click()
    page.wait_for_url(f"**/output/series/{sent.ct}")
    first_src, first_pixels = _shown(page)
    assert "/output/series/" in first_src and page.locator("#viewer-position").text_content() == "3 / 4"
    page.keyboard.press("ArrowUp")
    second_src, second_pixels = _shown(page)
    assert second_src != first_src and second_pixels != first_pixels, "paging an OUTPUT series"
    screenshot(page, "viewer-output")
