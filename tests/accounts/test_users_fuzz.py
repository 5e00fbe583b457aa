"""The people and audit-log operations under the fuzzer (tests/api/test_fuzz.py's, narrowed to
them): no 5xx, every answer on its documented schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.api.test_fuzz import fuzz

pytestmark = pytest.mark.fuzz
OURS = ("/v1/users", "/v1/audit", "/editor/password", "/editor/session")


async def test_people_operations_answer_as_documented(aiohttp_client, settings):
    from server import ACCOUNTS, USERS, create_app

    app = create_app(replace(settings, sandbox=False))
    client = await aiohttp_client(app)
    tenant, api_key = await app[ACCOUNTS].create_tenant("Fuzz brand")
    await app[USERS].create(tenant.id, "rita", "reviewer", password="correct horse battery")
    document = await (await client.get("/openapi.json")).json()
    document["paths"] = {p: ops for p, ops in document["paths"].items() if p.startswith(OURS)}
    assert len(document["paths"]) == 11
    base_url = str(client.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(fuzz, base_url, document, api_key)
    report = "\n\n".join(f"{label}:\n" + "\n".join(found[:3]) for label, found in failures.items())
    assert not failures, f"{len(failures)} operation(s) answered with a 5xx or off their schema:\n\n{report}"
