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
