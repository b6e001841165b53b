"""The audit log against a running box: reads of patient data and changes that were missing, `via`
from the route (not from User-Agent or Referer), the client address from X-Forwarded-For only
when the peer is a configured proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.datastructures import Headers

from magickbox.store.audit import AuditEntry, AuditFilter
from magickbox.web.proxies import ProxyRule, parse_networks
from tests.api.conftest import BUCKET, Served, start_served
from tests.support.previewoutputs import session_with_outputs

BROWSER = {"User-Agent": "Mozilla/5.0 Chrome/120", "Sec-Fetch-Site": "same-origin"}
PACS = {"pacs1": {"host": "127.0.0.1", "port": 1, "ae_title": "PACS"}}


def box(tmp: Path, **env: str) -> Served:
    return start_served(tmp / "data", env={"MAGICKBOX_PACS": json.dumps(PACS), **env})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = box(tmp_path_factory.mktemp("audit"))
    yield served
    served.box.stop()
    served.store.db.close()


def newest(served: Served, action: str, scratchdir: str | None = None) -> AuditEntry:
    _, entries = served.store.audit.entries(AuditFilter(scratchdir=scratchdir, action=action), limit=1)
    assert entries, f"no {action} entry"
    return entries[0]


@pytest.mark.slow
def test_instance_file_download_and_log_read_are_audited(served: Served, tmp_path: Path) -> None:
    session, _ = session_with_outputs(served.store, tmp_path)
    (served.store.layout.session_dir(session.scratchdir) / "processing.log").write_text("done\n")
    uid = served.store.studies.series(session.id)[0]["SeriesInstanceUID"]
    base = f"{served.url}/api/v1/sessions/{session.scratchdir}"
    downloaded = httpx.get(f"{base}/series/{uid}/instances/0/file", headers=BROWSER)
    assert downloaded.status_code == 200
    entry = newest(served, "download-file", session.scratchdir)
    assert (entry.via, entry.pid, entry.bytes) == ("api", session.pid, len(downloaded.content))
    assert str(uid) in entry.detail and entry.ip == "127.0.0.1"

    # A page's headers (Referer under /ui/, same-origin) do not make an API call 'web'.
    assert httpx.get(f"{base}/log", headers={**BROWSER, "Referer": served.url + "/ui/"}).text == "done\n"
    entry = newest(served, "download-file", session.scratchdir)
    assert "processing.log" in entry.detail and entry.via == "api"

    assert httpx.get(f"{served.url}/ui/sessions/{session.scratchdir}/log").status_code == 200
    assert newest(served, "download-file", session.scratchdir).via == "web"
    mb = {"User-Agent": "mb/1.0"}
    assert httpx.get(f"{served.url}/code/php/getScratch.php", headers=mb).status_code == 200
    assert (newest(served, "list").via, newest(served, "list").detail) == ("mb", "getScratch.php")


@pytest.mark.slow
def test_changes_are_audited(served: Served) -> None:
    hook = [{"url": "https://hooks.example.org/box", "events": ["session.finished"]}]
    assert httpx.put(served.url + "/api/v1/notifications", json=hook).status_code == 200
    assert "1 webhooks" in newest(served, "webhook-change").detail
    wanted = {"pacs": "pacs1", "bucket": BUCKET, "keys": ["A1"]}
    created = httpx.post(served.url + "/api/v1/retrievals", json=wanted)
    assert created.status_code == 201, created.text
    assert f"retrieval {created.json()['id']}" in newest(served, "retrieval-create").detail
    assert httpx.post(f"{served.url}/api/v1/retrievals/{created.json()['id']}/cancel").status_code == 200
    assert newest(served, "retrieval-cancel").via == "api"


@pytest.mark.slow
def test_forwarded_for_from_an_unconfigured_peer_is_ignored(served: Served) -> None:
    session = served.make_session("xff")
    spoofed = {"X-Forwarded-For": "10.9.8.7", "Forwarded": "for=10.9.8.6", "X-Forwarded-Proto": "https"}
    url = f"{served.url}/scratch/{session.scratchdir}/processing.log"
    assert httpx.get(url, headers=spoofed).status_code == 200
    entry = newest(served, "download-file", session.scratchdir)
    assert (entry.ip, entry.via) == ("127.0.0.1", "legacy")


@pytest.mark.slow
def test_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    proxied = box(tmp_path, MAGICKBOX_TRUSTED_PROXIES='["127.0.0.0/8"]')
    try:
        session = proxied.make_session("xff")
        forwarded = {"X-Forwarded-For": "203.0.113.9, 10.9.8.7, 127.0.0.2"}
        url = f"{proxied.url}/scratch/{session.scratchdir}/processing.log"
        assert httpx.get(url, headers=forwarded).status_code == 200
        assert newest(proxied, "download-file", session.scratchdir).ip == "10.9.8.7"
    finally:
        proxied.box.stop()
        proxied.store.db.close()


def test_proxy_rule_takes_the_right_most_untrusted_hop() -> None:
    rule = ProxyRule(parse_networks(["10.0.0.0/8", "::1"]))
    chain = Headers({"x-forwarded-for": "1.1.1.1, 2.2.2.2, 10.0.0.5", "x-forwarded-proto": "https"})
    assert rule.client("10.0.0.1", chain) == ("2.2.2.2", "https")
    assert rule.client("192.0.2.1", chain) == ("192.0.2.1", None)  # not a proxy: headers ignored
    forwarded = Headers({"forwarded": 'for="[2001:db8::1]:443";proto=https, for=10.1.1.1'})
    assert rule.client("::1", forwarded) == ("2001:db8::1", "https")
    assert rule.client("10.0.0.1", Headers({"x-forwarded-for": "unknown"})) == ("10.0.0.1", None)
    assert ProxyRule([]).client("127.0.0.1", chain) == ("127.0.0.1", None)
