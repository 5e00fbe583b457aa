"""The campaigns' end-to-end scenario, shared by the test (a few hundred contacts) and
`bench/campaign_e2e.py` (100,000): contacts imported from CSV over every sandbox ending, a
segment, an A/B campaign with a holdout, a winner and the smart resend, run by the app's own
runner in real time until finished and every message has ended; then every figure the API shows
— the campaign's results and funnels, the analytics funnel, the billing ledger — checked against
a recount from the messages tables."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from billing.tables import billing_entries
from campaigns.tables import campaign_messages, campaign_recipients
from messages.tables import message_events, messages
from store import Database
from tests.conftest import card

FINAL = ("rcs_read", "rcs_delivered", "sms_delivered", "sms_failed", "rejected", "failed", "expired", "revoked")
PRICES = [
    {"channel": "rcs", "carrier": "*", "kind": "card", "price": "0.05"},
    {"channel": "sms", "carrier": "*", "kind": "part", "price": "0.04"},
]


@dataclass
class Outcome:
    contacts: int
    audience: int
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)


def contacts_csv(n: int) -> bytes:
    """n contacts whose numbers end in every two digits alike (every sandbox behaviour); nine
    in ten tagged `vip`; the attributes both templates use."""
    lines = ["phone,tags,name,discount,code,amount,threshold"]
    for i in range(n):
        tags = "vip" if i % 10 else "other"
        lines.append(f"+86139{i:08d},{tags},客户{i % 97},{10 + i % 3 * 10},q4,{50 + i % 2 * 50},199")
    return ("\n".join(lines) + "\n").encode()


async def _ok(resp, *statuses: int) -> dict:
    assert resp.status in statuses, f"{resp.status}: {await resp.text()}"
    return await resp.json()


async def _until(what: str, check, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)


async def run(
    api,
    admin,
    db: Database,
    n: int,
    *,
    settle_billing,
    timeout: float = 120.0,
    wait_hours: float = 0.0005,
    while_running=None,
) -> Outcome:
    """Run the scenario for `n` contacts through `api` (the tenant's client) and `admin` (a
    client with billing-admin); `settle_billing()` runs the billing job (once, or until idle).
    `wait_hours` is the winner's and the resend's wait: longer than the sandbox takes to read a
    message (else a resend goes to a message about to be read, as it would in life).
    `while_running(campaign_id)`, if given, runs from the launch until every message ended."""
    out = Outcome(contacts=n, audience=0)
    started = time.monotonic()
    await _ok(await admin.put("/v1/billing/prices", {"prices": PRICES}), 200)
    for name, title, description in (
        ("offer", "{{ name }}，5G 升级", "首月立减 {{ discount }} 元（{{ campaign }}）"),
        ("coupon", "{{ name }}，生日快乐", "送您 {{ amount }} 元券，满 {{ threshold }} 可用"),
    ):
        sample = {"name": "张", "discount": 30, "campaign": "q4", "amount": 50, "threshold": 199}
        body = {"name": name, "card": card(title=title, description=description), "sample": sample}
        await _ok(await api.post("/v1/templates", body), 201)

    t = time.monotonic()
    job = await _ok(
        await api.post("/v1/contacts/imports", data=contacts_csv(n), headers={"Content-Type": "text/csv"}), 201, 202
    )

    async def imported():
        view = await _ok(await api.get(f"/v1/contacts/imports/{job['id']}"), 200)
        assert view["status"] not in ("failed", "cancelled"), view
        return view if view["status"] == "finished" else None

    view = await _until("the import", imported, timeout)
    assert view["rows_done"] == n and view["rows_failed"] == 0, view
    out.timings["import_s"] = time.monotonic() - t

    segment = await _ok(
        await api.post("/v1/segments", {"name": "VIP", "filter": {"tags": "any", "values": ["vip"]}}), 201
    )
    count = await _ok(await api.get(f"/v1/segments/{segment['id']}/count"), 200)
    expected_audience = n - (n + 9) // 10
    assert count["count"] == expected_audience, count

    body = {
        "name": "5G 升级 A/B",
        "template": "offer",
        "segment_id": segment["id"],
        "throttle": 10_000,
        "variables": {"campaign": "code"},
        "ab": {
            "variants": [{"name": "A", "share": 0.2}, {"name": "B", "share": 0.2, "template": "coupon"}],
            "holdout": 0.1,
            "winner": {"after_hours": wait_hours, "metric": "read"},
        },
        "resend": {"after_hours": wait_hours, "channel": "sms"},
    }
    campaign = await _ok(await api.post("/v1/campaigns", body), 201)
    cid = campaign["id"]
    t = time.monotonic()
    await _ok(await api.post(f"/v1/campaigns/{cid}/launch"), 200)
    probe = asyncio.create_task(while_running(cid)) if while_running is not None else None

    async def finished():
        view = await _ok(await api.get(f"/v1/campaigns/{cid}"), 200)
        assert view["status"] not in ("paused", "cancelled"), view
        return view if view["status"] == "finished" else None

    view = await _until("the campaign to finish", finished, timeout, every=0.5)
    out.timings["campaign_s"] = time.monotonic() - t
    out.audience = view["audience"]
    assert view["audience"] == expected_audience

    cm, m, e = campaign_messages.c, messages.c, message_events.c
    mine = select(cm.message_id).where(cm.campaign_id == cid)

    async def ended():
        async with db.read.connect() as conn:
            left = (await conn.execute(select(func.count()).where(m.id.in_(mine), m.status.not_in(FINAL)))).scalar_one()
        return left == 0

    await _until("every message to end", ended, timeout, every=0.5)
    out.timings["until_final_s"] = time.monotonic() - t
    if probe is not None:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe

    # -- the recount ------------------------------------------------------------------------------
    async with db.read.connect() as conn:
        sent = {
            r.message_id: (r.variant, r.kind)
            for r in (await conn.execute(select(cm.message_id, cm.variant, cm.kind).where(cm.campaign_id == cid)))
        }
        statuses = dict((await conn.execute(select(m.id, m.status).where(m.id.in_(mine)))).all())
        types: dict[str, set[str]] = {}
        segments: dict[str, int] = {}
        read_recorded_ms: dict[str, int] = {}
        for r in await conn.execute(select(e.id, e.message_id, e.type, e.detail).where(e.message_id.in_(mine))):
            types.setdefault(r.message_id, set()).add(r.type)
            if r.type == "rcs_read":
                # When the platform learnt of it: an event's id is a UUIDv7 made as it is recorded.
                read_recorded_ms[r.message_id] = int(r.id[:12], 16)
            if r.type == "sms_sent":
                segments[r.message_id] = (r.detail or {}).get("segments", 1)
        r_ = campaign_recipients.c
        pairs = (
            await conn.execute(select(r_.message_id, r_.resend_ms).where(r_.campaign_id == cid, r_.resend == "sent"))
        ).all()
        variants = Counter(
            r.variant
            for r in await conn.execute(
                select(campaign_recipients.c.variant).where(campaign_recipients.c.campaign_id == cid)
            )
        )

    def count(ids, *wanted) -> int:
        return sum(1 for i in ids if types.get(i, set()) & set(wanted))

    results = await _ok(await api.get(f"/v1/campaigns/{cid}/results"), 200)
    arms = {a["variant"]: a for a in results["variants"]}
    assert set(variants) == {"A", "B", "holdout", "rest"} and sum(variants.values()) == expected_audience
    for name, arm in arms.items():
        ids = [i for i, (v, k) in sent.items() if v == name and k == "first"]
        assert arm["contacts"] == variants[name], (name, arm["contacts"], variants[name])
        f = arm["funnel"] or {"accepted": 0, "delivered": 0, "read": 0, "rejected": 0, "failed": 0}
        assert f["accepted"] == len(ids), name
        assert f["delivered"] == count(ids, "rcs_delivered", "sms_delivered"), name
        assert f["read"] == count(ids, "rcs_read"), name
        assert f["rejected"] == sum(statuses[i] == "rejected" for i in ids), name
    assert arms["holdout"]["funnel"] is None  # never sent
    resends = [i for i, (_, k) in sent.items() if k == "resend"]
    firsts = [i for i, (_, k) in sent.items() if k == "first"]
    # Recount: a resend went where the first message had been delivered over RCS and was not
    # read (nor answered: the sandbox does not) when the resend was decided; every other first
    # message was read, went as SMS or ended (still unread now: it would have had a resend).
    resent_for = {first: at_ms for first, at_ms in pairs}
    assert len(resent_for) == len(resends) > 0
    known_reads = []
    for first, at_ms in resent_for.items():
        assert "rcs_delivered" in types[first] and "sms_sent" not in types[first], types[first]
        # Decided on what was known then: a read recorded before the decision (a second's slack
        # for the decision's read racing the read's commit) must have stopped the resend; one
        # the operator reported later (its callback queued behind others under load) may not.
        if first in read_recorded_ms and read_recorded_ms[first] < at_ms - 1000:
            known_reads.append((first, at_ms - read_recorded_ms[first]))
    assert not known_reads, known_reads
    late_reads = sum(1 for first in resent_for if first in read_recorded_ms)  # reported after it
    assert not [i for i in firsts if statuses[i] == "rcs_delivered" and i not in resent_for]
    assert all("rcs_sent" not in types.get(i, set()) for i in resends)
    assert results["resend"]["accepted"] == len(resends)
    assert results["winner"] in ("A", "B")

    kinds = await _ok(await api.get(f"/v1/campaigns/{cid}/funnel?group_by=kind"), 200)
    assert {r["group"]: r["accepted"] for r in kinds["data"]} == {"first": len(firsts), "resend": len(resends)}
    channels = await _ok(await api.get(f"/v1/campaigns/{cid}/funnel?group_by=channel"), 200)
    by_channel = {r["group"]: r for r in channels["data"]}
    assert by_channel["sms"]["accepted"] == count(sent, "sms_sent")
    # The tenant's whole analytics funnel: the campaign is all it sent.
    funnel = await _ok(await api.get("/v1/analytics/funnel?since=" + _days_ago(1)), 200)
    [row] = funnel["data"]
    assert row["accepted"] == len(sent)
    assert row["delivered"] == count(sent, "rcs_delivered", "sms_delivered")
    assert row["read"] == count(sent, "rcs_read")

    # Billing: charged on delivery, exactly delivered × price (an SMS per part). The billing
    # job takes events once they are older than its settle time; wait until it charged them all.
    rcs_delivered = [
        i for i in sent if types.get(i, set()) & {"rcs_delivered", "rcs_read"} and "sms_delivered" not in types[i]
    ]
    sms_delivered = [i for i in sent if "sms_delivered" in types.get(i, set())]
    b = billing_entries.c
    charges = select(func.count()).where(b.message_id.in_(mine), b.kind == "charge")

    async def all_charged():
        await settle_billing()
        async with db.read.connect() as conn:
            return (await conn.execute(charges)).scalar_one() >= len(rcs_delivered) + len(sms_delivered)

    await _until("the billing job to charge every delivered message", all_charged, timeout, every=0.5)
    expected = Decimal("0.05") * len(rcs_delivered) + Decimal("0.04") * sum(segments.get(i, 1) for i in sms_delivered)
    async with db.read.connect() as conn:
        charged = (
            await conn.execute(select(func.sum(b.amount_units)).where(b.message_id.in_(mine), b.kind == "charge"))
        ).scalar_one()
    if Decimal(-int(charged or 0)) / 10_000 != expected:
        async with db.read.connect() as conn:
            charged_ids = set(
                (await conn.execute(select(b.message_id).where(b.message_id.in_(mine), b.kind == "charge"))).scalars()
            )
        missing = [
            (i, statuses[i], sorted(types.get(i, set())))
            for i in set(rcs_delivered) | set(sms_delivered)
            if i not in charged_ids
        ]
        extra = [
            (i, statuses[i], sorted(types.get(i, set()))) for i in charged_ids - set(rcs_delivered) - set(sms_delivered)
        ]
        raise AssertionError(f"charged {charged} expected {expected}; uncharged {missing[:5]}; unexpected {extra[:5]}")
    assert Decimal(results["cost"]["total"]) <= expected  # results were read before the last settle
    cost = await _ok(await api.get(f"/v1/campaigns/{cid}/results"), 200)
    assert Decimal(cost["cost"]["total"]) == expected

    out.timings["total_s"] = time.monotonic() - started
    out.figures = {
        "audience": expected_audience,
        "messages": len(sent),
        "resends": len(resends),
        "resends_crossing_a_late_read": late_reads,
        "winner": results["winner"],
        "cost_cny": str(expected),
        "variants": dict(variants),
    }
    return out


def _days_ago(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
