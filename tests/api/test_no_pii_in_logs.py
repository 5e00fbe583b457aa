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


async def test_the_access_log_keeps_no_token_and_no_query_value(aiohttp_client, settings, caplog):
    """Issue 13 finding 10: a short-link token opens the recipient's personal page, so the
    access log keeps only its first characters; query values are not written at all."""
    from aiohttp.test_utils import TestServer

    from api.accesslog import AccessLogger
    from server import ACCOUNTS, create_app

    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=AccessLogger)  # as server.py runs the app
    client = await aiohttp_client(server)
    _, key = await client.app[ACCOUNTS].create_tenant("Logged brand")
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")  # the access log is at DEBUG
    token = "AbCdEfGhIjKlMnOpQr"
    await client.get(f"/s/{token}")
    await client.post(f"/s/{token}/r/1", data={"x": "1"})
    await client.get("/v1/messages?client_ref=order-7781&limit=5", headers={"Authorization": f"Bearer {key}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 3, lines
    text = "\n".join(lines)
    assert token not in text and token[4:] not in text and "order-7781" not in text
    assert '"GET /s/AbCd**** HTTP/1.1" 404' in lines[0]
    assert "POST /s/AbCd****/r/1" in lines[1]
    assert "GET /v1/messages?client_ref=*&limit=* HTTP/1.1" in lines[2]
