"""Fuzzing the HTTP API from its own OpenAPI document (schemathesis), on SQLite and PostgreSQL.

A real app (the sandbox: MaaP and SMSC simulators on loopback) serves on a real socket with a
tenant and an API key; for every operation in /openapi.json schemathesis sends valid and invalid
requests and the test fails on any 5xx answer or any answer that breaks its documented schema.
The example budget is bounded (HONGYAN_FUZZ_EXAMPLES per operation and mode, default 20: about a
minute per database here) and derandomized, so CI runs the same cases every time; raise it
locally to search further. Deselect with `-m "not fuzz"`.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from conversations.http import EVENT_SETTINGS
from server import ACCOUNTS, create_app

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("HONGYAN_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def fuzz(base_url: str, document: dict, api_key: str) -> dict[str, list[str]]:
    """Every operation of `document`, against the server at `base_url`: failures by operation."""
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {api_key}"}
    failures: dict[str, list[str]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            found = _fuzz_operation(operation, mode, base_url, headers)
            if found:
                failures.setdefault(operation.label, []).extend(found)
    return failures


def _fuzz_operation(operation, mode, base_url: str, headers: dict) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        try:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)
        except (Failure, FailureGroup, requests.RequestException) as exc:  # a check failed, or no answer
            found.append(f"[{mode.value}] {exc}")

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
        pass
    return found


async def test_the_api_answers_every_fuzzed_request_as_documented(aiohttp_client, settings):
    app = create_app(replace(settings, sandbox=True))
    app[EVENT_SETTINGS] = (0.01, 0.05)  # the live event stream ends at once (a request reads it whole)
    client = await aiohttp_client(app)
    _, api_key = await app[ACCOUNTS].create_tenant("Fuzz brand")
    document = await (await client.get("/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    # schemathesis makes blocking requests: from a thread, while this loop serves them.
    failures = await asyncio.to_thread(fuzz, base_url, document, api_key)
    report = "\n\n".join(f"{label}:\n" + "\n".join(found[:3]) for label, found in failures.items())
    assert not failures, f"{len(failures)} operation(s) answered with a 5xx or off their schema:\n\n{report}"
