"""Cancel and capability through the API, against the sandbox operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import card
from tests.dispatch.conftest import event_types, has_event, wait_for


async def _send(api, to: str, **extra) -> str:
    resp = await api.post("/v1/messages", {"to": to, "card": card(), **extra})
    assert resp.status == 202, await resp.text()
    return (await resp.json())["messages"][0]["id"]


async def test_a_scheduled_message_is_revoked_at_once_and_never_sent(sandbox_api):
    send_at = datetime.now(UTC) + timedelta(seconds=0.3)
    mid = await _send(sandbox_api, "+8613800138001", send_at=send_at.isoformat())
    resp = await sandbox_api.post(f"/v1/messages/{mid}/cancel")
    assert resp.status == 200, await resp.text()
    view = await resp.json()
    assert (view["status"], view["cancel"]) == ("revoked", "revoked")
    # Well past its send time (the dispatcher picks due messages up within 0.5 s), still alone.
    settled = send_at + timedelta(seconds=1)
    again = await wait_for(sandbox_api, mid, lambda v: v["status"] != "revoked" or datetime.now(UTC) > settled)
    assert again["status"] == "revoked" and "queued" not in event_types(again)
    revoked = next(e for e in again["events"] if e["type"] == "revoked")
    assert (revoked["source"], revoked["detail"]["reason"]) == ("api", "cancelled")


async def test_an_rcs_message_in_flight_is_revoked_at_the_operator_and_no_sms_follows(sandbox_api):
    mid = await _send(sandbox_api, "+8613800138007")  # …7: accepted by the MaaP, never delivered
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_sent")
    resp = await sandbox_api.post(f"/v1/messages/{mid}/cancel")
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["cancel"] == "revoking"
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "revoked")
    revoked = [e for e in view["events"] if e["type"] == "revoked"]
    assert revoked[-1]["detail"]["reason"] == "cancelled"
    await wait_for(sandbox_api, mid, lambda v: True, timeout=0.1)
    final = await (await sandbox_api.get(f"/v1/messages/{mid}")).json()
    assert final["status"] == "revoked" and "fallback_pending" not in event_types(final)


async def test_an_sms_whose_message_moved_on_after_the_claim_is_not_sent(sandbox_api):
    """A claimed fallback job whose message was cancelled meanwhile: the SMS stage checks the
    status when it commits its intent, and submits nothing."""
    from dispatch import Job
    from messages.status import Status
    from server import SANDBOX, SMS_STAGE

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    mid = await _send(sandbox_api, "+8613800138010", send_at=later)
    assert (await sandbox_api.post(f"/v1/messages/{mid}/cancel")).status == 200
    app = sandbox_api.client.app
    smsc = app[SANDBOX].smsc
    before = smsc.counts["submit_sm"]
    job = Job(mid, sandbox_api.tenant_id, "batch", Status.FALLBACK_PENDING, 0, 2**62, "+8613800138010", {}, card=card())
    await app[SMS_STAGE].send([job])  # as if claimed just before the cancel committed
    assert smsc.counts["submit_sm"] == before
    view = await (await sandbox_api.get(f"/v1/messages/{mid}")).json()
    assert view["status"] == "revoked" and "sms_sent" not in event_types(view)


async def test_too_late_unknown_and_other_tenants(sandbox_api):
    mid = await _send(sandbox_api, "+8613800138001")
    await wait_for(sandbox_api, mid, has_event("rcs_delivered"))
    late = await sandbox_api.post(f"/v1/messages/{mid}/cancel")
    assert late.status == 409 and late.content_type == "application/problem+json"
    problem = await late.json()
    assert problem["status"] == 409 and problem["message_status"] in ("rcs_delivered", "rcs_read")
    assert (await sandbox_api.post("/v1/messages/nope/cancel")).status == 404
    other = await sandbox_api.new_tenant()
    assert (await other.post(f"/v1/messages/{mid}/cancel")).status == 404


async def test_capabilities_are_learnt_and_never_a_boolean(sandbox_api):
    delivered = await _send(sandbox_api, "+8613800138001")
    fell_back = await _send(sandbox_api, "+8613800138010")
    await wait_for(sandbox_api, delivered, has_event("rcs_delivered"))
    await wait_for(sandbox_api, fell_back, has_event("sms_sent"))
    resp = await sandbox_api.post(
        "/v1/capabilities", {"numbers": ["+8613800138001", "13800138010", "not a number", 42, "+8613800138002"]}
    )
    assert resp.status == 200, await resp.text()
    got = [(r["e164"], r["capability"]) for r in (await resp.json())["results"]]
    assert got[:4] == [
        ("+8613800138001", "supported"),
        ("+8613800138010", "not_supported"),
        (None, "invalid"),
        (None, "invalid"),
    ]
    assert got[4][1] in ("supported", "unknown")  # never seen: what the channel's own check can tell


async def test_capabilities_input_is_checked(sandbox_api):
    for body in ({}, {"numbers": []}, {"numbers": "+8613800138001"}, {"numbers": ["1"] * 10_001}):
        resp = await sandbox_api.post("/v1/capabilities", body)
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["path"] == "/numbers"
