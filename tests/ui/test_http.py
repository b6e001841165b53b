"""The pages over HTTP without a browser: headers, escaping, refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from magickbox.config import Settings
from magickbox.store import Store
from tests.api.conftest import start_served
from tests.models.test_routing import DEFAULT_RULE
from tests.ui import driving


def test_every_page_renders_with_a_strict_policy(client: TestClient, store: Store) -> None:
    session = driving.received(store, "A")
    for path in ("/", "/ui/buckets", "/ui/routing", "/ui/system", f"/ui/sessions/{session.scratchdir}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text.replace('<script src="/ui/static/app.js" defer></script>', "")


def test_names_from_outside_are_escaped_in_html(client: TestClient, store: Store) -> None:
    session = driving.received(store, "<b>&'\"x")
    html = client.get("/").text
    assert "&lt;b&gt;&amp;&#39;&#34;x" in html and "<b>&'" not in html
    assert "&lt;b&gt;" in client.get(f"/ui/sessions/{session.scratchdir}").text


def test_unknown_or_unsafe_session_names_are_404(client: TestClient) -> None:
    for name in ("tmp.0000000000", "..", "archive", "tmp.x;id"):
        assert client.get(f"/ui/sessions/{name}").status_code == 404
        assert client.get(f"/ui/sessions/{name}/log").status_code == 404
    assert client.get("/ui/static/..%2Fpages.py").status_code == 404


def test_rows_poll_answers_304_until_something_changes(client: TestClient, store: Store) -> None:
    first = client.get("/ui/sessions/rows")
    etag = first.headers["etag"]
    assert client.get("/ui/sessions/rows", headers={"If-None-Match": etag}).status_code == 304
    driving.received(store, "NEW")
    changed = client.get("/ui/sessions/rows", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "NEW" in changed.text
    assert changed.headers["x-total"] == "1"


def test_live_log_endpoint_continues_at_offset(client: TestClient, store: Store) -> None:
    session = driving.received(store, "L")
    driving.start(store, session, "one\n")
    first = client.get(f"/ui/sessions/{session.scratchdir}/log").json()
    assert first == {
        "text": "one\n",
        "start": 0,
        "offset": 4,
        "size": 4,
        "state": "running",
        "routing": "none",
    }
    driving.append_log(store, session, "two\n")
    second = client.get(f"/ui/sessions/{session.scratchdir}/log", params={"offset": 4}).json()
    assert second["text"] == "two\n"


def test_a_long_log_is_first_shown_from_its_end(client: TestClient, store: Store) -> None:
    session = driving.received(store, "LONG")
    driving.start(store, session, "".join(f"line {i:07d}\n" for i in range(100_000)))  # 1.3 MB
    data = client.get(f"/ui/sessions/{session.scratchdir}/log", params={"tail": "true"}).json()
    assert data["start"] > 0 and data["offset"] == data["size"]
    assert data["text"].startswith("line ") and data["text"].endswith("line 0099999\n")


def test_login_form_refuses_cross_site_posts(client: TestClient) -> None:
    page = client.get("/ui/login")
    csrf = page.cookies.get("mb_csrf") or client.cookies.get("mb_csrf")
    assert csrf
    forged = client.post("/ui/login", data={"token": "t", "csrf": "wrong"})
    assert forged.status_code == 403
    cross = client.post(
        "/ui/login", data={"token": "t", "csrf": csrf}, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    assert client.post("/ui/logout", data={"csrf": "nope"}).status_code == 403


def test_login_only_redirects_within_the_box(client: TestClient) -> None:
    page = client.get("/ui/login", params={"next": "//evil.example/x"})
    assert 'value="/"' in page.text


def test_opaque_or_cross_site_origins_are_refused(client: TestClient) -> None:
    client.get("/ui/login")
    csrf = client.cookies.get("mb_csrf")
    for headers in (
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = client.post("/ui/login", data={"token": "t", "csrf": csrf}, headers=headers)
        assert response.status_code == 403, headers


def test_with_tokens_pages_need_a_login_and_the_cookie_opens_them(client: TestClient, store: Store) -> None:
    _info, token = store.tokens.create("read", "viewer")
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/login?next=%2F"
    assert client.get("/ui/sessions/rows").status_code == 401
    client.get("/ui/login")
    csrf = client.cookies.get("mb_csrf")
    wrong = client.post("/ui/login", data={"token": "mbx_nope", "csrf": csrf})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    login = client.post(
        "/ui/login", data={"token": token, "csrf": csrf, "next": "/ui/system"}, follow_redirects=False
    )
    assert login.status_code == 303 and login.headers["location"] == "/ui/system"
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert client.get("/ui/system").status_code == 200


def test_bucket_switch_needs_an_admin_token_once_tokens_exist(
    client: TestClient, store: Store, settings: Settings
) -> None:
    folder = settings.streams_dir / "ProcX"
    folder.mkdir(parents=True)
    (folder / "info.json").write_text('{"name": "X", "AETitle": "ProcX", "enabled": 1, "extra": "kept"}')
    assert client.post("/api/v1/buckets/ProcX/disable").json() == {"bucket": "ProcX", "enabled": False}
    assert '"extra": "kept"' in (folder / "info.json").read_text()
    assert client.post("/api/v1/buckets/Nope/enable").status_code == 404
    _info, write = store.tokens.create("write")
    _info, admin = store.tokens.create("admin")
    assert client.post("/api/v1/buckets/ProcX/enable").status_code == 401
    denied = client.post("/api/v1/buckets/ProcX/enable", headers={"Authorization": f"Bearer {write}"})
    assert denied.status_code == 403
    allowed = client.post("/api/v1/buckets/ProcX/enable", headers={"Authorization": f"Bearer {admin}"})
    assert allowed.status_code == 200 and store.catalog().valid[0].info.enabled


def test_routing_check_reports_the_validators_reasons(client: TestClient, settings: Settings) -> None:
    bad = client.post("/ui/routing/check", content='{"routing": [{"name": "r", "send": [{".*": {}}]}]}')
    assert bad.status_code == 422
    assert any("IP" in reason for reason in bad.json()["detail"])
    good = client.post("/ui/routing/check", content='{"routing": []}')
    assert good.status_code == 200 and good.json() == {"rules": 0}
    assert not settings.routing_path.exists()


# ---- a foreign page in a real browser ----------------------------------------------------------------
FOREIGN_PAGE = """<!doctype html><html><body>
<img src="{box}/code/php/deleteStudy.php?scratchdir={scratchdir}">
<form id="f" method="post" action="{box}/code/php/saveRouting.php">
<input type="hidden" name="text" value='{{"routing": []}}'></form>
<script>window.onload = () => document.getElementById("f").submit();</script>
</body></html>"""


@contextmanager
def foreign_site(html: str) -> Iterator[str]:
    """A second web site on another loopback port (`localhost`, so another site than 127.0.0.1)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_foreign_page_in_chromium_cannot_change_the_box(page: Any, tmp_path: Path) -> None:
    served = start_served(tmp_path / "data")
    try:
        session = served.make_session()
        routing = served.store.settings.routing_path
        routing.write_text(json.dumps({"routing": [DEFAULT_RULE]}))
        before = routing.read_bytes()
        html = FOREIGN_PAGE.format(box=served.url, scratchdir=session.scratchdir)
        with foreign_site(html) as url, page.expect_response(lambda r: "saveRouting" in r.url) as answer:
            page.goto(url)
        assert answer.value.status == 403
        assert "cross-site request refused" in page.locator("body").inner_text()
        assert routing.read_bytes() == before
        assert served.store.layout.session_dir(session.scratchdir).is_dir()
        assert served.store.sessions.by_scratchdir(session.scratchdir).state == "finished"
    finally:
        served.box.stop()
        served.store.db.close()
