"""Shared by the campaign tests (API and browser): the sandbox contacts every kind of ending,
two approved templates, the VIP segment, and waits on what the campaign sent."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import card

FINAL = {"rcs_read", "rcs_delivered", "sms_delivered", "sms_failed", "rejected", "failed", "expired"}
ATTRS = {
    "name": "张先生",
    "discount": 30,
    "offer_end": "2026-12-31",
    "code": "q4",
    "amount": 50,
    "threshold": 199,
    "valid_until": "2026-12-31",
    "coupon_id": "BD-1",
}
# Every sandbox ending that ends quickly: read (1–4, the flaky 8), SMS (0, 9 undelivered),
# never delivered (7: revoked, then SMS), delivered unread (55), callbacks lost (44).
ENDINGS = ["01", "02", "03", "04", "18", "10", "19", "07", "55", "44"]
OPTED_OUT = "+8613800003106"
NO_NAME = "+8613800003105"  # lacks the `name` attribute: skipped, never sent
OUTSIDER = "+8613800003111"  # not in the segment
AUDIENCE = len(ENDINGS) + 2  # the VIP segment: every ending, the opted-out one and NO_NAME


def number(ending: str) -> str:
    return "+86138000031" + ending


async def create_contacts(api) -> None:
    """The VIP contacts (one per ending, one opted out, one without a name) and an outsider."""
    for ending in ENDINGS:
        resp = await api.post("/v1/contacts", {"phone": number(ending), "attributes": ATTRS, "tags": ["vip"]})
        assert resp.status == 201, await resp.text()
    for phone, attrs, tags in (
        (OPTED_OUT, ATTRS, ["vip"]),
        (NO_NAME, {k: v for k, v in ATTRS.items() if k != "name"}, ["vip"]),
        (OUTSIDER, ATTRS, []),
    ):
        assert (await api.post("/v1/contacts", {"phone": phone, "attributes": attrs, "tags": tags})).status == 201
    assert (await api.post("/v1/opt-outs", {"to": OPTED_OUT})).status == 201


async def create_templates(api) -> None:
    """Two approved templates of the tenant: the offer (A) and the coupon (B)."""
    for name, title, description, sample in (
        (
            "offer",
            "{{ name }}，5G 升级",
            "首月立减 {{ discount }} 元（{{ campaign }}）",
            {"name": "张", "discount": 30, "campaign": "q4"},
        ),
        (
            "coupon",
            "{{ name }}，生日快乐",
            "送您 {{ amount }} 元券，满 {{ threshold }} 可用",
            {"name": "张", "amount": 50, "threshold": 199},
        ),
    ):
        body = {"name": name, "card": card(title=title, description=description), "sample": sample}
        resp = await api.post("/v1/templates", body)
        assert resp.status == 201, await resp.text()


async def create_segment(api) -> str:
    """The templates and the VIP segment (tag `vip`); the segment's id."""
    await create_templates(api)
    resp = await api.post("/v1/segments", {"name": "VIP", "filter": {"tags": "any", "values": ["vip"]}})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def message_views(api, ids) -> dict[str, dict]:
    out = {}
    for mid in ids:
        resp = await api.get(f"/v1/messages/{mid}")
        out[mid] = await resp.json()
    return out


async def settle(api, ids, timeout: float = 15.0) -> dict[str, dict]:
    """Wait until every message reached a final status; their views."""
    deadline = time.monotonic() + timeout
    while True:
        views = await message_views(api, ids)
        if all(v["status"] in FINAL for v in views.values()):
            return views
        assert time.monotonic() < deadline, {v["to"][-2:]: v["status"] for v in views.values()}
        await asyncio.sleep(0.05)


async def sent_ids(app, campaign_id: str, kind: str) -> dict[str, str]:
    """message id → variant of what the campaign sent (read from its table)."""
    from sqlalchemy import select

    from campaigns.tables import campaign_messages as cm
    from server import DATABASE

    async with app[DATABASE].read.connect() as conn:
        rows = (
            await conn.execute(
                select(cm.c.message_id, cm.c.variant).where(cm.c.campaign_id == campaign_id, cm.c.kind == kind)
            )
        ).all()
    return {r.message_id: r.variant for r in rows}


async def billed(api, views: dict[str, dict], timeout: float = 15.0) -> dict[str, dict]:
    """Wait until the ledger (a background job) has charged each delivered message of `views`
    (settled message views) and refunded each other one that was accepted; their costs
    (GET /v1/billing/messages/{id})."""
    delivered = {"rcs_delivered", "rcs_read", "sms_delivered"}

    def done(view: dict, cost: dict) -> bool:
        types = {e["type"] for e in view["events"]}
        if types & delivered:
            return cost["charged"] is not None
        return cost["refunded"] or "accepted" not in types

    deadline = time.monotonic() + timeout
    while True:
        costs = {mid: await (await api.get(f"/v1/billing/messages/{mid}")).json() for mid in views}
        if all(done(views[mid], cost) for mid, cost in costs.items()):
            return costs
        assert time.monotonic() < deadline, [c for mid, c in costs.items() if not done(views[mid], c)]
        await asyncio.sleep(0.05)
