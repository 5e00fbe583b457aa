"""/v1/billing through HTTP: scopes, prices, credits, credit limits and the 402 at accept,
statements (JSON, CSV, HTML) whose totals are the ledger's."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.billing.test_ledger import CMCC, CTCC, CUCC, PRICES, record, send, set_prices
from tests.conftest import card, problem


async def test_tenant_key_reads_but_cannot_set_prices_or_credit(billed):
    api = billed.api
    resp = await api.get("/v1/billing/prices")
    assert resp.status == 200
    book = await resp.json()
    assert book["currency"] == "CNY" and len(book["prices"]) == 24  # 4 carriers × (5 RCS kinds + SMS part)
    for method, path, body in (
        ("put", "/v1/billing/prices", {"prices": PRICES}),
        ("post", "/v1/billing/credits", {"amount": "100"}),
        ("put", "/v1/billing/credit-limit", {"credit_limit": "0"}),
    ):
        got = await problem(await getattr(api, method)(path, body), 403)
        assert "billing-admin" in got["detail"]


async def test_a_key_without_billing_scope_is_refused(billed):
    from server import ACCOUNTS

    made = await billed.api.client.app[ACCOUNTS].create_api_key(billed.api.tenant_id, ["messages"])
    resp = await billed.api.client.get("/v1/billing/balance", headers={"Authorization": f"Bearer {made['api_key']}"})
    assert "billing" in (await problem(resp, 403))["detail"]


async def test_tenant_cannot_grant_itself_billing_admin(billed):
    resp = await billed.api.post("/v1/api-keys", {"scopes": ["billing-admin"]})
    assert resp.status == 403


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"prices": [{"channel": "mms", "kind": "card", "price": "1"}]}, "/prices/0/channel"),
        ({"prices": [{"channel": "rcs", "kind": "part", "price": "1"}]}, "/prices/0/kind"),
        ({"prices": [{"channel": "sms", "carrier": "att", "kind": "part", "price": "1"}]}, "/prices/0/carrier"),
        ({"prices": [{"channel": "sms", "kind": "part", "price": 0.04}]}, "/prices/0/price"),
        ({"prices": [{"channel": "sms", "kind": "part", "price": "0.00001"}]}, "/prices/0/price"),
        ({"prices": [{"channel": "sms", "kind": "part", "price": "-1"}]}, "/prices/0/price"),
        ({"prices": [{"channel": "sms", "kind": "part"}]}, "/prices/0/price"),
        ({"prices": []}, "/prices"),
        ({"prices": PRICES, "extra": 1}, "/extra"),
        ({"prices": PRICES, "tenant_id": "nope"}, "/tenant_id"),
    ],
)
async def test_price_changes_are_checked(billed, body, path):
    got = await problem(await billed.admin.put("/v1/billing/prices", body), 422)
    assert path in [e["path"] for e in got["errors"]]


async def test_default_book_and_tenant_override(billed):
    admin = billed.admin
    resp = await admin.put(
        "/v1/billing/prices", {"tenant_id": "default", "prices": [{"channel": "rcs", "kind": "card", "price": "0.07"}]}
    )
    assert resp.status == 200
    assert (await resp.json())["prices"] == [{"channel": "rcs", "carrier": "*", "kind": "card", "price": "0.0700"}]
    other = await billed.api.new_tenant()
    await set_prices(billed, [{"channel": "rcs", "carrier": "cmcc", "kind": "card", "price": "0.05"}])

    def card_price(book, carrier):
        return next(p for p in book["prices"] if (p["channel"], p["carrier"], p["kind"]) == ("rcs", carrier, "card"))

    own = await (await billed.api.get("/v1/billing/prices")).json()
    assert card_price(own, "cmcc") == {**card_price(own, "cmcc"), "price": "0.0500", "source": "tenant"}
    assert card_price(own, "cucc")["price"] == "0.0700" and card_price(own, "cucc")["source"] == "default"
    theirs = await (await other.get("/v1/billing/prices")).json()
    assert card_price(theirs, "cmcc")["price"] == "0.0700"
    # Removing the override falls back to the default.
    await set_prices(billed, [{"channel": "rcs", "carrier": "cmcc", "kind": "card", "price": None}])
    own = await (await billed.api.get("/v1/billing/prices")).json()
    assert card_price(own, "cmcc")["source"] == "default"


async def test_credits_are_exact_and_idempotent(billed):
    admin = billed.admin
    headers = {"Idempotency-Key": "topup-1"}
    first = await admin.post("/v1/billing/credits", {"amount": "100.10", "note": "bank transfer"}, headers=headers)
    assert first.status == 201, await first.text()
    again = await admin.post("/v1/billing/credits", {"amount": "100.10", "note": "bank transfer"}, headers=headers)
    assert (await again.json())["id"] == (await first.json())["id"]
    await problem(await admin.post("/v1/billing/credits", {"amount": "5"}, headers=headers), 409)
    resp = await admin.post("/v1/billing/credits", {"amount": "0.0001"})
    assert resp.status == 201
    resp = await admin.post("/v1/billing/credits", {"amount": "-0.0002", "type": "adjustment", "note": "fix"})
    assert resp.status == 201
    bal = await (await billed.api.get("/v1/billing/balance")).json()
    assert bal["balance"] == "100.0999" and bal["enforced"] is False
    for body, path in (
        ({"amount": "-1"}, "/amount"),
        ({"amount": 1}, "/amount"),
        ({"amount": "0"}, "/amount"),
        ({"amount": "1", "type": "gift"}, "/type"),
        ({"amount": "1", "tenant_id": "missing"}, "/tenant_id"),
    ):
        got = await problem(await admin.post("/v1/billing/credits", body), 422)
        assert path in [e["path"] for e in got["errors"]], body
    page = await (await billed.api.get("/v1/billing/entries?limit=2")).json()
    assert [e["type"] for e in page["data"]] == ["adjustment", "credit"] and page["next_cursor"]
    rest = await (await billed.api.get(f"/v1/billing/entries?limit=2&cursor={page['next_cursor']}")).json()
    assert [e["amount"] for e in rest["data"]] == ["100.1000"] and rest["next_cursor"] is None


async def test_402_when_the_balance_cannot_cover_the_send(billed):
    await set_prices(billed)
    api, admin = billed.api, billed.admin
    resp = await admin.put("/v1/billing/credit-limit", {"credit_limit": "0.02"})
    assert (await resp.json())["enforced"] is True
    await admin.post("/v1/billing/credits", {"amount": "0.10"})
    # Available 0.12: two cards at 0.05 fit, three do not (the hold is the dearer of RCS and SMS).
    body = {"recipients": [{"to": CMCC + f"{i:02d}"} for i in range(1, 4)], "card": card()}
    got = await problem(await api.post("/v1/messages", body), 402)
    assert got["type"] == "/docs/problems#insufficient-funds"
    assert got["title"] == "Payment Required"
    assert (got["balance"], got["available"], got["estimated_cost"]) == ("0.1000", "0.1200", "0.1500")
    assert got["errors"][0]["path"] == "/recipients"
    ok = await api.post("/v1/messages", {"recipients": body["recipients"][:2], "card": card()})
    assert ok.status == 202
    await billed.settle()  # the two holds count against the balance now
    bal = await (await api.get("/v1/billing/balance")).json()
    assert (bal["balance"], bal["held"], bal["available"]) == ("0.0000", "0.1000", "0.0200")
    got = await problem(await api.post("/v1/messages", {"to": CMCC + "09", "card": card()}), 402)
    assert got["errors"][0]["path"] == "/to" and got["estimated_cost"] == "0.0500"
    # No limit: never refused.
    await admin.put("/v1/billing/credit-limit", {"credit_limit": None})
    assert (await api.post("/v1/messages", {"to": CMCC + "09", "card": card()})).status == 202


async def test_statement_totals_are_the_ledger_and_delivered_times_price(billed):
    await set_prices(billed)
    api, admin = billed.api, billed.admin
    await admin.post("/v1/billing/credits", {"amount": "10"})
    rcs = await send(api, [CMCC + "01", CUCC + "02", CTCC + "03"])
    texts = await send(api, [CMCC + "04", CMCC + "05"], text="您好")
    failed = await send(api, [CMCC + "06"])
    await billed.settle()
    app = api.client.app
    one = {"parts": [{"id": "p", "stat": "DELIVRD"}]}
    await record(
        app,
        api.tenant_id,
        [("rcs_delivered", m, None) for m in rcs]
        + [("rcs_read", texts[0], None), ("sms_delivered", texts[1], one), ("sms_failed", failed[0], None)],
    )
    await billed.settle()
    month = billed.billing.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    doc = await (await api.get(f"/v1/billing/statements/{month}")).json()
    charges = [line for line in doc["lines"] if line["type"] == "charge"]
    # delivered × price, per line and in total
    expected = {
        ("rcs", "cmcc", "card"): (1, "0.0500"),
        ("rcs", "cucc", "card"): (1, "0.0500"),
        ("rcs", "ctcc", "card"): (1, "0.0600"),
        ("rcs", "cmcc", "text"): (1, "0.0300"),
        ("sms", "cmcc", "part"): (1, "0.0400"),
    }
    assert {(c["channel"], c["carrier"], c["kind"]): (c["count"], c["unit_price"]) for c in charges} == expected
    for c in charges:
        assert c["amount"] == f"-{c['unit_price']}"
    assert doc["totals"]["charge"] == "-0.2300"
    assert doc["totals"]["refund"] == "0.0500" and doc["totals"]["credit"] == "10.0000"
    assert doc["totals"]["hold"] == "-0.2900"  # 0.05+0.05+0.06 + 0.04+0.04 (SMS dearer than text) + 0.05
    assert doc["totals"]["release"] == "0.2400"  # every delivered message's hold given back
    assert doc["opening_balance"] == "0.0000" and doc["closing_balance"] == "9.7700"
    bal = await (await api.get("/v1/billing/balance")).json()
    assert bal["balance"] == doc["closing_balance"]
    # The ledger's own sum, page by page.
    total, cursor = Decimal(0), None
    while True:
        page = await (await api.get("/v1/billing/entries?limit=3" + (f"&cursor={cursor}" if cursor else ""))).json()
        total += sum(Decimal(e["amount"]) for e in page["data"])
        if not (cursor := page["next_cursor"]):
            break
    assert total == Decimal(doc["closing_balance"])

    resp = await api.get(f"/v1/billing/statements/{month}", headers={"Accept": "text/csv"})
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {r["type"] for r in rows} >= {"charge", "refund", "credit", "closing_balance", "total_charge"}
    assert next(r for r in rows if r["type"] == "closing_balance")["amount"] == "9.7700"
    assert sum(int(r["count"]) for r in rows if r["type"] == "charge") == 5
    resp = await api.get(f"/v1/billing/statements/{month}?format=html")
    page = await resp.text()
    assert resp.content_type == "text/html" and "9.7700" in page and "<script" not in page
    # Next month opens with this one's closing balance, and has no lines.
    y, m = int(month[:4]), int(month[5:])
    nxt = f"{y + (m == 12)}-{m % 12 + 1:02d}"
    later = await (await api.get(f"/v1/billing/statements/{nxt}")).json()
    assert (later["opening_balance"], later["closing_balance"], later["lines"]) == ("9.7700", "9.7700", [])


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", "abcd-ef", "1999-12"])
async def test_statement_month_is_checked(billed, month):
    got = await problem(await billed.api.get(f"/v1/billing/statements/{month}"), 422)
    assert got["errors"][0]["path"] == "/month"


async def test_message_cost_is_tenant_scoped(billed):
    (mid,) = await send(billed.api, [CMCC + "01"])
    other = await billed.api.new_tenant()
    await problem(await other.get(f"/v1/billing/messages/{mid}"), 404)
    cost = await (await billed.api.get(f"/v1/billing/messages/{mid}")).json()
    assert cost["charged"] is None and cost["refunded"] is False
    view = await (await billed.api.get(f"/v1/messages/{mid}")).json()
    assert view["cost"] == {"charged": None, "currency": "CNY", "held": None, "refunded": False}
