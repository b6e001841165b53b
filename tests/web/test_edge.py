"""The HTTP edge against a running box: cross-site refusals with curl, Host check, headers."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from magickbox.web.edge import HostRule, same_origin, split_host
from tests.api.conftest import BUCKET_AET, Served, start_served
from tests.api.test_uploads import make_zip
from tests.models.test_routing import DEFAULT_RULE

BROWSER = ["-H", "Sec-Fetch-Mode: navigate", "-H", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120"]
CROSS_SITE = ["-H", "Origin: http://evil.example", "-H", "Sec-Fetch-Site: cross-site", *BROWSER]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(
        tmp_path_factory.mktemp("box") / "data", env={"MAGICKBOX_ALLOWED_HOSTS": '["box.example.org"]'}
    )
    yield served
    served.box.stop()
    served.store.db.close()


def curl(served: Served, path: str, *args: str) -> tuple[int, str]:
    """Status and body of `curl <args> <url>` (the body on stdout, the status on the last line)."""
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args, served.url + path],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def assert_refused(status: int, body: str) -> None:
    assert status == 403
    assert json.loads(body)["error"] == "forbidden"


def test_cross_site_save_routing_is_refused_and_routing_json_unchanged(served: Served) -> None:
    table = json.dumps({"routing": [DEFAULT_RULE]})
    status, _ = curl(served, "/code/php/saveRouting.php", "--data-urlencode", f"text={table}")
    assert status == 200
    before = served.store.settings.routing_path.read_bytes()
    evil = json.dumps({"routing": [{**DEFAULT_RULE, "name": "to the attacker"}]})
    status, body = curl(served, "/code/php/saveRouting.php", *CROSS_SITE, "--data-urlencode", f"text={evil}")
    assert_refused(status, body)
    assert served.store.settings.routing_path.read_bytes() == before


def test_cross_site_delete_study_get_is_refused_and_the_session_stays(served: Served) -> None:
    session = served.make_session()
    path = f"/code/php/deleteStudy.php?scratchdir={session.scratchdir}"
    # An <img> on a foreign page: no Origin on a GET, but fetch metadata and the Referer say so.
    img = ["-H", "Sec-Fetch-Site: cross-site", "-H", "Sec-Fetch-Dest: image", "-e", "http://evil.example/"]
    assert_refused(*curl(served, path, *img))
    assert_refused(*curl(served, path, "-e", "http://evil.example/page.html", *BROWSER))
    assert served.store.layout.session_dir(session.scratchdir).is_dir()
    assert served.store.sessions.by_scratchdir(session.scratchdir).scratchdir == session.scratchdir
    status, body = curl(served, path)  # curl itself, as `mb remove` does: still works
    assert status == 200 and "will delete now" in body
    assert not served.store.layout.session_dir(session.scratchdir).exists()


def test_cross_site_upload_is_refused_and_nothing_is_created(served: Served) -> None:
    archive = served.store.settings.data.parent / "cross.zip"
    archive.write_bytes(make_zip({"a.dcm": b"x"}))
    form = ["-F", f"theFile=@{archive}", "-F", f"aetitle={BUCKET_AET}", "-F", "sender=CROSS"]
    for path in ("/code/php/processZip.php", "/api/v1/uploads"):
        assert_refused(*curl(served, path, *CROSS_SITE, *form))
    assert served.store.db.query("SELECT id FROM sessions WHERE calling_aet = 'CROSS'") == []
    assert curl(served, "/code/php/processZip.php", *form)[0] == 200


def test_cross_site_api_v1_post_and_delete_are_refused(served: Served) -> None:
    session = served.make_session()
    base = f"/api/v1/sessions/{session.scratchdir}"
    assert_refused(*curl(served, base + "/rerun", "-X", "POST", *CROSS_SITE))
    assert_refused(*curl(served, base, "-X", "DELETE", *CROSS_SITE))
    # Same-site (another port or sub-domain of the same site) is another origin too.
    same_site = ["-H", "Origin: http://127.0.0.1:1", "-H", "Sec-Fetch-Site: same-site"]
    assert_refused(*curl(served, base, "-X", "DELETE", *same_site))
    assert_refused(*curl(served, base, "-X", "DELETE", "-H", "Origin: http://127.0.0.1:1"))
    assert_refused(*curl(served, base, "-X", "DELETE", "-H", "Origin: null"))
    assert served.store.sessions.by_scratchdir(session.scratchdir).state == "finished"
    # The box's own page: same origin, fetch metadata says so.
    own = ["-H", f"Origin: {served.url}", "-H", "Sec-Fetch-Site: same-origin", *BROWSER]
    status, body = curl(served, base, "-X", "DELETE", *own)
    assert status == 200, body


def test_reads_from_another_site_are_not_refused(served: Served) -> None:
    status, body = curl(served, "/code/php/getScratch.php", *CROSS_SITE)
    assert status == 200 and isinstance(json.loads(body), list)


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "box.example.org.evil", "a b"])
def test_unknown_host_names_are_refused_even_for_healthz(served: Served, host: str) -> None:
    for path in ("/healthz", "/code/php/getScratch.php"):
        status, body = curl(served, path, "-H", f"Host: {host}")
        assert status == 400, (path, host)
        assert json.loads(body)["error"] == "unknown host"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LOCALHOST:1", "[::1]:2813", "10.1.2.3", "box.example.org", "x"]
)
def test_ip_literals_own_names_and_allowed_hosts_are_served(served: Served, host: str) -> None:
    host = socket.gethostname() if host == "x" else host
    assert curl(served, "/healthz", "-H", f"Host: {host}")[0] == 200


def test_every_response_says_nosniff(served: Served) -> None:
    session = served.make_session(log="<script>alert(1)</script>\n")
    for path in (
        "/healthz",
        f"/scratch/{session.scratchdir}/processing.log",
        "/code/php/getScratch.php",
        "/api/v1/nothing-here",
        "/openapi.json",
        "/ui/static/app.js",
    ):
        response = httpx.get(served.url + path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "same-origin", path
    refused = httpx.get(served.url + "/healthz", headers={"Host": "evil.example"})
    assert refused.headers["x-content-type-options"] == "nosniff"


def test_api_docs_pages_are_off_by_default_and_openapi_stays(served: Served) -> None:
    assert httpx.get(served.url + "/docs").status_code == 404
    assert httpx.get(served.url + "/redoc").status_code == 404
    assert "/api/v1/sessions" in httpx.get(served.url + "/openapi.json").json()["paths"]


# ---- the rules themselves, without a server ---------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "box:2813"}, True),
        ({"host": "box:2813", "origin": "http://box:2813", "sec-fetch-site": "same-origin"}, True),
        ({"host": "box", "origin": "http://box:80"}, True),
        ({"host": "box:2813", "referer": "http://box:2813/ui/routing"}, True),
        ({"host": "box:2813", "sec-fetch-site": "none"}, True),
        ({"host": "box:2813", "origin": "https://box:2813"}, False),
        ({"host": "box:2813", "origin": "http://box:2814"}, False),
        ({"host": "box:2813", "origin": "http://evil.example"}, False),
        ({"host": "box:2813", "referer": "http://evil.example/x"}, False),
        ({"host": "box:2813", "referer": "not a url"}, False),
        ({"host": "box:2813", "sec-fetch-site": "same-site"}, False),
        ({"host": "box:2813", "origin": "null", "sec-fetch-site": "cross-site"}, False),
        ({"origin": "http://box:2813"}, False),
    ],
)
def test_same_origin_rule(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(headers, "http") is expected


def test_host_rule_patterns() -> None:
    rule = HostRule(["*.example.org", "Box.Lab"], {"localhost", "mybox"})
    for allowed in ("a.example.org", "box.lab:2813", "mybox.", "[fe80::1]", "192.0.2.1:80", None):
        assert rule.allows(allowed), allowed
    for refused in ("example.org", "evil.example", "a.example.org.evil", "[::1", "box.lab:99999", ""):
        assert not rule.allows(refused), refused
    assert HostRule(["*"], set()).allows("anything.example")
    assert split_host("[::1]:2813") == ("::1", 2813)
