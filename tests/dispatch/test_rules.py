"""Dispatch rules that need no waiting: the backoff table, late RCS statuses after an SMS."""

from __future__ import annotations

import random
import time
from datetime import UTC
from urllib.parse import quote

import orjson
import pytest

from dispatch import RetryPolicy
from rcs.callbacks import signed_headers
from tests.conftest import card
from tests.dispatch.conftest import event_types, wait_for


@pytest.mark.parametrize(
    "attempt, retry_after, low, high",
    [
        (1, None, 0.4, 0.6),  # 0.5 s ±20 %
        (2, None, 0.8, 1.2),
        (3, None, 1.6, 2.4),
        (8, None, 48.0, 60.0),  # 64 s capped at 60 s (jitter applies below the cap)
        (20, None, 48.0, 60.0),
        (1, 5.0, 5.0, 5.0),  # Retry-After wins when longer
        (3, 1.0, 1.6, 2.4),  # … and not when shorter
    ],
)
def test_backoff(attempt, retry_after, low, high):
    policy, rng = RetryPolicy(), random.Random(7)
    delays = [policy.delay(attempt, retry_after, rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high


async def test_a_late_rcs_delivery_after_the_sms_is_recorded_not_acted_on(sandbox_api):
    sent = await sandbox_api.post("/v1/messages", json={"to": "+8613800001230", "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_delivered")
    chatbot = quote("sip:hongyan@botplatform.sandbox.local", safe="")
    body = {
        "deliveryInfoList": [
            {
                "messageId": mid,
                "status": "delivered",
                "dateTime": "2026-11-23T10:00:00Z",
                "destinationAddress": "tel:+8613800001230",
            }
        ]
    }
    answer = await sandbox_api.client.post(
        f"/rcs/deliveryNotification/{chatbot}/status",
        data=orjson.dumps(body),
        headers={"content-type": "application/json", **signed_headers("sandbox-callback-token", time.time())},
    )
    assert answer.status == 204
    view = await wait_for(sandbox_api, mid, lambda v: "rcs_delivered" in event_types(v))
    assert view["status"] == "sms_delivered"
    assert event_types(view).count("sms_sent") == 1


async def post_status(api, message_id: str, status: str, **extra) -> None:
    chatbot = quote("sip:hongyan@botplatform.sandbox.local", safe="")
    t = time.time()
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    body = {"deliveryInfoList": [{"messageId": message_id, "status": status, "dateTime": now, **extra}]}
    answer = await api.client.post(
        f"/rcs/deliveryNotification/{chatbot}/status",
        data=orjson.dumps(body),
        headers={"content-type": "application/json", **signed_headers("sandbox-callback-token", time.time())},
    )
    assert answer.status == 204


async def test_failed_not_a_5g_terminal_sends_the_sms_now_and_is_remembered(sandbox_api):
    # …7 is never delivered by the simulator: the MaaP reports the terminal unfit instead.
    first = await sandbox_api.post("/v1/messages", json={"to": "+8613800001237", "card": card()})
    mid = (await first.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_sent")
    await post_status(sandbox_api, mid, "failed", errorCode=2, errorMessage="not a 5G message terminal")
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_delivered")
    assert event_types(view) == ["accepted", "queued", "rcs_sent", "fallback_pending", "sms_sent", "sms_delivered"]
    # The next message to that number skips RCS: the capability cache learnt from code 2.
    second = await sandbox_api.post("/v1/messages", json={"to": "+8613800001237", "card": card()})
    mid2 = (await second.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, mid2, lambda v: v["status"] == "sms_delivered")
    assert "rcs_sent" not in event_types(view)


# `"fallback": "none"`: RCS or nothing. (number, TTL, what to do once sent, expected statuses)
NO_FALLBACK = [
    pytest.param(
        # The CN interface has no capability query: the operator answers the send `failed` (2).
        "+8613800001230",
        60,
        None,
        ["accepted", "queued", "rcs_sent", "failed"],
        "rcs_failed",
        id="not capable → failed",
    ),
    pytest.param(
        "+8613800001237",
        3,  # time to be sent first on a loaded machine (1 s expired one still queued)
        None,
        ["accepted", "queued", "rcs_sent", "revoked", "expired"],
        "ttl_expired_revoked",
        id="never delivered → TTL → revoked → expired",
    ),
    pytest.param(
        "+8613800001237",
        60,
        {"status": "failed", "errorCode": 1},
        ["accepted", "queued", "rcs_sent", "failed"],
        "rcs_failed",
        id="MaaP failed code 1 → failed",
    ),
    pytest.param(
        "+8613800001231",
        60,
        None,
        ["accepted", "queued", "rcs_sent", "rcs_delivered", "rcs_read"],
        None,
        id="delivered as usual",
    ),
]


@pytest.mark.parametrize("to, ttl, status, expected, reason", NO_FALLBACK)
async def test_without_fallback_no_sms_ever_goes(sandbox_api, to, ttl, status, expected, reason):
    sent = await sandbox_api.post("/v1/messages", json={"to": to, "card": card(), "ttl": ttl, "fallback": "none"})
    assert sent.status == 202
    mid = (await sent.json())["messages"][0]["id"]
    if status is not None:
        await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_sent")
        await post_status(sandbox_api, mid, **status)
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == expected[-1])
    # Events list in the MaaP's times, which may tie or run behind ours: compare as a set.
    assert sorted(event_types(view)) == sorted(expected)
    if reason is not None:
        [last] = [e for e in view["events"] if e["type"] == expected[-1]]
        assert last["detail"]["reason"] == reason and last["detail"]["fallback"] == "none"
    assert "short_link" not in view


async def test_an_unknown_fallback_policy_is_refused(sandbox_api):
    answer = await sandbox_api.post("/v1/messages", json={"to": "+8613800001231", "card": card(), "fallback": "mms"})
    assert answer.status == 422
    assert [e["path"] for e in (await answer.json())["errors"]] == ["/fallback"]


async def test_marketing_to_someone_who_opted_out_after_accept_is_not_sent(sandbox_api):
    """The opt-out list is checked again at send time: a scheduled marketing message to a
    number that opted out in the meantime is rejected, not sent; a notice still goes."""
    from datetime import datetime, timedelta

    from messages.http import LEDGER

    to = "+8613800001233"
    first = await sandbox_api.post("/v1/messages", json={"to": to, "card": card()})
    first_id = (await first.json())["messages"][0]["id"]
    send_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    ids = {}
    for kind in ("marketing", "notification"):
        answer = await sandbox_api.post(
            "/v1/messages", json={"to": to, "card": card(), "traffic_type": kind, "send_at": send_at}
        )
        assert answer.status == 202
        ids[kind] = (await answer.json())["messages"][0]["id"]
    # The recipient replies TD to the first message before the scheduled ones fall due.
    assert await sandbox_api.client.app[LEDGER].opt_out(sandbox_api.tenant_id, first_id, source="sms_reply")
    view = await wait_for(sandbox_api, ids["marketing"], lambda v: v["status"] == "rejected")
    assert event_types(view) == ["accepted", "scheduled", "queued", "rejected"]
    assert "opted out" in view["events"][-1]["detail"]["reason"]
    notice = await wait_for(sandbox_api, ids["notification"], lambda v: v["status"] == "rcs_read")
    assert "rcs_sent" in event_types(notice)


async def test_marketing_whose_consent_was_withdrawn_after_accept_is_not_sent(sandbox_api):
    """Where the tenant's policy requires consent, it is checked again at send time: a scheduled
    marketing message whose recipient withdrew consent in the meantime is rejected, naming the
    rule; one to a recipient still consenting goes."""
    from datetime import datetime, timedelta

    await sandbox_api.put("/v1/compliance/policy", {"marketing_requires_consent": True})
    withdrawing, keeping = "+8613800001234", "+8613800001235"
    for to in (withdrawing, keeping):
        assert (await sandbox_api.post("/v1/consents", {"to": to, "source": "web_form"})).status == 201
    send_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    ids = {}
    for to in (withdrawing, keeping):
        body = {"to": to, "card": card(), "traffic_type": "marketing", "send_at": send_at}
        answer = await sandbox_api.post("/v1/messages", json=body)
        assert answer.status == 202, await answer.text()
        ids[to] = (await answer.json())["messages"][0]["id"]
    withdrawn = await sandbox_api.post("/v1/consents/withdraw", {"to": withdrawing, "source": "call_center"})
    assert (await withdrawn.json())["withdrawn"] == 1
    view = await wait_for(sandbox_api, ids[withdrawing], lambda v: v["status"] == "rejected")
    assert event_types(view) == ["accepted", "scheduled", "queued", "rejected"]
    assert view["events"][-1]["detail"]["rule"] == "consent_required"
    kept = await wait_for(sandbox_api, ids[keeping], lambda v: v["status"] == "rcs_read")
    assert "rcs_sent" in event_types(kept)


async def test_an_sms_reply_td_opts_out_of_that_brand_only(sandbox_api):
    """The fallback SMS goes out from the sender number + the brand's extension code; a TD
    reply to it puts the number on that brand's list (and no other brand's)."""
    import asyncio

    from dispatch.sms import DEFAULT_SOURCE_ADDR
    from server import ACCOUNTS, SANDBOX

    app = sandbox_api.client.app
    to = "+8613800001240"  # ends in 0: not RCS-capable, so the SMS goes
    other = await sandbox_api.new_tenant("Other brand")
    mine = await app[ACCOUNTS].get_tenant(sandbox_api.tenant_id)
    theirs = await app[ACCOUNTS].get_tenant(other.tenant_id)
    assert mine.sms_ext and theirs.sms_ext and mine.sms_ext != theirs.sms_ext
    sent = await sandbox_api.post("/v1/messages", json={"to": to, "card": card()})
    await wait_for(sandbox_api, (await sent.json())["messages"][0]["id"], lambda v: v["status"] == "sms_delivered")
    sender = DEFAULT_SOURCE_ADDR + mine.sms_ext
    assert app[SANDBOX].smsc.sender_numbers[sender] >= 1  # one submit per part

    await app[SANDBOX].smsc.send_mo(to, sender, "TD")

    async def status_of_marketing(api) -> str:
        answer = await api.post("/v1/messages", json={"to": to, "card": card(), "traffic_type": "marketing"})
        return (await answer.json())["messages"][0]["status"]

    deadline = asyncio.get_running_loop().time() + 5
    while await status_of_marketing(sandbox_api) != "rejected":
        assert asyncio.get_running_loop().time() < deadline, "the TD reply was not recorded"
        await asyncio.sleep(0.02)
    assert await status_of_marketing(other) == "accepted"


async def test_the_evidence_chain_holds_accept_send_and_deliver_not_bookkeeping(sandbox_api):
    from messages.evidence_http import EVIDENCE

    sent = await sandbox_api.post("/v1/messages", json={"to": "+8613800001234", "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")
    assert "queued" in event_types(view)  # in the message's history …
    await sandbox_api.client.app[EVIDENCE].append_pending()
    records = (await (await sandbox_api.get(f"/v1/evidence/{mid}")).json())["records"]
    # … but not in its evidence: that is what was accepted, sent and delivered.
    assert [r["facts"]["event"] for r in records] == ["accepted", "rcs_sent", "rcs_delivered", "rcs_read"]
