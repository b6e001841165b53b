"""The web page in a real browser (Debian's Chromium via Playwright) against a real `magickbox serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.box import BoxProcess
from tests.ui import driving
from tests.ui.conftest import screenshot

XSS_AET = "<b>x</b>'\"><img src=x onerror=window.__xss=1>"[:16]
XSS_LINE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">\n'


@pytest.fixture
def box(box_factory: type[BoxProcess], tmp_path: Path) -> BoxProcess:
    box = box_factory(data=tmp_path / "data")
    box.add_bucket(
        "ProcCopy",
        {"name": "Copy", "AETitle": "ProcCopy", "description": "copies INPUT to OUTPUT", "enabled": 1},
        '#!/bin/sh\ncp -r "$1"/. "$2"/\n',
    )
    return box.start(wait_dicom=False)


def _api_has(box: BoxProcess, method: str, path: str) -> bool:
    """Whether the merged API serves this endpoint yet (the page only calls the API)."""
    paths = httpx.get(box.url + "/openapi.json", timeout=5).json()["paths"]
    return method.lower() in paths.get(path, {})


def test_a_session_appears_runs_and_finishes_without_reload(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    page.goto(box.url + "/")
    page.evaluate("window.__sameDocument = 42")
    assert "No sessions yet" in page.inner_text("#session-rows")

    session = driving.received(store, "SCANNER1")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    row.locator(".badge.state-queued").wait_for()
    driving.start(store, session, "step 1\n")
    row.locator(".badge.state-running").wait_for()
    driving.finish(store, session)
    row.locator(".badge.state-finished").wait_for()

    assert page.evaluate("window.__sameDocument") == 42  # the page was never reloaded
    text = row.inner_text()
    assert "SCANNER1" in text and "ProcCopy" in text and "127.0.0.1" in text
    assert page.inner_text("#session-count") == "1"
    screenshot(page, "sessions")


def test_filters_narrow_the_table(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    first = driving.received(store, "ALPHA")
    second = driving.received(store, "BETA")
    driving.start(store, second)
    page.goto(box.url + "/")
    page.fill("input[name=q]", "alpha")
    page.locator(f"tr[data-scratchdir='{second.scratchdir}']").wait_for(state="detached")
    assert page.locator(f"tr[data-scratchdir='{first.scratchdir}']").count() == 1
    assert "q=alpha" in page.url

    page.fill("input[name=q]", "")
    page.select_option("select[name=state]", "running")
    page.locator(f"tr[data-scratchdir='{first.scratchdir}']").wait_for(state="detached")
    assert page.locator(f"tr[data-scratchdir='{second.scratchdir}']").count() == 1


def test_session_page_follows_the_log_live_and_escapes_it(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    session = driving.received(store, "LOGGER")
    driving.start(store, session, "first line\n")
    page.goto(box.url + f"/ui/sessions/{session.scratchdir}")
    page.locator("#live-log", has_text="first line").wait_for()

    driving.append_log(store, session, XSS_LINE + "second line ✓\n")
    page.locator("#live-log", has_text="second line ✓").wait_for()
    assert XSS_LINE.strip() in page.inner_text("#live-log")
    assert page.evaluate("window.__xss") is None
    screenshot(page, "session-running")

    driving.finish(store, session)
    page.locator("#session-state .state-finished").wait_for()  # the page refreshes once it ended
    assert "result.txt" in page.inner_text("main")
    assert '"success": "success"' in page.inner_text("main")
    screenshot(page, "session-finished")


def test_values_from_outside_are_shown_as_text(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    session = driving.received(store, XSS_AET)
    driving.start(store, session, XSS_LINE)
    for path in ("/", f"/ui/sessions/{session.scratchdir}", "/ui/system"):
        page.goto(box.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
    page.goto(box.url + "/")
    assert XSS_AET in page.inner_text("#session-rows")


def test_download_output_zip(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    if not _api_has(box, "GET", "/code/php/getOutputZip.php"):
        pytest.skip("the API's getOutputZip.php is not merged yet")
    store = driving.open_store(box.data)
    session = driving.received(store, "DOWNLOADER")
    driving.start(store, session)
    driving.finish(store, session)
    page.goto(box.url + "/")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    with page.expect_download() as info:
        row.locator("a", has_text="Output").click()
    download = info.value
    assert download.suggested_filename == f"{session.scratchdir}.zip"
    target = tmp_path / "out.zip"
    download.save_as(target)
    import zipfile

    with zipfile.ZipFile(target) as archive:
        assert f"{session.scratchdir}/OUTPUT/result.txt" in archive.namelist()


def test_delete_asks_first_and_removes_the_row(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    session = driving.received(store, "DELETER")
    driving.start(store, session)
    driving.finish(store, session)
    page.goto(box.url + "/")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    messages: list[str] = []

    def dismiss(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.locator("button[data-action=delete]").click()
    page.wait_for_timeout(300)
    assert messages and "Delete session" in messages[0]
    assert (box.data / "scratch" / session.scratchdir).exists()  # declined: nothing happened

    if not _api_has(box, "DELETE", "/api/v1/sessions/{scratchdir}"):
        pytest.skip("the API's session delete is not merged yet")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=delete]").click()
    row.wait_for(state="detached")
    assert not (box.data / "scratch" / session.scratchdir).exists()


def test_buckets_page_shows_commands_and_invalid_buckets(box: BoxProcess, page: Any) -> None:
    bad = box.data / "streams" / "Broken"
    bad.mkdir()
    (bad / "info.json").write_text('{"name": "<i>broken</i>"')
    page.goto(box.url + "/ui/buckets")
    text = page.inner_text("main")
    assert f"storescu +sd +r -nh -aet MySelf -aec ProcCopy 127.0.0.1 {box.dicom_port} <dir>" in text
    assert "mb push ProcCopy <dir>" in text
    assert "Broken" in text and "not readable JSON" in text
    page.locator("button[data-copy^='storescu']").click()
    page.locator("#notice").wait_for()
    screenshot(page, "buckets")


def test_toggle_a_bucket(box: BoxProcess, page: Any) -> None:
    if not _api_has(box, "POST", "/api/v1/buckets/{name}/disable"):
        pytest.skip("the API's bucket enable/disable is not merged yet")
    page.goto(box.url + "/ui/buckets")
    switch = page.locator("input[data-bucket-toggle=ProcCopy]")
    assert switch.is_checked()
    switch.click()
    page.locator("#notice", has_text="ProcCopy disabled").wait_for()
    page.reload()
    assert not page.locator("input[data-bucket-toggle=ProcCopy]").is_checked()


def test_routing_editor_refuses_invalid_json(box: BoxProcess, page: Any) -> None:
    page.goto(box.url + "/ui/routing")
    page.fill("#routing-text", '{"routing": [ {"name": "x",  }')
    page.click("button[data-routing=save]")
    page.locator("#routing-errors li").first.wait_for()
    assert "not valid JSON" in page.inner_text("#routing-errors")
    assert page.inner_text("#routing-result") == "Not saved."
    assert not (box.data / "routing.json").exists()
    screenshot(page, "routing-error")


def test_routing_editor_shows_the_validators_errors(box: BoxProcess, page: Any) -> None:
    if not _api_has(box, "POST", "/api/v1/routing/validate"):
        pytest.skip("the routing validation endpoint is not merged yet")
    page.goto(box.url + "/ui/routing")
    page.fill("#routing-text", '{"routing": [{"name": "r", "send": [{".*": {"IP": "x"}}]}]}')
    page.click("button[data-routing=save]")
    page.locator("#routing-errors li").first.wait_for()
    assert page.inner_text("#routing-result") == "Not saved."
    assert not (box.data / "routing.json").exists()


def test_system_page_charts_and_counts(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    for name in ("S1", "S2", "S3"):
        session = driving.received(store, name)
        driving.start(store, session)
        driving.finish(store, session, "finished" if name != "S3" else "failed")
    page.goto(box.url + "/ui/system")
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart rect.bar").count() >= 30 + 3
    counts = page.inner_text("table.counts")
    assert "finished\t2" in counts and "failed\t1" in counts
    assert str(box.data) in page.inner_text("main")
    screenshot(page, "system")


def test_pages_are_readable_on_a_phone(box: BoxProcess, browser: Any) -> None:
    store = driving.open_store(box.data)
    driving.received(store, "PHONE")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        for path, name in (("/", "phone-sessions"), ("/ui/buckets", "phone-buckets")):
            page.goto(box.url + path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"{path} scrolls sideways ({width}px)"
            screenshot(page, name)
    finally:
        context.close()
