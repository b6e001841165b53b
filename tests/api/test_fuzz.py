"""Fuzz /api/v1 from its own OpenAPI document (schemathesis): whatever comes in, no 5xx answer."""

from __future__ import annotations

import contextlib
import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from tests.api.conftest import Served

# Per operation and mode: enough to hit odd values, bounded in time (MB_FUZZ_EXAMPLES for a long run).
EXAMPLES = int(os.environ.get("MB_FUZZ_EXAMPLES", "25"))


def fuzz(operation: APIOperation, mode: GenerationMode, base_url: str, examples: int = EXAMPLES) -> list[str]:
    """Server errors seen for generated requests to one operation."""
    failures: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} ({mode.value}): {response.status_code}")

    # Unsatisfiable: nothing to make invalid (an operation without parameters, in the negative mode)
    with contextlib.suppress(Unsatisfiable):
        check()
    return failures


def test_api_v1_never_answers_5xx(served: Served) -> None:
    for _ in range(3):
        served.make_session("fuzz")
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if isinstance(result, Ok) and result.ok().path.startswith("/api/v1")
    ]
    assert len(operations) >= 10
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in fuzz(operation, mode, served.url)
    ]
    errors = [line for line in served.box.server_log(limit=1 << 24).splitlines() if " WARNING " not in line]
    assert failures == [], "\n".join([*failures, *errors[-40:]])


def test_original_endpoints_never_answer_5xx(served: Served) -> None:
    served.make_session("fuzz")
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if isinstance(result, Ok) and result.ok().path.startswith(("/code/php/", "/scratch/"))
    ]
    assert len(operations) >= 7
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in fuzz(operation, mode, served.url, examples=10)
    ]
    errors = [line for line in served.box.server_log(limit=1 << 24).splitlines() if " WARNING " not in line]
    assert failures == [], "\n".join([*failures, *errors[-40:]])
