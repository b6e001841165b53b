"""The web page in a real browser (Debian's Chromium via Playwright) against a real `magickbox serve`."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from magickbox.store.audit import AuditFilter
from magickbox.ui import charts
from tests.support.box import BoxProcess
from tests.support.net import free_port, wait_for_port, wait_until
from tests.ui import driving
from tests.ui.conftest import screenshot

XSS_AET = "<img src=x onerr"  # 16 characters: the longest calling AE title
XSS_LINE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'

# Waits for a file named "go" next to the data folder, so a test sees the session running.
GATE_SCRIPT = """#!/bin/sh
echo "started $MB_SCRATCHDIR"
echo '{xss}'
while [ ! -e "{gate}" ]; do sleep 0.05; done
cp -r "$1"/. "$2"/
echo "second line ✓"
"""


@pytest.fixture
def box(box_factory: type[BoxProcess], tmp_path: Path) -> BoxProcess:
    box = box_factory(data=tmp_path / "data")
    box.add_bucket(
        "ProcCopy",
        {"name": "Copy", "AETitle": "ProcCopy", "description": "copies INPUT to OUTPUT", "enabled": 1},
        '#!/bin/sh\ncp -r "$1"/. "$2"/\n',
    )
    box.add_bucket(
        "ProcGate",
        {"name": "Gate", "AETitle": "ProcGate", "description": "waits for the test", "enabled": 1},
        GATE_SCRIPT.replace("{gate}", str(tmp_path / "go")).replace("{xss}", XSS_LINE),
    )
    box.add_bucket(
        "ProcFail",
        {"name": "Fail", "AETitle": "ProcFail", "description": "always fails", "enabled": 1},
        "#!/bin/sh\necho 'no luck' >&2\nexit 3\n",
    )
    return box.start()


GOOD_ROUTING = {
    "routing": [
        {
            "name": "Back to PACS",
            "AETitleIn": "Proc.*",
            "send": [
                {"success": {"IP": "127.0.0.1", "PORT": 1, "AETitleSender": "BOX", "AETitleTo": "PACS"}}
            ],
        }
    ]
}


def _send(box: BoxProcess, tmp_path: Path, calling: str, called: str = "ProcCopy") -> None:
    driving.send(box.dicom_port, tmp_path / f"study-{calling}", calling, called)


def test_a_sent_study_appears_runs_and_finishes_without_reload(
    box: BoxProcess, page: Any, tmp_path: Path
) -> None:
    store = driving.open_store(box.data)
    page.goto(box.url + "/")
    page.evaluate("window.__sameDocument = 42")
    assert "No sessions yet" in page.inner_text("#session-rows")

    _send(box, tmp_path, "SCANNER1", "ProcGate")
    session = driving.wait_for_state(store, "SCANNER1", "running")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    row.locator(".badge.state-running").wait_for()
    screenshot(page, "sessions-running")
    (tmp_path / "go").touch()
    row.locator(".badge.state-finished").wait_for()

    assert page.evaluate("window.__sameDocument") == 42  # the page was never reloaded
    text = row.inner_text()
    assert "SCANNER1" in text and "ProcGate" in text and "127.0.0.1" in text
    assert page.inner_text("#session-count") == "1"
    screenshot(page, "sessions")


def test_filters_narrow_the_table(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "ALPHA")
    _send(box, tmp_path, "BETA", "ProcGate")
    first = driving.wait_for_state(store, "ALPHA", "finished")
    second = driving.wait_for_state(store, "BETA", "running")
    page.goto(box.url + "/")
    page.fill("input[name=q]", "alpha")
    page.locator(f"tr[data-scratchdir='{second.scratchdir}']").wait_for(state="detached")
    assert page.locator(f"tr[data-scratchdir='{first.scratchdir}']").count() == 1
    assert "q=alpha" in page.url

    page.fill("input[name=q]", "")
    page.select_option("select[name=state]", "running")
    page.locator(f"tr[data-scratchdir='{first.scratchdir}']").wait_for(state="detached")
    assert page.locator(f"tr[data-scratchdir='{second.scratchdir}']").count() == 1
    page.select_option("select[name=state]", "")
    page.select_option("select[name=bucket]", "ProcCopy")
    page.locator(f"tr[data-scratchdir='{second.scratchdir}']").wait_for(state="detached")
    (tmp_path / "go").touch()


def test_session_page_follows_the_log_live_and_escapes_it(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "LOGGER", "ProcGate")
    session = driving.wait_for_state(store, "LOGGER", "running")
    page.goto(box.url + "/")
    page.locator(f"tr[data-scratchdir='{session.scratchdir}'] a", has_text="Log").click()
    page.locator("#live-log", has_text="started").wait_for()
    assert XSS_LINE in page.inner_text("#live-log")
    assert page.evaluate("window.__xss") is None
    screenshot(page, "session-running")

    (tmp_path / "go").touch()
    page.locator("#session-state .state-finished").wait_for()  # the page refreshes once it ended
    assert "second line ✓" in page.inner_text("#live-log")
    main = page.inner_text("main")
    assert "OUTPUT 2 file(s)" in main and '"success": "success"' in main
    assert page.evaluate("window.__xss") is None
    screenshot(page, "session-finished")


def test_values_from_outside_are_shown_as_text(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    session = driving.receiving(store, XSS_AET)
    for path in ("/", f"/ui/sessions/{session.scratchdir}", "/ui/system"):
        page.goto(box.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
    page.goto(box.url + "/")
    assert XSS_AET in page.inner_text("#session-rows")


def test_download_output_zip(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "DOWNLOADER")
    session = driving.wait_for_state(store, "DOWNLOADER", "finished")
    page.goto(box.url + "/")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    with page.expect_download() as info:
        row.locator("a", has_text="Output").click()
    download = info.value
    assert download.suggested_filename == f"{session.scratchdir}.zip"
    assert urlsplit(download.url).path == f"/api/v1/sessions/{session.scratchdir}/output.zip"
    target = tmp_path / "out.zip"
    download.save_as(target)
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert len(names) == 2
    assert all(n.startswith(f"{session.scratchdir}/OUTPUT/") and n.endswith(".dcm") for n in names)


def test_delete_asks_first_and_removes_the_row(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "DELETER")
    session = driving.wait_for_state(store, "DELETER", "finished")
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

    sent: list[tuple[str, str]] = []
    page.on("request", lambda request: sent.append((request.method, urlsplit(request.url).path)))
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=delete]").click()
    row.wait_for(state="detached")
    assert not (box.data / "scratch" / session.scratchdir).exists()
    assert ("DELETE", f"/api/v1/sessions/{session.scratchdir}") in sent
    assert not [path for _method, path in sent if path.startswith("/code/php/")]


def test_session_page_downloads_and_deletes_through_api_v1(
    box: BoxProcess, page: Any, tmp_path: Path
) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "APIV1")
    session = driving.wait_for_state(store, "APIV1", "finished")
    name = session.scratchdir
    sent: list[tuple[str, str]] = []
    page.on("request", lambda request: sent.append((request.method, urlsplit(request.url).path)))
    page.goto(f"{box.url}/ui/sessions/{name}")
    for label, area in (("Download output", "OUTPUT"), ("Download input", "INPUT")):
        with page.expect_download() as info:
            page.locator(".toolbar a", has_text=label).click()
        assert info.value.suggested_filename == f"{name}.zip"
        target = tmp_path / f"{area}.zip"
        info.value.save_as(target)
        with zipfile.ZipFile(target) as archive:
            names = archive.namelist()
        assert names and all(n.startswith(f"{name}/{area}/") for n in names), names

    page.locator("#log a", has_text="raw").click()
    page.wait_for_url(f"**/api/v1/sessions/{name}/log")
    assert page.inner_text("body").strip() == store.layout.log_path(name).read_text().strip()
    page.go_back()

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".toolbar button[data-action=delete]").click()
    page.wait_for_url(box.url + "/")
    assert not (box.data / "scratch" / name).exists()
    assert ("GET", f"/api/v1/sessions/{name}/output.zip") in sent
    assert ("GET", f"/api/v1/sessions/{name}/input.zip") in sent
    assert ("DELETE", f"/api/v1/sessions/{name}") in sent
    assert not [p for _m, p in sent if p.startswith(("/code/php/", "/scratch/"))], sent
    store.audit.flush()
    actions = [(e.action, e.detail) for e in store.audit.entries(AuditFilter(scratchdir=name))[1]]
    assert ("download-zip", "OUTPUT") in actions and ("download-zip", "INPUT") in actions
    assert ("download-file", "processing.log") in actions and ("delete", "") in actions


def test_buckets_page_shows_commands_and_invalid_buckets(box: BoxProcess, page: Any) -> None:
    bad = box.data / "streams" / "Broken"
    bad.mkdir()
    (bad / "info.json").write_text('{"name": "<i>broken</i>"')
    page.goto(box.url + "/ui/buckets")
    text = page.inner_text("main")
    assert f"storescu +sd +r -nh -aet MySelf -aec ProcCopy 127.0.0.1 {box.dicom_port} <dir>" in text
    assert "mb push ProcCopy <dir>" in text
    assert f"dcmsend +sd +r -aet MySelf -aec ProcCopy 127.0.0.1 {box.dicom_port} <dir>" in text
    assert "Broken" in text and "not readable JSON" in text
    page.locator("button[data-copy^='storescu']").first.click()
    page.locator("#notice").wait_for()
    screenshot(page, "buckets")


def test_toggle_a_bucket(box: BoxProcess, page: Any) -> None:
    page.goto(box.url + "/ui/buckets")
    switch = page.locator("input[data-bucket-toggle=ProcCopy]")
    assert switch.is_checked()
    switch.click()
    page.locator("#notice", has_text="ProcCopy disabled").wait_for()
    page.reload()
    assert not page.locator("input[data-bucket-toggle=ProcCopy]").is_checked()
    assert json.loads((box.data / "streams" / "ProcCopy" / "info.json").read_text())["enabled"] == 0
    page.locator("input[data-bucket-toggle=ProcCopy]").click()
    page.locator("#notice", has_text="ProcCopy enabled").wait_for()
    assert json.loads((box.data / "streams" / "ProcCopy" / "info.json").read_text())["enabled"] == 1


def test_routing_editor_refuses_invalid_json(box: BoxProcess, page: Any) -> None:
    page.goto(box.url + "/ui/routing")
    page.fill("#routing-text", '{"routing": [ {"name": "x",  }')
    page.click("button[data-routing=save]")
    page.locator("#routing-errors li").first.wait_for()
    assert "not valid JSON" in page.inner_text("#routing-errors")
    assert page.inner_text("#routing-result") == "Not saved."
    assert not (box.data / "routing.json").exists()
    screenshot(page, "routing-error")


def test_routing_editor_shows_the_validators_errors_then_saves(box: BoxProcess, page: Any) -> None:
    page.goto(box.url + "/ui/routing")
    page.fill("#routing-text", '{"routing": [{"name": "r", "send": [{".*": {"IP": "x"}}]}]}')
    page.click("button[data-routing=save]")
    page.locator("#routing-errors li").first.wait_for()
    assert page.inner_text("#routing-result") == "Not saved."
    assert "PORT" in page.inner_text("#routing-errors")
    assert not (box.data / "routing.json").exists()
    screenshot(page, "routing-invalid")

    page.fill("#routing-text", json.dumps(GOOD_ROUTING))
    page.click("button[data-routing=validate]")
    page.locator("#routing-result", has_text="Valid").wait_for()
    assert not (box.data / "routing.json").exists()  # checking writes nothing
    page.click("button[data-routing=save]")
    page.locator("table.rules", has_text="Back to PACS").wait_for()  # saved, then reloaded
    assert json.loads((box.data / "routing.json").read_text()) == GOOD_ROUTING
    screenshot(page, "routing")


def test_system_page_charts_and_counts(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    for name, bucket in (("S1", "ProcCopy"), ("S2", "ProcCopy"), ("S3", "ProcFail")):
        _send(box, tmp_path, name, bucket)
        driving.wait_for_state(store, name, "finished", "failed")
    page.goto(box.url + "/ui/system")
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart rect.bar").count() >= 30 + 3
    times = page.locator("svg.chart").nth(1).locator("rect.bar")
    tallest = max(float(times.nth(i).get_attribute("height") or 0) for i in range(times.count()))
    assert tallest > 0.4 * (charts.HEIGHT - charts.TOP - charts.BOTTOM)  # the axis fits the runs
    counts = page.inner_text("table.counts")
    assert "finished\t2" in counts and "failed\t1" in counts
    assert str(box.data) in page.inner_text("main")
    screenshot(page, "system")


def test_pages_are_readable_on_a_phone(box: BoxProcess, browser: Any) -> None:
    store = driving.open_store(box.data)
    driving.receiving(store, "PHONE")
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


def _delivery_errors(store: Any, session_id: int) -> list[str]:
    rows = store.db.query("SELECT last_error FROM deliveries WHERE session_id = ?", (session_id,))
    return [r["last_error"] for r in rows if r["last_error"]]


def test_deliveries_show_their_state_and_send_again(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    port = free_port()
    routing = json.loads(json.dumps(GOOD_ROUTING))
    routing["routing"][0]["send"][0]["success"]["PORT"] = port
    (box.data / "routing.json").write_text(json.dumps(routing))
    store = driving.open_store(box.data)
    _send(box, tmp_path, "ROUTED")
    session = driving.wait_for_state(store, "ROUTED", "finished")
    # The router tries once, fails (nobody listens) and waits to retry.
    wait_until(lambda: _delivery_errors(store, session.id), timeout=30, what="a failed first attempt")
    page.goto(box.url + f"/ui/sessions/{session.scratchdir}")
    row = page.locator("table.deliveries tbody tr").first
    assert _delivery_errors(store, session.id)[0] in row.inner_text()
    assert f"PACS@127.0.0.1:{port}" in row.inner_text()
    screenshot(page, "session-delivery-failed")

    received = tmp_path / "pacs"
    received.mkdir()
    with subprocess.Popen(["storescp", "-od", str(received), str(port)]) as pacs:
        try:
            wait_for_port(port)
            row.locator("button", has_text="Send again").click()
            page.locator("#notice", has_text="sent again").wait_for()
            page.locator("table.deliveries .badge.state-done").wait_for(timeout=30_000)
        finally:
            pacs.terminate()
    assert len(list(received.iterdir())) == 2
    screenshot(page, "session-delivered")


def test_with_tokens_the_page_asks_for_one_and_sends_it_to_the_api(
    box: BoxProcess, page: Any, tmp_path: Path
) -> None:
    store = driving.open_store(box.data)
    _info, token = store.tokens.create("admin", "browser")
    _send(box, tmp_path, "TOKENS")
    session = driving.wait_for_state(store, "TOKENS", "finished")

    page.goto(box.url + "/ui/buckets")
    assert "/ui/login" in page.url
    page.fill("input[name=token]", "mbx_wrong")
    page.click("button[type=submit]")
    page.locator(".dialog-error", has_text="not valid").wait_for()
    screenshot(page, "login-refused")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(box.url + "/ui/buckets")
    screenshot(page, "buckets-logged-in")

    # The cookie that opens the pages does not authorize changes: a forged cross-site request
    # carries the cookie but is refused at the edge (and could not add the Authorization header).
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}["mb_ui"]
    forged = httpx.post(
        box.url + f"/api/v1/sessions/{session.scratchdir}/rerun",
        cookies={"mb_ui": cookie},
        headers={"Origin": "http://evil.example"},
    )
    assert forged.status_code == 403 and forged.json()["error"] == "forbidden"

    page.goto(box.url + "/")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    with page.expect_download() as info:
        row.locator("a", has_text="Output").click()
    assert info.value.suggested_filename == f"{session.scratchdir}.zip"
    assert urlsplit(info.value.url).path == f"/api/v1/sessions/{session.scratchdir}/output.zip"
    sent: list[tuple[str, str]] = []
    page.on("request", lambda request: sent.append((request.method, urlsplit(request.url).path)))
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=delete]").click()
    row.wait_for(state="detached")
    assert not (box.data / "scratch" / session.scratchdir).exists()
    assert ("DELETE", f"/api/v1/sessions/{session.scratchdir}") in sent
    assert not [path for _method, path in sent if path.startswith("/code/php/")]


def test_an_action_without_a_stored_token_asks_for_one(box: BoxProcess, page: Any) -> None:
    store = driving.open_store(box.data)
    _info, token = store.tokens.create("admin", "browser")
    page.goto(box.url + "/ui/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(box.url + "/")
    page.goto(box.url + "/ui/buckets")
    page.evaluate("sessionStorage.clear()")  # e.g. a new tab: the page cookie only
    page.locator("input[data-bucket-toggle=ProcFail]").click()
    page.locator("#token-dialog input[name=token]").fill(token)
    page.locator("#token-dialog button[value=ok]").click()
    page.locator("#notice", has_text="ProcFail disabled").wait_for()


def test_cancel_a_running_session_then_run_it_again(box: BoxProcess, page: Any, tmp_path: Path) -> None:
    store = driving.open_store(box.data)
    _send(box, tmp_path, "CANCELLER", "ProcGate")
    session = driving.wait_for_state(store, "CANCELLER", "running")
    page.goto(box.url + "/")
    row = page.locator(f"tr[data-scratchdir='{session.scratchdir}']")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=cancel]").click()
    row.locator(".badge.state-cancelled").wait_for()

    (tmp_path / "go").touch()
    row.locator("button[data-action=rerun]").click()
    row.locator(".badge.state-finished").wait_for()
    assert len(list((box.data / "scratch" / session.scratchdir / "OUTPUT").iterdir())) == 2
