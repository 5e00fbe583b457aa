"""Consent records through HTTP (SQLite and PostgreSQL): grant one or a batch, list by cursor,
look a number up without putting it in the URL, withdraw, import, export; every grant and
withdrawal chained; the policy's `marketing_requires_consent` refusing marketing sends without
one (422 naming the rule and `/to` for a single `to`, `rejected` in a batch); a keyword reply
recording one with the MO as proof."""

from __future__ import annotations

import csv
import io

import pytest

from compliance.consent import CONSENT_MIN_RETENTION_DAYS, consent_policy, verify_chain
from compliance.consent_http import CONSENTS
from fallback.client import InboundSms
from fallback.replies import SmsReplies
from server import DATABASE
from tests.conftest import card, problem

A, B, C = "+8613800138001", "+8613800138002", "+8613800138003"


async def _grant(api, body: dict) -> dict:
    resp = await api.post("/v1/consents", body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_grant_list_search_withdraw_and_chain(api):
    form = {"fields": {"name": "张三", "agree": True}, "url": "https://brand.example/join"}
    one = await _grant(api, {"to": "13800138001", "source": "web_form", "brand": "【鸿雁】", "proof": form})
    assert one["to"] == A and one["scope"] == ["marketing"] and one["active"] and one["proof"] == form
    batch = await _grant(api, {"consents": [{"to": B, "scope": ["marketing", "notification"]}, {"to": C}]})
    assert [c["to"] for c in batch["data"]] == [B, C] and batch["data"][0]["source"] == "api"

    seen, cursor = [], None
    while True:
        page = await (await api.get("/v1/consents?limit=2" + (f"&cursor={cursor}" if cursor else ""))).json()
        seen += [c["to"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [A, B, C] and len(seen) == 3

    found = await (await api.post("/v1/consents/search", {"to": "+86 138 0013 8001"})).json()
    assert found["consented"] and [c["id"] for c in found["data"]] == [one["id"]]
    assert (await (await api.get(f"/v1/consents/{one['id']}")).json())["proof"] == form

    resp = await api.post(f"/v1/consents/{one['id']}/withdraw", {"source": "web_form"})
    assert resp.status == 200 and (await resp.json())["withdrawn"] == 1
    await problem(await api.post(f"/v1/consents/{one['id']}/withdraw", {}), 409)
    await problem(await api.post("/v1/consents/0123/withdraw", {}), 404)
    by_number = await (await api.post("/v1/consents/withdraw", {"to": B})).json()
    assert by_number["withdrawn"] == 1
    found = await (await api.post("/v1/consents/search", {"to": A})).json()
    assert not found["consented"] and found["data"][0]["withdrawn_at"] is not None
    active = await (await api.get("/v1/consents?active=true")).json()
    assert [c["to"] for c in active["data"]] == [C]

    db = api.client.app[DATABASE]
    assert await verify_chain(db, api.tenant_id) == (5, None)  # three grants, two withdrawals
    other = await api.new_tenant()
    assert (await (await other.post("/v1/consents/search", {"to": A})).json())["data"] == []


async def test_an_opt_out_withdraws_marketing_consents_and_keeps_the_others(api):
    """However a number comes onto the opt-out list (here the API), its active consents covering
    marketing are withdrawn, each withdrawal chained; a notification-only consent stays."""
    await _grant(api, {"to": A, "scope": ["marketing", "notification"], "source": "web_form"})
    await _grant(api, {"to": A, "scope": ["notification"], "source": "paper"})
    await _grant(api, {"to": B})
    assert (await api.post("/v1/opt-outs", {"to": A})).status in (200, 201)
    found = await (await api.post("/v1/consents/search", {"to": A})).json()
    states = sorted((c["scope"], c["active"]) for c in found["data"])
    assert states == [(["marketing", "notification"], False), (["notification"], True)]
    assert (await (await api.post("/v1/consents/search", {"to": B})).json())["consented"]
    # Opting out again withdraws nothing more.
    assert (await api.post("/v1/opt-outs", {"to": A})).status in (200, 201)
    db = api.client.app[DATABASE]
    assert await verify_chain(db, api.tenant_id) == (4, None)  # three grants, one withdrawal


INVALID = [
    ("no number", {"scope": ["marketing"]}, "/to"),
    ("a bad number", {"to": "12345"}, "/to"),
    ("an unknown traffic type", {"to": A, "scope": ["spam"]}, "/scope"),
    ("an empty scope", {"to": A, "scope": []}, "/scope"),
    ("an unknown source", {"to": A, "source": "rumour"}, "/source"),
    ("a future grant", {"to": A, "granted_at": "2999-01-01T00:00:00Z"}, "/granted_at"),
    ("a time without zone", {"to": A, "granted_at": "2026-01-01T00:00:00"}, "/granted_at"),
    ("an unknown field", {"to": A, "colour": "red"}, "/colour"),
    ("a bad batch item", {"consents": [{"to": A}, {"to": "x"}]}, "/consents/1/to"),
    ("an empty batch", {"consents": []}, "/consents"),
]


@pytest.mark.parametrize("name,body,path", INVALID, ids=[i[0] for i in INVALID])
async def test_an_invalid_grant_names_its_field(api, name, body, path):
    body_ = await problem(await api.post("/v1/consents", body), 422)
    assert path in [e["path"] for e in body_["errors"]]
    assert (await (await api.get("/v1/consents")).json())["data"] == []  # all or none


async def test_search_and_withdraw_need_a_valid_number_in_the_body(api):
    for path in ("/v1/consents/search", "/v1/consents/withdraw"):
        body = await problem(await api.post(path, {"to": "not a number"}), 422)
        assert body["errors"][0]["path"] == "/to"


async def test_import_reports_lines_and_keeps_file_and_line_as_proof_then_export(api):
    text = "to,scope,source,granted_at,brand\n13800138001,marketing,,2026-01-02T03:04:05Z,\nnot-a-number\n+8613800138002,marketing;notification,web_form,,【鸿雁】\n,\n"  # fmt: skip
    resp = await api.client.post(
        "/v1/consents/import?filename=crm.csv", data=text.encode(), headers={**api.auth, "Content-Type": "text/csv"}
    )
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["imported"] == 2 and result["lines"] == 5
    assert {(e["line"], e["path"]) for e in result["errors"]} == {(3, "/to"), (5, "/to")}
    found = await (await api.post("/v1/consents/search", {"to": A})).json()
    [c] = found["data"]
    assert c["source"] == "import" and c["proof"] == {"file": "crm.csv", "line": 2}
    assert c["granted_at"] == "2026-01-02T03:04:05.000Z"

    lines = b'{"to": "+8613800138003", "scope": ["marketing"]}\n{"to": 1}\nnot json\n'
    resp = await api.client.post(
        "/v1/consents/import", data=lines, headers={**api.auth, "Content-Type": "application/x-ndjson"}
    )
    result = await resp.json()
    assert result["imported"] == 1 and [e["line"] for e in result["errors"]] == [2, 3]
    resp = await api.client.post("/v1/consents/import", data=b"x", headers={**api.auth, "Content-Type": "image/png"})
    await problem(resp, 415)
    # A bare CR inside a line is that line's error, not a 500.
    resp = await api.client.post(
        "/v1/consents/import", data=b"to\n138\r00138004\n", headers={**api.auth, "Content-Type": "text/csv"}
    )
    assert resp.status == 200 and [e["line"] for e in (await resp.json())["errors"]] == [2]

    resp = await api.get("/v1/consents/export")
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(r["to"] for r in rows) == [A, B, C]
    assert {r["to"]: r["scope"] for r in rows}[B] == "marketing;notification"


async def test_the_policy_gets_consent_and_unsubscribe_settings(api):
    policy = await (await api.get("/v1/compliance/policy")).json()
    assert policy == {
        "template_review": "matched",
        "marketing_requires_consent": False,
        "unsubscribe_text": "拒收请回复R",
        "consent_keywords": ["Y", "同意"],
    }
    change = {"marketing_requires_consent": True, "unsubscribe_text": "回T退订", "consent_keywords": ["好"]}
    resp = await api.put("/v1/compliance/policy", change)
    assert (await resp.json()) == {"template_review": "matched", **change}
    resp = await api.put("/v1/compliance/policy", {"template_review": "always"})
    assert (await resp.json()) == {"template_review": "always", **change}  # the others kept
    for bad, path in [
        ({"marketing_requires_consent": "yes"}, "/marketing_requires_consent"),
        ({"unsubscribe_text": ""}, "/unsubscribe_text"),
        ({"unsubscribe_text": "退" * 41}, "/unsubscribe_text"),
        ({"consent_keywords": "Y"}, "/consent_keywords"),
        ({"consent_keywords": ["!!"]}, "/consent_keywords"),
        ({}, "/template_review"),
    ]:
        body = await problem(await api.put("/v1/compliance/policy", bad), 422)
        assert body["errors"][0]["path"] == path


# (name, the recipient's consent, traffic type, policy requires consent, expected outcome)
SENDS = [
    ("policy off, no consent", None, "marketing", False, "accepted"),
    ("no consent", None, "marketing", True, "consent_required"),
    ("a marketing consent", ["marketing"], "marketing", True, "accepted"),
    ("a consent to notifications only", ["notification"], "marketing", True, "consent_required"),
    ("a withdrawn consent", "withdrawn", "marketing", True, "consent_required"),
    ("a notification needs none", None, "notification", True, "accepted"),
    ("an OTP needs none", None, "otp", True, "accepted"),
]


@pytest.mark.parametrize("name,consent,traffic,required,outcome", SENDS, ids=[s[0] for s in SENDS])
async def test_marketing_without_consent_is_refused_when_the_policy_says_so(
    api, name, consent, traffic, required, outcome
):
    await api.put("/v1/compliance/policy", {"marketing_requires_consent": required})
    if consent is not None:
        await _grant(api, {"to": A, "scope": consent if isinstance(consent, list) else ["marketing"]})
        if consent == "withdrawn":
            await api.post("/v1/consents/withdraw", {"to": A})
    single = await api.post("/v1/messages", {"to": A, "card": card(), "traffic_type": traffic})
    batch = await api.post("/v1/messages", {"recipients": [{"to": A}], "card": card(), "traffic_type": traffic})
    assert batch.status == 202
    [item] = (await batch.json())["messages"]
    if outcome == "accepted":
        assert single.status == 202 and item["status"] == "accepted"
        return
    body = await problem(single, 422)
    assert body["rule"] == "consent_required" and body["errors"][0]["path"] == "/to"
    assert "consent_required" in body["errors"][0]["message"]
    assert item["status"] == "rejected" and item["reason"] == "consent_required"
    view = await (await api.get(f"/v1/messages/{item['id']}")).json()
    assert view["events"][0]["detail"]["rule"] == "consent_required"


async def test_a_batch_refuses_only_the_recipients_without_consent(api):
    await api.put("/v1/compliance/policy", {"marketing_requires_consent": True})
    await _grant(api, {"consents": [{"to": A}, {"to": C}]})
    body = {"recipients": [{"to": A}, {"to": B}, {"to": C}], "card": card(), "traffic_type": "marketing"}
    answer = await (await api.post("/v1/messages", body)).json()
    assert [(m["status"], m.get("reason")) for m in answer["messages"]] == [
        ("accepted", None),
        ("rejected", "consent_required"),
        ("accepted", None),
    ]


# (reply text, keywords set in the policy or None for the defaults, a consent recorded)
REPLIES = [
    ("Y", None, True),
    (" y！", None, True),
    ("同意", None, True),
    ("同意。", None, True),
    ("好的", None, False),
    ("TD", None, False),  # an opt-out, never a consent
    ("Y", [], False),  # the tenant turned keyword consent off
    ("好", ["好"], True),
    ("Y", ["好"], False),
]


@pytest.mark.parametrize("text,keywords,granted", REPLIES, ids=[f"{r[0]!r}-{r[1]}" for r in REPLIES])
async def test_a_keyword_reply_records_a_consent_with_the_mo_as_proof(api, text, keywords, granted):
    if keywords is not None:
        await api.put("/v1/compliance/policy", {"consent_keywords": keywords})
    opted: list = []

    async def tenant_of(ext: str) -> str | None:
        return api.tenant_id if ext == "01" else None

    async def on_opt_out(tenant_id: str, number: str) -> None:
        opted.append(number)

    replies = SmsReplies(
        "1069000", tenant_of=tenant_of, on_opt_out=on_opt_out, on_consent=api.client.app[CONSENTS].by_reply
    )
    await replies.handle(InboundSms("8613800138001", "106900001", text, message_id="mo-42"))
    found = await (await api.post("/v1/consents/search", {"to": A})).json()
    if not granted:
        assert found["data"] == [] and replies.counts["consents"] == 0
        return
    [c] = found["data"]
    assert c["source"] == "keyword_reply" and c["scope"] == ["marketing"] and not opted
    assert c["proof"] == {"text": text, "mo_id": "mo-42"} and replies.counts["consents"] == 1
    assert await verify_chain(api.client.app[DATABASE], api.tenant_id) == (1, None)


async def test_the_retention_floor_and_the_default_policy(api):
    assert CONSENT_MIN_RETENTION_DAYS >= 150
    policy = await consent_policy(api.client.app[DATABASE], api.tenant_id)
    assert not policy.marketing_requires_consent and policy.unsubscribe_text == "拒收请回复R"
