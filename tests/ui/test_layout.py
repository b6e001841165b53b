"""The front rooms in Chromium at desktop (1400 px) and phone (390 px) widths: the session page's
tables never run into each other, and the sessions list leads with the patient and the study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.previewstudy import send_study
from tests.ui.conftest import screenshot

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def _box(page: Any, selector: str) -> dict[str, float]:
    if selector.startswith("section:"):  # the table of the section headed so
        heading = page.locator("h2", has_text=selector.removeprefix("section:"))
        locator = page.locator("section", has=heading).locator("table")
    else:
        locator = page.locator(selector)
    box = locator.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return dict(box)


def _overlap(one: dict[str, float], other: dict[str, float]) -> bool:
    return (
        one["x"] < other["x"] + other["width"]
        and other["x"] < one["x"] + one["width"]
        and one["y"] < other["y"] + other["height"]
        and other["y"] < one["y"] + one["height"]
    )


def _finished(box: BoxProcess) -> bool:
    return [s["status"] for s in box.get_json("/code/php/getScratch.php")] == ["finished"]


def test_the_session_page_tables_do_not_overlap_and_the_list_leads_with_the_patient(
    tmp_path: Path, box_factory: type[BoxProcess], browser: Any
) -> None:
    box = box_factory(data=tmp_path / "data").start()
    sent = send_study(box, tmp_path / "study")
    wait_until(lambda: _finished(box), timeout=60, what="ProcCopy finished (its OUTPUT has series too)")
    for size in (DESKTOP, PHONE):
        context = browser.new_context(viewport=size)
        page = context.new_page()
        try:
            page.goto(f"{box.url}/ui/sessions/{sent.scratchdir}")
            tables = {name: _box(page, name) for name in ("#series", "#output-series", "section:History")}
            screenshot(page, f"layout-session-{size['width']}")
            for name, place in tables.items():
                for other, other_place in tables.items():
                    assert name == other or not _overlap(place, other_place), f"{name} runs into {other}"
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]

            page.goto(box.url + "/")
            screenshot(page, f"layout-sessions-{size['width']}")
            first_cell = page.locator("#sessions tbody tr").first.locator("td").first
            assert "Viewer^Test" in first_cell.inner_text()
            pid = page.locator("#sessions tbody tr a.pid").first
            font = float(pid.evaluate("a => parseFloat(getComputedStyle(a).fontSize)"))
            assert _box(page, "#sessions tbody tr a.pid")["height"] < 2 * font, "the pid wraps"
            assert pid.get_attribute("title") == box.get_json("/code/php/getScratch.php")[0]["pid"]
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        finally:
            context.close()
    desktop = browser.new_context(viewport=DESKTOP)
    try:
        page = desktop.new_page()
        page.goto(box.url + "/")
        assert page.locator("#sessions thead th").first.inner_text().strip().lower() == "patient"
    finally:
        desktop.close()
