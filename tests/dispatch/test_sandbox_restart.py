"""The sandbox survives a restart: run on a data directory, the MaaP and SMSC simulators keep
their state there, so after the platform stops and starts again on it the handset still shows
the card, the SMS inbox still holds the SMS (and its reply), query_sm still answers about the
SMS's parts, and an RCS message sent before is still known to revoke."""

from __future__ import annotations

import aiohttp
import pytest

from server import ACCOUNTS, SANDBOX, SMS_STAGE, Wiring, create_app
from tests.conftest import ApiClient, card
from tests.dispatch.conftest import FAST, wait_for

RCS_TO = "+8613800138001"
SMS_TO = "+8613800138010"
SILENT_TO = "+8613800138007"  # never delivered: still in flight when the platform stops


@pytest.fixture
def database_url():
    return None  # the embedded default: the simulators' state lives in its data dir


async def start(aiohttp_server, aiohttp_client, settings):
    app = create_app(settings, Wiring(dispatch=FAST))
    server = await aiohttp_server(app, port=settings.port)
    return server, await aiohttp_client(server)


async def page(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        assert resp.status == 200, url
        return await resp.text()


async def test_the_simulators_state_survives_a_restart(aiohttp_server, aiohttp_client, dispatch_settings):
    server, client = await start(aiohttp_server, aiohttp_client, dispatch_settings)
    tenant, key = await client.app[ACCOUNTS].create_tenant("Restart brand")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    title = "重启之前的卡片"
    sent = await api.post(
        "/v1/messages", {"recipients": [{"to": n} for n in (RCS_TO, SMS_TO, SILENT_TO)], "card": card(title)}
    )
    rcs_id, sms_id, silent_id = [m["id"] for m in (await sent.json())["messages"]]
    await wait_for(api, rcs_id, lambda v: v["status"] == "rcs_read")
    sms_view = await wait_for(api, sms_id, lambda v: v["status"] == "sms_delivered")
    await wait_for(api, silent_id, lambda v: v["status"] == "rcs_sent")
    smsc = client.app[SANDBOX].smsc
    inbox = smsc.inboxes.of(SMS_TO)
    assert await smsc.inboxes.reply(inbox, "收到，谢谢")  # the inbox's user answers
    await server.close()  # the simulators write what they hold as they stop
    assert (dispatch_settings.data_dir / "sandbox" / "maap.json").exists()

    server, client = await start(aiohttp_server, aiohttp_client, dispatch_settings)
    sandbox = client.app[SANDBOX]
    # The handset: the card sent before the restart, on its page (served by the new simulator).
    assert sandbox.maap.messages[rcs_id].state == "displayed"
    assert title in await page(f"{sandbox.maap.url}/handset/message/{rcs_id}")
    # The SMS inbox: the SMS and the reply typed there.
    inbox = sandbox.smsc.inboxes.of(SMS_TO)
    shown = await page(f"{sandbox.smsc.http_url}/{inbox.inbox_id}")
    assert "【鸿雁测试】" in shown and "收到，谢谢" in shown
    # query_sm about the SMS's parts, over the new bind, finds them delivered.
    parts = [p["id"] for p in next(e for e in sms_view["events"] if e["type"] == "sms_delivered")["detail"]["parts"]]
    stage = client.app[SMS_STAGE]
    sender = await stage.sender_number(tenant.id)
    states = await stage.gateway_for(False).query("sandbox", parts, sender)
    assert states and [p.stat for p in states] == ["DELIVRD"] * len(parts)
    # The message still in flight is revoked at the MaaP (it knows it): revokeOk, then the SMS.
    api = ApiClient(client, tenant.id, key)
    cancelled = await api.post(f"/v1/messages/{silent_id}/cancel")
    assert cancelled.status == 202, await cancelled.text()
    view = await wait_for(api, silent_id, lambda v: v["status"] == "revoked")
    revoked = next(e for e in view["events"] if e["type"] == "revoked")
    assert revoked["source"] == "maap" and revoked["detail"]["maap_status"] == "revokeOk"
