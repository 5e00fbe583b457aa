"""Ported-number overrides: the platform operator's API (routes-admin scope), bad input as
problem+json naming the field, CSV import/export, nothing stored in clear, and the per-process
cache (TTL, dropped on a change)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import ApiClient, problem

NUMBER = "+8613800138000"


@pytest.fixture
async def admin(api) -> ApiClient:
    from server import ACCOUNTS

    made = await api.client.app[ACCOUNTS].create_api_key(api.tenant_id, ["messages", "routes-admin"])
    return ApiClient(api.client, api.tenant_id, made["api_key"])


async def test_the_operator_lists_looks_up_exports_and_removes_a_number(admin):
    resp = await admin.post("/v1/sms/ported-numbers", {"number": NUMBER, "carrier": "china_unicom"})
    assert (resp.status, await resp.json()) == (201, {"carrier": "china_unicom", "created": True})
    resp = await admin.post("/v1/sms/ported-numbers", {"number": "13800138000", "carrier": "china_telecom"})
    assert (resp.status, await resp.json()) == (200, {"carrier": "china_telecom", "created": False})  # national form
    found = await (await admin.post("/v1/sms/ported-numbers/lookup", {"number": NUMBER})).json()
    assert found == {"carrier": "china_telecom"}
    summary = await (await admin.get("/v1/sms/ported-numbers")).json()
    assert summary["counts"] == {"china_telecom": 1} and summary["total"] == 1
    assert "china_mobile" in summary["carriers"]
    resp = await admin.get("/v1/sms/ported-numbers/export")
    assert resp.content_type == "text/csv"
    assert await resp.text() == f"number,carrier\n{NUMBER},china_telecom\n"
    assert await (await admin.post("/v1/sms/ported-numbers/remove", {"number": NUMBER})).json() == {"removed": True}
    assert await (await admin.post("/v1/sms/ported-numbers/remove", {"number": NUMBER})).json() == {"removed": False}
    assert await (await admin.post("/v1/sms/ported-numbers/lookup", {"number": NUMBER})).json() == {"carrier": None}


async def test_a_csv_import_is_all_or_nothing_and_exports_back(admin):
    text = "number,carrier\n+8613800138000,china_unicom\n18912345678,china_mobile\n\n"
    resp = await admin.post("/v1/sms/ported-numbers/import", {"csv": text})
    assert await resp.json() == {"added": 2, "updated": 0, "unchanged": 0}
    again = "+8613800138000,china_unicom\n+8618912345678,china_telecom\n"  # no header
    assert await (await admin.post("/v1/sms/ported-numbers/import", {"csv": again})).json() == {
        "added": 0,
        "updated": 1,
        "unchanged": 1,
    }
    bad = "number,carrier\n+8613700137000,china_unicom\nnot-a-number,china_unicom\n"
    body = await problem(await admin.post("/v1/sms/ported-numbers/import", {"csv": bad}), 422)
    assert body["errors"][0]["path"] == "/csv" and body["errors"][0]["message"].startswith("row 3:")
    exported = await (await admin.get("/v1/sms/ported-numbers/export")).text()
    assert exported.splitlines() == ["number,carrier", "+8613800138000,china_unicom", "+8618912345678,china_telecom"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/sms/ported-numbers", {"number": "12345", "carrier": "china_unicom"}, "/number"),
        ("/v1/sms/ported-numbers", {"carrier": "china_unicom"}, "/number"),
        ("/v1/sms/ported-numbers", {"number": NUMBER, "carrier": "martian_mobile"}, "/carrier"),
        ("/v1/sms/ported-numbers", {"number": NUMBER, "carrier": 7}, "/carrier"),
        ("/v1/sms/ported-numbers/lookup", {"number": ["+8613800138000"]}, "/number"),
        ("/v1/sms/ported-numbers/remove", {}, "/number"),
        ("/v1/sms/ported-numbers/import", {"csv": 3}, "/csv"),
        ("/v1/sms/ported-numbers/import", {"csv": "+8613800138000\n"}, "/csv"),
        ("/v1/sms/ported-numbers/import", {"csv": "+8613800138000,china_unicom,x\n"}, "/csv"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(admin, path, body, field):
    found = await problem(await admin.post(path, body), 422)
    assert [e["path"] for e in found["errors"]] == [field]


async def test_only_the_platform_operators_scope_reaches_the_list(api):
    refused = await problem(
        await api.post("/v1/sms/ported-numbers", {"number": NUMBER, "carrier": "china_unicom"}), 403
    )
    assert "routes-admin" in refused["detail"]
    await problem(await api.get("/v1/sms/ported-numbers"), 403)


async def test_no_number_is_stored_in_clear(admin):
    from fallback.ported import ported_table
    from server import DATABASE

    await admin.post("/v1/sms/ported-numbers", {"number": NUMBER, "carrier": "china_unicom"})
    async with admin.client.app[DATABASE].read.connect() as conn:
        [row] = (await conn.execute(select(ported_table))).all()
    stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
    assert b"13800138000" not in stored and len(row.number_index) == 32


async def test_answers_are_cached_per_process_until_the_ttl_or_a_change(api):
    """Two processes' lists over one database: one caches, the other changes the list."""
    from fallback.ported import PortedNumbers
    from server import DATABASE, KEYRING

    app = api.client.app
    now = [0.0]
    carriers = {"china_mobile", "china_unicom", "default"}
    here = PortedNumbers(app[DATABASE], app[KEYRING], carriers, ttl_s=30, clock=lambda: now[0])
    there = PortedNumbers(app[DATABASE], app[KEYRING], carriers)
    assert await there.put(NUMBER, "china_unicom")  # makes the platform key
    assert await here.carrier_of(NUMBER) == "china_unicom"
    reads = here.lookups
    await there.put(NUMBER, "china_mobile")
    assert await here.carrier_of(NUMBER) == "china_unicom" and here.lookups == reads  # cached
    now[0] += 31
    assert await here.carrier_of(NUMBER) == "china_mobile"  # the TTL ran out
    await there.remove(NUMBER)
    here.invalidate()  # what the `ported` wake-up does when another process changed the list
    assert await here.carrier_of(NUMBER) is None
