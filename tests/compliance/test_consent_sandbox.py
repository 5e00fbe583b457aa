"""End to end in the sandbox (MaaP and SMSC simulators on real sockets): a marketing SMS goes out
ending with the tenant's unsubscribe text; the recipient's 同意 reply through the SMSC records a
consent with the reply as proof, and a later TD reply puts the number on the opt-out list with
the number kept (sealed) and withdraws that consent."""

from __future__ import annotations

import asyncio

from compliance.consent import verify_chain
from dispatch.sms import DEFAULT_SOURCE_ADDR
from server import ACCOUNTS, DATABASE, SANDBOX, SMS_STAGE
from tests.conftest import card
from tests.dispatch.conftest import wait_for

TO = "+8613800001270"  # ends in 0: not RCS-capable, so the SMS goes


async def _until(predicate, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def test_the_sms_carries_the_tenants_text_and_replies_grant_then_opt_out(sandbox_api):
    api, app = sandbox_api, sandbox_api.client.app
    await api.put("/v1/compliance/policy", {"unsubscribe_text": "回T退订"})
    stage = app[SMS_STAGE]
    texts: list[str] = []
    send = stage.gateway.send

    async def recording(to, text, *args, **kw):
        texts.append(text)
        return await send(to, text, *args, **kw)

    stage.gateway.send = recording
    sent = await api.post("/v1/messages", {"to": TO, "card": card(), "traffic_type": "marketing"})
    await wait_for(api, (await sent.json())["messages"][0]["id"], lambda v: v["status"] == "sms_delivered")
    assert len(texts) == 1 and texts[0].endswith(" 回T退订")

    tenant = await app[ACCOUNTS].get_tenant(api.tenant_id)
    sender = DEFAULT_SOURCE_ADDR + tenant.sms_ext
    await app[SANDBOX].smsc.send_mo(TO, sender, "同意")

    async def consented() -> bool:
        return (await (await api.post("/v1/consents/search", {"to": TO})).json())["consented"]

    await _until(consented, "the 同意 reply was not recorded as a consent")
    [c] = (await (await api.post("/v1/consents/search", {"to": TO})).json())["data"]
    assert c["source"] == "keyword_reply" and c["proof"]["text"] == "同意" and c["proof"]["mo_id"]

    await app[SANDBOX].smsc.send_mo(TO, sender, "TD")

    async def opted_out() -> bool:
        return (await (await api.post("/v1/opt-outs/search", {"to": TO})).json())["opted_out"]

    await _until(opted_out, "the TD reply was not recorded")
    listed = (await (await api.get("/v1/opt-outs")).json())["data"]
    assert [(e["to"], e["source"]) for e in listed] == [(TO, "sms_reply")]
    # The opt-out ended the consent the 同意 reply gave, and the chain holds both.
    assert not await consented()
    [c] = (await (await api.post("/v1/consents/search", {"to": TO})).json())["data"]
    assert c["withdrawn_at"] is not None
    assert await verify_chain(app[DATABASE], api.tenant_id) == (2, None)
