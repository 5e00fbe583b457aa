"""Retention purge, erasure and export through HTTP, on SQLite and PostgreSQL, with messages that
really went through the sandbox (RCS read, SMS with a link page, one still scheduled)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import orjson
import pytest
from sqlalchemy import func, select

from fallback.shortlinks import SHORTLINKS
from fallback.shortlinks.tables import link_clicks
from messages import http as messages_http
from messages.evidence import evidence_records, verify_all
from messages.tables import message_events
from privacy.http import PRIVACY
from privacy.registry import DAY_MS
from server import DATABASE, DISPATCHER, KEYRING, sealed_columns
from store.ids import new_id
from store.writer import WriteBatch
from tests.conftest import card, problem
from tests.dispatch.conftest import wait_for

FINAL = {"rcs_read", "sms_delivered"}


def _later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _send(api, body: dict, headers: dict | None = None) -> list[str]:
    resp = await api.post("/v1/messages", json=body, headers=headers)
    assert resp.status == 202, await resp.text()
    return [m["id"] for m in (await resp.json())["messages"]]


async def _settle(app) -> None:
    """Every committed event into the evidence log (the appender's pass, run now)."""
    from messages.evidence_http import EVIDENCE

    while await app[EVIDENCE].append_pending():
        pass


async def _evidence_intact(app) -> int:
    reports = await verify_all(app[DATABASE], app[KEYRING])
    assert reports and all(r.intact for _, r in reports), [str(r) for _, r in reports]
    return sum(r.checked for _, r in reports)


async def _records_of(app, ids: list[str]) -> int:
    async with app[DATABASE].read.connect() as conn:
        return (
            await conn.execute(
                select(func.count()).select_from(evidence_records).where(evidence_records.c.message_id.in_(ids))
            )
        ).scalar()


async def sealed_plaintexts(app, tenant_id: str) -> list[tuple[str, bytes]]:
    """Every sealed value of the tenant that still opens, from every sealed column the platform
    declares (server.sealed_columns: a column added later is scanned too)."""
    keyring, out = app[KEYRING], []
    async with app[DATABASE].read.connect() as conn:
        for col in sealed_columns():
            t = col.table
            rows = await conn.execute(select(t).where(t.c.tenant_id == tenant_id, t.c[col.column].is_not(None)))
            for row in rows:
                try:
                    plain = keyring.open(tenant_id, t.name, col.ad_column, col.row_id(row), getattr(row, col.column))
                except Exception:
                    continue  # does not open: unreadable, as erased data must be
                out.append((f"{t.name}.{col.column}", plain))
    return out


def _holding(plaintexts, needle: str) -> list[str]:
    forms = {needle.encode(), needle.lstrip("+").encode(), needle.encode("unicode_escape")}
    return sorted({where for where, plain in plaintexts if any(f in plain for f in forms)})


async def test_purge_removes_exactly_what_is_past_retention(sandbox_api):
    api, app = sandbox_api, sandbox_api.client.app
    [rcs] = await _send(api, {"to": "+8613800000011", "card": card()}, {"Idempotency-Key": "k-1"})
    [sms] = await _send(api, {"to": "+8613800000020", "card": card()})
    [scheduled] = await _send(api, {"to": "+8613800000033", "card": card(), "send_at": _later(10)})
    await wait_for(api, rcs, lambda v: v["status"] == "rcs_read")
    view = await wait_for(api, sms, lambda v: v["status"] == "sms_delivered" and "short_link" in v)
    assert (await api.client.get(urlsplit(view["short_link"]).path)).status == 200  # a click on the link page
    await app[SHORTLINKS].flush()
    await _settle(app)
    records = await _evidence_intact(app)

    # Today nothing is past the default retention: the API's purge finds nothing.
    resp = await api.post("/v1/privacy/purges")
    assert resp.status == 200, await resp.text()
    assert set((await resp.json())["purged"].values()) == {0}

    later = int(time.time() * 1000) + 181 * DAY_MS
    # Events kept five months, messages a year: 181 days on, only the history of final messages goes.
    assert (await api.put("/v1/privacy/retention", json={"events": 153, "messages": 365})).status == 200
    report = await app[PRIVACY].purge(api.tenant_id, now_ms=later)
    assert report["purged"]["events"] > 0 and report["purged"]["messages"] == 0
    assert report["purged"]["clicks"] == 1 and report["purged"]["idempotency_replays"] == 1  # 90 and 7 days
    assert (await (await api.get(f"/v1/messages/{rcs}")).json())["events"] == []
    assert len((await (await api.get(f"/v1/messages/{scheduled}")).json())["events"]) == 2  # in flight: kept

    # An event not in the evidence log yet holds its message back until the appender took it.
    # The background appender stops first, so only this test's _settle chains the late event.
    from messages.evidence_http import EVIDENCE

    await app[EVIDENCE].stop()
    await app[messages_http.LEDGER].writer.write(
        WriteBatch().insert(message_events, {**_late_event(rcs, api.tenant_id), "id": new_id(), "chained": False})
    )
    assert (await api.put("/v1/privacy/retention", json={"messages": 180})).status == 200
    report = await app[PRIVACY].purge(api.tenant_id, now_ms=later)
    assert report["purged"]["messages"] == 1  # the SMS one (its link page with it)
    assert (await api.get(f"/v1/messages/{sms}")).status == 404
    await _settle(app)
    report = await app[PRIVACY].purge(api.tenant_id, now_ms=later)
    assert report["purged"]["messages"] == 1
    for gone in (rcs, sms):
        assert (await api.get(f"/v1/messages/{gone}")).status == 404
    kept = await api.get(f"/v1/messages/{scheduled}")
    assert kept.status == 200 and (await kept.json())["status"] == "scheduled"  # in flight: never purged
    async with app[DATABASE].read.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(link_clicks))).scalar() == 0
    # The evidence of the purged messages stays (hashes), and the log still verifies.
    assert await _records_of(app, [rcs, sms]) > 0
    assert await _evidence_intact(app) == records + 1
    # A second run finds nothing more: the purge is idempotent, so a stopped run just resumes.
    again = await app[PRIVACY].purge(api.tenant_id, now_ms=later)
    assert set(again["purged"].values()) == {0}


def _late_event(message_id: str, tenant_id: str) -> dict:
    at = int(time.time() * 1000)
    return {"message_id": message_id, "tenant_id": tenant_id, "type": "rcs_read", "at_ms": at, "source": "test"}


async def test_erasure_leaves_no_sealed_copy_of_the_number_that_opens(sandbox_api, unused_tcp_port_factory):
    api, app = sandbox_api, sandbox_api.client.app
    person, other = "+8613800000041", "+8613800000052"
    # Webhook payloads are queued for a receiver that is down: sealed copies of the number.
    url = f"http://127.0.0.1:{unused_tcp_port_factory()}/hook"
    assert (await api.post("/v1/webhooks", json={"url": url, "events": ["message.status"]})).status == 201
    body = {
        "recipients": [{"to": person, "variables": {"name": "张三丰"}}, {"to": other, "variables": {"name": "李四"}}],
        "card": card(title="{{ name }} 您好"),
    }
    sent = await _send(api, body, {"Idempotency-Key": "campaign-1"})
    # A consent (its proof names the person) and an opt-out hold sealed copies too.
    proof = {"form": "signup", "name": "张三丰"}
    assert (await api.post("/v1/consents", json={"to": person, "source": "web_form", "proof": proof})).status == 201
    assert (await api.post("/v1/opt-outs", json={"to": person})).status == 201
    [waiting] = await _send(api, {"to": person, "card": card(), "send_at": _later(1)})
    for mid in sent:
        await wait_for(api, mid, lambda v: v["status"] in FINAL)

    exported = await api.post("/v1/privacy/exports", json={"to": person})
    assert exported.status == 200, await exported.text()
    got = await exported.json()
    assert {m["id"] for m in got["messages"]} == {sent[0], waiting}
    first = next(m for m in got["messages"] if m["id"] == sent[0])
    assert first["to"] == person and first["variables"] == {"name": "张三丰"}
    assert first["card"]["message"]["generalPurposeCard"]["content"]["title"] == "{{ name }} 您好"
    assert "rcs_read" in [e["type"] for e in first["events"]]
    assert other not in orjson.dumps(got).decode()
    assert [c["proof"] for c in got["consents"]] == [proof] and len(got["opt_outs"]) == 1

    # A message still in flight is never erased under the dispatcher: cancel it first.
    refused = await problem(await api.post("/v1/privacy/erasures", json={"to": person}), 409)
    assert refused["errors"][0]["path"] == "/to" and refused["message_ids"] == [waiting]
    assert (await api.post(f"/v1/messages/{waiting}/cancel")).status == 200
    assert _holding(await sealed_plaintexts(app, api.tenant_id), person)  # the scan below sees copies

    capability = app[DISPATCHER].capability
    assert capability.get(person) is not None and capability.get(other) is not None
    resp = await api.post("/v1/privacy/erasures", json={"to": person})
    assert resp.status == 201, await resp.text()
    receipt = await resp.json()
    # Nor does the process remember what the person's phone could take.
    assert capability.get(person) is None and capability.get(other) is not None
    assert receipt["erased"]["messages"] == 2
    assert receipt["erased"]["idempotency_replays"] == 1
    assert receipt["erased"]["webhook_deliveries"] >= 1
    assert receipt["kept"]["evidence_records"] > 0
    assert receipt["erased"]["consents"] == 1 and receipt["erased"]["opt_out_numbers"] == 1
    assert receipt["kept"]["opt_outs"] == 1  # still honoured, by blind index alone
    still = await (await api.post("/v1/opt-outs/search", json={"to": person})).json()
    assert still["opted_out"] is True

    left = await sealed_plaintexts(app, api.tenant_id)
    assert _holding(left, person) == []
    assert _holding(left, "张三丰") == []
    assert _holding(left, other)  # the other recipient's data is untouched
    assert (await api.get(f"/v1/messages/{sent[1]}")).status == 200
    assert (await (await api.post("/v1/privacy/exports", json={"to": person})).json())["messages"] == []
    await _evidence_intact(app)

    listed = await api.get("/v1/privacy/erasures")
    text = await listed.text()
    assert (await listed.json())["data"][0]["id"] == receipt["id"]
    assert person not in text and person.lstrip("+") not in text


BAD_RETENTION = [
    ({"messages": 30}, "/messages"),  # under five months (MIIT Order 31)
    ({"clicks": 0}, "/clicks"),
    ({"clicks": 3651}, "/clicks"),
    ({"clicks": "90"}, "/clicks"),
    ({"clicks": True}, "/clicks"),
    ({"clicks": 1.5}, "/clicks"),
    ({"consents": 30}, "/consents"),  # a consent's proof outlives the sends it allowed
    ({"visits": 10}, "/visits"),
    ({"a/b": 10}, "/a~1b"),
]


async def test_retention_bounds_are_refused_with_their_path(api):
    for body, path in BAD_RETENTION:  # one app for the whole table
        got = await problem(await api.put("/v1/privacy/retention", json=body), 422)
        assert [e["path"] for e in got["errors"]] == [path], body
    assert (await (await api.get("/v1/privacy/retention")).json())["clicks"] == 90  # nothing changed


async def test_retention_settings_round_trip(api):
    defaults = await (await api.get("/v1/privacy/retention")).json()
    assert defaults == {
        "messages": 180,
        "events": 180,
        "clicks": 90,
        "media": None,
        "webhook_deliveries": 30,
        "idempotency_replays": 7,
        "consents": 365,
        "conversations": 180,
    }
    resp = await api.put("/v1/privacy/retention", json={"clicks": 30, "media": 365, "messages": None})
    assert resp.status == 200, await resp.text()
    changed = {**defaults, "clicks": 30, "media": 365, "messages": None}
    assert await resp.json() == changed
    assert await (await api.get("/v1/privacy/retention")).json() == changed
    other = await api.new_tenant()
    assert await (await other.get("/v1/privacy/retention")).json() == defaults


@pytest.mark.parametrize(("path", "body"), [("/v1/privacy/erasures", {"to": "12"}), ("/v1/privacy/exports", {})])
async def test_a_bad_number_is_refused_naming_to(api, path, body):
    got = await problem(await api.post(path, json=body), 422)
    assert got["errors"][0]["path"] == "/to"


async def test_the_privacy_scope_is_needed(api):
    made = await (await api.post("/v1/api-keys", {"scopes": ["messages"]})).json()
    narrow = {"Authorization": f"Bearer {made['api_key']}"}
    for method, path in (("GET", "/v1/privacy/retention"), ("POST", "/v1/privacy/exports")):
        resp = await api.client.request(method, path, json={"to": "+8613800000011"}, headers=narrow)
        assert resp.status == 403, path


async def test_an_erasure_with_an_idempotency_key_answers_its_first_receipt_again(api):
    """A retried erasure (same key, same body) gets the first receipt back and files no second
    one; the key with another number is a 409; without a key each erasure files its own."""
    person = {"to": "+8613800000061"}
    first = await api.post("/v1/privacy/erasures", json=person, headers={"Idempotency-Key": "erase-1"})
    assert first.status == 201, await first.text()
    again = await api.post("/v1/privacy/erasures", json=person, headers={"Idempotency-Key": "erase-1"})
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    other = await api.post(
        "/v1/privacy/erasures", json={"to": "+8613800000062"}, headers={"Idempotency-Key": "erase-1"}
    )
    await problem(other, 409)
    await problem(await api.post("/v1/privacy/erasures", json=person, headers={"Idempotency-Key": ""}), 422)
    assert (await api.post("/v1/privacy/erasures", json=person)).status == 201
    receipts = (await (await api.get("/v1/privacy/erasures")).json())["data"]
    assert len(receipts) == 2 and (await first.json())["id"] in [r["id"] for r in receipts]
