"""Test keys (`hy_test_…`): beside a configured operator and SMSC, what a test key sends goes
only to the sandbox simulators — every sandbox ending plays out there — is marked test in the
API and in webhooks, is never billed and is not counted in the daily volume nor the tenant's
funnel; a live key's messages still go to the configured peers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson
import pytest

from billing.http import BILLING
from fallback.smsc import SmscSimulator
from rcs.simulator import MaapSimulator
from security.secrets import Secret
from server import ACCOUNTS, SANDBOX, Wiring, create_app
from tests.conftest import UNRESTRICTED_RULES, ApiClient, card
from tests.dispatch.conftest import FAST, event_types, wait_for
from tests.dispatch.test_webhooks import receiver, wait_events

CHATBOT = "sip:12520000077@botplatform.example.cn"

# Every sandbox ending: (number, the status a test message to it ends in, whether an SMS went).
# Each first goes over RCS (the CN interface has no capability query: the MaaP says "not a
# 5G-message terminal" by failing the send).
ENDINGS = [
    ("+8613800138001", "rcs_read", False),
    ("+8613800138010", "sms_delivered", True),
    ("+8613800138007", "sms_delivered", True),  # never delivered: revoked, then SMS
    ("+8613800138008", "rcs_read", False),  # 503 twice, then accepted
    ("+8613800138009", "sms_failed", True),
    ("+8613800138000", "sms_delivered", True),  # the SMSC throttles first
    ("+8613800138044", "rcs_delivered", False),  # callbacks lost: the revoke's revokeFail says so
    ("+8613800138055", "rcs_delivered", False),  # delivered, never read
    ("+8613800138090", "sms_delivered", True),  # the receipt is lost: query_sm finds it
]


@pytest.fixture
def database_url():
    return None  # the storage paths run on both databases elsewhere


@pytest.fixture
async def real_peers(dispatch_settings, tmp_path, aiohttp_server, aiohttp_client):
    """The app outside the sandbox with a "real" MaaP and SMSC (each recording what it takes),
    a tenant with an SMS price and a daily volume limit of 2, its live and its test key."""
    real_maap = MaapSimulator(
        callback_base_url=f"http://127.0.0.1:{dispatch_settings.port}/rcs",
        callback_token="cb-real-3c1f",
        app_id="real-app",
        app_key="k-real-8e2a",
        chatbot_id=CHATBOT,
        timing=FAST.maap_timing,
    )
    real_smsc = SmscSimulator(receipt_delay=0.05, credentials={"real": "pw-real"})
    await real_maap.start()
    await real_smsc.start()
    secret_file = tmp_path / "smpp.secret"
    secret_file.write_text("pw-real\n")
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f'[routes.main]\nkind = "smpp"\nhost = "{real_smsc.host}"\nport = {real_smsc.port}\n'
        f'system_id = "real"\npassword = {{ file = "{secret_file}" }}\nmax_per_second = 500\n'
    )
    settings = replace(
        dispatch_settings,
        sandbox=False,
        maap_url=real_maap.url,
        maap_chatbot_id=CHATBOT,
        maap_app_id="real-app",
        maap_app_key=Secret("k-real-8e2a"),
        maap_callback_token=Secret("cb-real-3c1f"),
        routes_file=routes,
        rcs_silence_s=0.3,  # the …7 and …44 endings are re-asked about soon
        sms_receipt_wait_s=0.3,  # and the …90 ending's SMS
    )
    app = create_app(settings, Wiring(dispatch=FAST, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Acme", signature="【阿克米】", sms_price="0.045")
    live = ApiClient(client, tenant.id, key)
    rules = {**UNRESTRICTED_RULES, "daily_volume": {"alert_at": None, "limit": 2}}
    assert (await live.put("/v1/compliance/send-rules", rules)).status == 200
    made = await live.post("/v1/api-keys", {"name": "tests", "scopes": ["messages", "keys"], "environment": "test"})
    assert made.status == 201, await made.text()
    test_key = (await made.json())["api_key"]
    assert test_key.startswith("hy_test_")
    yield live, ApiClient(client, tenant.id, test_key), real_maap, real_smsc
    await real_smsc.stop()
    await real_maap.stop()


async def test_a_test_keys_messages_go_only_to_the_simulators(real_peers, aiohttp_server):
    live, test, real_maap, real_smsc = real_peers
    app = live.client.app
    url, got, arrived = await receiver(aiohttp_server)
    assert (await live.post("/v1/webhooks", {"url": url, "events": ["message.status"]})).status == 201

    sent = await test.post("/v1/messages", {"recipients": [{"to": n} for n, _, _ in ENDINGS], "card": card()})
    assert sent.status == 202, await sent.text()  # nine recipients: the daily volume of 2 does not count them
    test_ids = [m["id"] for m in (await sent.json())["messages"]]
    test_batch = (await sent.json())["batch_id"]
    for mid, (number, final, by_sms) in zip(test_ids, ENDINGS):
        view = await wait_for(test, mid, lambda v, final=final: v["status"] == final)
        assert view["test"] is True, number
        types = event_types(view)
        assert "rcs_sent" in types and ("sms_sent" in types) is by_sms, (number, types)
        if by_sms:
            assert next(e for e in view["events"] if e["type"] == "sms_sent")["detail"]["route"] == "sandbox"
    sandbox = app[SANDBOX]
    assert set(sandbox.maap.messages) >= set(test_ids)
    # The configured peers saw nothing of it.
    assert real_maap.messages == {} and real_smsc.counts["received_submit_sm"] == 0
    listed = (await (await test.get(f"/v1/messages?batch_id={(await sent.json())['batch_id']}")).json())["data"]
    assert [m["test"] for m in listed] == [True] * len(ENDINGS)

    # A live key's messages keep going to the configured peers (and count in the daily volume).
    sent = await live.post(
        "/v1/messages", {"recipients": [{"to": ENDINGS[0][0]}, {"to": ENDINGS[1][0]}], "card": card()}
    )
    assert sent.status == 202, await sent.text()
    rcs_id, sms_id = [m["id"] for m in (await sent.json())["messages"]]
    assert (await wait_for(live, rcs_id, lambda v: v["status"] == "rcs_read"))["test"] is False
    sms_view = await wait_for(live, sms_id, lambda v: v["status"] == "sms_delivered")
    assert next(e for e in sms_view["events"] if e["type"] == "sms_sent")["detail"]["route"] == "main"
    assert rcs_id in real_maap.messages and rcs_id not in sandbox.maap.messages
    assert real_smsc.counts["submit_sm"] >= 1
    over = await live.post("/v1/messages", {"to": ENDINGS[0][0], "card": card()})
    assert over.status == 429  # the two live ones filled the day's volume

    # The tenant's figures over a period are its live traffic; a test batch asked for by id counts.
    since = quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
    [period] = (await (await live.get(f"/v1/analytics/funnel?since={since}")).json())["data"]
    assert period["accepted"] == 2
    [batch] = (await (await live.get(f"/v1/analytics/funnel?batch_id={test_batch}")).json())["data"]
    assert batch["accepted"] == len(ENDINGS)

    # Webhooks say which is which.
    await wait_events(got, arrived, lambda events: {rcs_id, *test_ids} <= {e["data"]["message_id"] for e in events})
    flags = {(b := orjson.loads(body))["data"]["message_id"]: b["data"]["test"] for body, _ in got}
    assert all(flags[m] is True for m in test_ids) and flags[rcs_id] is False

    # Billing: the live messages are held and charged, the test ones never appear.
    billing = app[BILLING]
    billing.settle_ms = 0
    while await billing.run_once():
        pass
    for mid, billed in [(rcs_id, True), (sms_id, True), *((m, False) for m in test_ids)]:
        cost = await (await live.get(f"/v1/billing/messages/{mid}")).json()
        assert bool(cost["entries"]) is billed, (mid, cost)


@pytest.mark.parametrize(
    "caller,body,status,field",
    [
        ("live", {"scopes": ["messages"], "environment": "staging"}, 422, "/environment"),
        ("live", {"scopes": ["messages", "campaigns"], "environment": "test"}, 422, "/scopes"),
        ("live", {"scopes": ["channels"], "environment": "test"}, 422, "/scopes"),
        ("test", {"scopes": ["messages"], "environment": "live"}, 403, "/environment"),
        ("test", {"scopes": ["messages"]}, 201, None),  # a test key's keys are test keys
        ("live", {"scopes": ["messages"]}, 201, None),
    ],
)
async def test_who_may_make_which_key(real_peers, caller, body, status, field):
    live, test, _, _ = real_peers
    resp = await (test if caller == "test" else live).post("/v1/api-keys", body)
    assert resp.status == status, await resp.text()
    doc = await resp.json()
    if field is not None:
        assert field in [e["path"] for e in doc["errors"]]
    else:
        environment = body.get("environment", caller)
        assert doc["environment"] == environment and doc["api_key"].startswith(f"hy_{environment}_")
        listed = (await (await live.get("/v1/api-keys")).json())["data"]
        assert next(k for k in listed if k["id"] == doc["id"])["environment"] == environment


async def test_a_conversation_with_a_test_handset_stays_on_the_simulator(real_peers):
    live, test, real_maap, _ = real_peers
    sandbox = live.client.app[SANDBOX]
    sent = await test.post("/v1/messages", {"to": ENDINGS[0][0], "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(test, mid, lambda v: v["status"] == "rcs_read")
    assert await sandbox.maap.reply(mid, "还有别的套餐吗？")  # the simulator's handset answers

    async def conversation() -> dict | None:
        found = (await (await live.get("/v1/conversations")).json())["conversations"]
        return found[0] if found else None

    conv = await conversation()
    for _ in range(200):
        if conv is not None:
            break
        await asyncio.sleep(0.02)
        conv = await conversation()
    assert conv is not None
    answered = await live.post(f"/v1/conversations/{conv['id']}/messages", {"text": "有的，请看这里。"})
    assert answered.status == 202, await answered.text()
    reply_id = (await answered.json())["message"]["message_id"]
    view = await wait_for(live, reply_id, lambda v: v["status"] in ("rcs_delivered", "rcs_read"))
    assert view["test"] is True
    assert reply_id in sandbox.maap.messages and real_maap.messages == {}


async def test_an_idempotency_key_never_answers_across_test_and_live(real_peers):
    live, test, _, _ = real_peers
    body, headers = {"to": ENDINGS[0][0], "card": card()}, {"Idempotency-Key": "order-42"}
    answers = []
    for caller in (test, live, test):
        sent = await caller.post("/v1/messages", body, headers=headers)
        assert sent.status == 202, await sent.text()
        answers.append((await sent.json())["messages"][0]["id"])
    assert answers[0] == answers[2] != answers[1]  # each replays its own
    assert [(await (await live.get(f"/v1/messages/{m}")).json())["test"] for m in answers[:2]] == [True, False]


async def test_a_test_key_revokes_only_test_keys(real_peers):
    live, test, _, _ = real_peers
    made = {
        env: (await (await live.post("/v1/api-keys", {"scopes": ["messages"], "environment": env})).json())["id"]
        for env in ("live", "test")
    }
    assert (await test.delete(f"/v1/api-keys/{made['live']}")).status == 403
    assert (await test.delete(f"/v1/api-keys/{made['test']}")).status == 204
