"""Hostile bodies and parameters against a running box: every answer is a 4xx with a JSON reason,
never a 500. The issue's cases first, then a sweep over every route of the app (API, original
endpoints, pages) with deep nesting, wrong JSON types, bad encodings and out-of-range numbers."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from magickbox.app import create_app
from magickbox.config import load_settings
from magickbox.store import Store
from tests.api.conftest import Served, start_served

pytestmark = pytest.mark.slow

DEEP = b"[" * 100_000
BODIES = [DEEP, b"{" * 50_000, b'{"url": ["x"]}', b'{"url": {}}', b"\xff\xfe", b"null", b"[]", b'"x"',
          b'{"routing": 1}', b"1e999999", b'{"a": NaN}', b"\x00" * 64]  # fmt: skip
NUMBERS = ["17592186044416", str(2**64), "-99999999999999999999", "nan"]
WRITES = ("POST", "PUT", "DELETE")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("hostile") / "data")
    served.store.settings.notifications_path.write_text('[{"url": "https://hooks.example.org/x"}]')
    yield served
    served.box.stop()
    served.store.db.close()


def assert_json_4xx(answer: httpx.Response, what: str) -> None:
    assert 400 <= answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:200]}"
    assert answer.headers["content-type"].startswith("application/json"), what
    assert "error" in answer.json(), what


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/notifications"),
        ("POST", "/api/v1/notifications/test"),
        ("PUT", "/api/v1/routing"),
        ("POST", "/ui/routing/check"),
    ],
)
def test_deep_nesting_is_a_400(served: Served, method: str, path: str) -> None:
    answer = httpx.request(method, served.url + path, content=DEEP, timeout=30)
    assert answer.status_code == 400
    assert_json_4xx(answer, path)


@pytest.mark.parametrize("body", [b'{"url": ["x"]}', b'{"url": {}}', b'{"url": 1}'])
def test_notification_test_with_a_non_string_url_is_a_4xx(served: Served, body: bytes) -> None:
    assert_json_4xx(httpx.post(served.url + "/api/v1/notifications/test", content=body), body.decode())


@pytest.mark.parametrize("offset", [str(2**44), str(2**50), "-1", str(2**70)])
def test_log_offsets_out_of_range_are_not_500(served: Served, offset: str) -> None:
    session = served.make_session("offsets")
    answer = httpx.get(f"{served.url}/api/v1/sessions/{session.scratchdir}/log", params={"offset": offset})
    if answer.status_code == 200:
        assert answer.content == b""  # past the end: nothing
    else:
        assert_json_4xx(answer, offset)


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, into included routers (FastAPI keeps them nested)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
        else:
            for method in sorted(getattr(route, "methods", None) or []):
                yield method, prefix + route.path


def routes(served: Served) -> list[tuple[str, str]]:
    """(method, path with its parameters filled in) of every route the app has."""
    settings = load_settings(data=str(served.box.data))
    app = create_app(settings, Store(settings))
    session = served.make_session("sweep")
    found = []
    for method, template in walk(app.routes):
        path = template.replace("{scratchdir}", session.scratchdir)
        path = re.sub(r"\{name(:path)?\}", "x", path)
        found.append((method, re.sub(r"\{[a-z_]+\}", "1", path)))
    assert len(found) > 60
    return found


def test_sweep_every_route_with_hostile_bodies_and_numbers(served: Served) -> None:
    problems = []
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for method, path in routes(served):
            if method in ("HEAD", "OPTIONS") or path.startswith(("/docs", "/redoc")):
                continue
            if path in ("/code/php/deleteStudy.php",) or method == "DELETE":
                continue  # deleting the sweep's session would turn the rest into 404s
            tries: list[httpx.Response] = []
            if method in WRITES:
                for body, kind in itertools.product(
                    BODIES, ("application/json", "application/x-www-form-urlencoded")
                ):
                    tries.append(client.request(method, path, content=body, headers={"content-type": kind}))
            for name, value in itertools.product(
                ("offset", "limit", "size", "since", "window", "wc"), NUMBERS
            ):
                tries.append(client.request(method, path, params={name: value}))
            problems += [
                f"{method} {path}: {t.status_code} {t.text[:120]}" for t in tries if t.status_code >= 500
            ]
    assert problems == [], "\n".join(problems[:40])
