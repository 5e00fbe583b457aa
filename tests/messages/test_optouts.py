"""The opt-out list through HTTP (SQLite and PostgreSQL): readable with the number (sealed at
rest; `to: null` for opt-outs recorded before numbers were kept), added to, looked up without the
number in the URL, removed by id or number (chained with who and why), imported with per-line
errors and duplicates counted, exported as CSV; every path that records an opt-out keeps the
sealed number; the `compliance` scope guards it."""

from __future__ import annotations

import csv
import io

import pytest

from compliance.consent import verify_chain
from messages.http import LEDGER
from messages.optouts import add_opt_out
from messages.tables import opt_outs
from server import DATABASE, KEYRING
from tests.conftest import card, problem

A, B, C = "+8613800138001", "+8613800138002", "+8613800138003"


async def _listed(api) -> dict[str | None, str]:
    data = (await (await api.get("/v1/opt-outs")).json())["data"]
    return {e["to"]: e["source"] for e in data}


async def test_add_list_search_remove_and_the_sends_honour_it(api):
    resp = await api.post("/v1/opt-outs", {"to": "13800138001"})
    assert resp.status == 201 and (await resp.json()) == {"added": 1, "already_listed": 0}
    resp = await api.post("/v1/opt-outs", {"numbers": [A, B, "+86 138 0013 8003"]})
    assert (await resp.json()) == {"added": 2, "already_listed": 1}
    assert await _listed(api) == {A: "api", B: "api", C: "api"}

    seen, cursor = [], None
    while True:
        page = await (await api.get("/v1/opt-outs?limit=2" + (f"&cursor={cursor}" if cursor else ""))).json()
        seen += [e["to"] for e in page["data"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert sorted(seen) == [A, B, C]

    found = await (await api.post("/v1/opt-outs/search", {"to": B})).json()
    assert found["opted_out"] and found["entry"]["to"] == B
    answer = await (await api.post("/v1/messages", {"to": B, "card": card(), "traffic_type": "marketing"})).json()
    assert answer["messages"][0]["status"] == "rejected"

    resp = await api.client.delete(
        f"/v1/opt-outs/{found['entry']['id']}", json={"reason": "asked again by phone"}, headers=api.auth
    )
    assert resp.status == 200 and (await resp.json())["removed"] == 1
    resp = await api.post("/v1/opt-outs/remove", {"to": A, "reason": "re-subscribed on the web"})
    assert resp.status == 200
    await problem(await api.post("/v1/opt-outs/remove", {"to": A}), 404)
    await problem(await api.client.delete("/v1/opt-outs/nope", headers=api.auth), 404)
    assert not (await (await api.post("/v1/opt-outs/search", {"to": B})).json())["opted_out"]
    answer = await (await api.post("/v1/messages", {"to": B, "card": card(), "traffic_type": "marketing"})).json()
    assert answer["messages"][0]["status"] == "accepted"
    assert await _listed(api) == {C: "api"}
    assert await verify_chain(api.client.app[DATABASE], api.tenant_id) == (2, None)  # the two removals


INVALID = [
    ("post", "/v1/opt-outs", {"to": "12"}, "/to"),
    ("post", "/v1/opt-outs", {"numbers": [A, "x"]}, "/numbers/1"),
    ("post", "/v1/opt-outs", {"numbers": []}, "/numbers"),
    ("post", "/v1/opt-outs", {}, "/to"),
    ("post", "/v1/opt-outs", {"to": A, "numbers": [B]}, "/to"),
    ("post", "/v1/opt-outs/search", {"to": "x"}, "/to"),
    ("post", "/v1/opt-outs/remove", {"to": A, "reason": "r" * 501}, "/reason"),
    ("post", "/v1/opt-outs/remove", {"to": A, "why": "x"}, "/why"),
]


@pytest.mark.parametrize("method,path,body,pointer", INVALID, ids=[f"{i[1]} {i[3]}" for i in INVALID])
async def test_invalid_requests_name_the_field(api, method, path, body, pointer):
    resp = await api.client.request(method, path, json=body, headers=api.auth)
    assert pointer in [e["path"] for e in (await problem(resp, 422))["errors"]]
    assert await _listed(api) == {}


async def test_import_reports_lines_counts_duplicates_then_export(api):
    await api.post("/v1/opt-outs", {"to": C})
    text = "phone,note\n13800138001,a\nbad\n+8613800138002\n13800138001\n\n+8613800138003\n"
    resp = await api.client.post(
        "/v1/opt-outs/import", data=text.encode(), headers={**api.auth, "Content-Type": "text/csv"}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {
        "added": 2,
        "duplicates": 2,  # A twice in the file, C listed before
        "lines": 7,
        "errors": [{"line": 3, "message": "not a valid phone number"}],
    }
    lines = b'{"to": "+8613800138004"}\n"13800138005"\n{"to": 5}\n'
    resp = await api.client.post(
        "/v1/opt-outs/import", data=lines, headers={**api.auth, "Content-Type": "application/x-ndjson"}
    )
    assert (await resp.json())["added"] == 2 and [e["line"] for e in (await resp.json())["errors"]] == [3]
    assert (await _listed(api))[A] == "import"

    resp = await api.get("/v1/opt-outs/export")
    assert resp.status == 200 and resp.content_type == "text/csv"
    exported = await resp.read()
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert len(rows) == 5 and {r["to"] for r in rows} >= {A, B, C}
    # The export imports back (its `to` column is found by the header): all duplicates.
    resp = await api.client.post("/v1/opt-outs/import", data=exported, headers={**api.auth, "Content-Type": "text/csv"})
    assert (await resp.json())["duplicates"] == 5
    resp = await api.client.post(  # a bare CR inside a line is that line's error, not a 500
        "/v1/opt-outs/import", data=b"13800138006\n138\r00138007\n", headers={**api.auth, "Content-Type": "text/csv"}
    )
    assert (await resp.json())["added"] == 1 and [e["line"] for e in (await resp.json())["errors"]] == [2]


async def test_every_existing_opt_out_path_keeps_the_sealed_number(api):
    app = api.client.app
    first = await (await api.post("/v1/messages", {"to": A, "card": card(), "traffic_type": "marketing"})).json()
    assert await app[LEDGER].opt_out(api.tenant_id, first["messages"][0]["id"], source="link_page")
    # An opt-out recorded before numbers were kept: its number reads back as null.
    bidx = app[KEYRING].blind_index(api.tenant_id, B)
    async with app[DATABASE].write.begin() as conn:
        await conn.execute(opt_outs.insert().values(tenant_id=api.tenant_id, to_bidx=bidx, created_ms=1, source="sms_reply", id="0" * 32))  # fmt: skip
    listed = await _listed(api)
    assert listed == {A: "link_page", None: "sms_reply"}
    async with app[DATABASE].read.connect() as conn:
        sealed = (await conn.execute(opt_outs.select())).all()
    assert all(A.encode() not in (r.to_enc or b"") for r in sealed)  # sealed at rest
    # The same number opting out again (as a reply or a spam report does) fills in its number.
    await add_opt_out(app[LEDGER].writer, api.tenant_id, bidx, source="sms_reply", now_ms=2, keyring=app[KEYRING], to=B)
    assert (await _listed(api)) == {A: "link_page", B: "sms_reply"}


async def test_the_list_needs_the_compliance_scope(api):
    resp = await api.post("/v1/api-keys", {"scopes": ["messages"]})
    assert resp.status == 201, await resp.text()
    key = (await resp.json())["api_key"]
    for method, path in [("get", "/v1/opt-outs"), ("post", "/v1/opt-outs/search"), ("get", "/v1/consents")]:
        resp = await api.client.request(method, path, json={"to": A}, headers={"Authorization": f"Bearer {key}"})
        assert resp.status == 403, (path, await resp.text())
