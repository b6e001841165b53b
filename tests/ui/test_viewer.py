"""The series pictures in Chromium: thumbnails on the sessions list and the session page, and the
viewer paged with the keyboard and the wheel, windowed by preset, on a desktop and a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.previewstudy import send_study
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
