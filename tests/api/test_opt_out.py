"""A recipient who opted out of a brand's marketing is not sent marketing; OTP and notices still go."""

from __future__ import annotations

from messages.http import LEDGER
from tests.conftest import card

NUMBER = "+8613800138011"


async def test_marketing_to_an_opted_out_number_is_rejected(api):
    first = await api.post("/v1/messages", {"to": NUMBER, "card": card(), "traffic_type": "marketing"})
    [msg] = (await first.json())["messages"]
    assert await api.client.app[LEDGER].opt_out(api.tenant_id, msg["id"], source="sms_reply")
    assert await api.client.app[LEDGER].opt_out(api.tenant_id, msg["id"], source="sms_reply")  # idempotent

    body = {"recipients": [{"to": NUMBER}, {"to": "+8613800138012"}], "card": card(), "traffic_type": "marketing"}
    answer = await (await api.post("/v1/messages", body)).json()
    assert [m["status"] for m in answer["messages"]] == ["rejected", "accepted"]
    view = await (await api.get(f"/v1/messages/{answer['messages'][0]['id']}")).json()
    assert view["events"][0]["type"] == "rejected" and "opted out" in view["events"][0]["detail"]["reason"]
    for kind in ("otp", "notification"):
        ok = await (await api.post("/v1/messages", {"to": NUMBER, "card": card(), "traffic_type": kind})).json()
        assert ok["messages"][0]["status"] == "accepted"
    other = await api.new_tenant()
    theirs = await (
        await other.post("/v1/messages", {"to": NUMBER, "card": card(), "traffic_type": "marketing"})
    ).json()
    assert theirs["messages"][0]["status"] == "accepted"  # the list is per brand


async def test_an_opted_out_number_spelled_in_other_digits_is_still_opted_out(api):
    """Issue 13 finding 3: `+86138001380١0` (an Arabic-Indic digit) passed the opt-out list of
    `+8613800138010`. Every spelling is read as the one number it is, stored in ASCII E.164."""
    number = "+8613800138010"
    first = await api.post("/v1/messages", {"to": number, "card": card(), "traffic_type": "marketing"})
    [msg] = (await first.json())["messages"]
    assert await api.client.app[LEDGER].opt_out(api.tenant_id, msg["id"], source="sms_reply")
    spellings = ["+86138001380١0", "+８６１３８００１３８０１０", "１３８００１３８０１０", "+86 138.0013.8010"]
    body = {"recipients": [{"to": s} for s in spellings], "card": card(), "traffic_type": "marketing"}
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    answer = (await resp.json())["messages"]
    assert [(m["to"], m["status"]) for m in answer] == [(number, "rejected")] * len(spellings)


async def test_capability_checks_answer_in_ascii_e164(api):
    resp = await api.post("/v1/capabilities", {"numbers": ["+86138001380١0", "+86138001380²0"]})
    assert resp.status == 200
    results = (await resp.json())["results"]
    assert [r["e164"] for r in results] == ["+8613800138010", None]
    assert results[1]["capability"] == "invalid"
