"""Traffic through the API leaves no phone number, variable value or API key in any log record."""

from __future__ import annotations

import logging

from tests.conftest import card

NUMBER = "+8613912345678"
VALUE = "王小明"


async def test_logs_carry_no_pii(api, caplog):
    caplog.set_level(logging.DEBUG)
    body = {
        "recipients": [{"to": NUMBER, "variables": {"name": VALUE}}, {"to": "139-1234-5679x"}],
        "card": card(title="{{ name }}"),
    }
    await api.post("/v1/messages", body)  # 422: the second number is bad
    body["recipients"].pop()
    resp = await api.post("/v1/messages", body, headers={"Idempotency-Key": "k1"})
    assert resp.status == 202
    [msg] = (await resp.json())["messages"]
    await api.get(f"/v1/messages/{msg['id']}")
    await api.post("/v1/sms/segments", {"text": f"call {NUMBER}", "mode": "cn"})
    await api.client.post("/v1/messages", json=body, headers={"Authorization": "Bearer " + api.api_key + "x"})
    text = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    # The platform's own records are there (the refused requests name where they went wrong).
    assert any(r.name.startswith("hongyan") for r in caplog.records)
    for needle in (NUMBER, NUMBER[3:], "13912345679", VALUE, api.api_key):
        assert needle not in text, needle
