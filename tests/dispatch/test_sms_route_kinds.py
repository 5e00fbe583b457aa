"""One table of sandbox endings, run over every SMS route kind through the whole platform: a
send to a number that is not RCS-capable falls back to an SMS on the route the routes file
names (SMPP to the SMSC simulator, CMPP 2.0 and 3.0 to the ISMG simulator, SMGP 3.0 to the
SMGW simulator, SGIP 1.2 to the SMG simulator, which connects back to the route's listener),
and each ending ends as the sandbox promises; a long message goes in parts; a reply through
the route reaches the brand."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fallback.gateways.cmpp_simulator import SANDBOX_SECRET, SANDBOX_SP_ID, CmppSimulator
from fallback.gateways.sgip_simulator import SANDBOX_LOGIN, SANDBOX_NODE_ID, SgipSimulator, SpEndpoint
from fallback.gateways.smgp_simulator import SANDBOX_CLIENT_ID, SmgpSimulator
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, has_event, wait_for
from tests.dispatch.test_kill import free_port

# (number, final status, what the events must show)
ENDINGS = [
    pytest.param("+8613800138010", "sms_delivered", None, id="0-delivered"),
    pytest.param("+8613800138019", "sms_failed", "UNDELIV", id="9-undeliverable"),
    pytest.param("+8613800138100", "sms_delivered", None, id="00-throttled-then-delivered"),
]
KINDS = ["smpp", "cmpp-2.0", "cmpp-3.0", "smgp", "sgip"]


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about the route kinds


@pytest.fixture(params=KINDS)
async def route_api(request, aiohttp_server, aiohttp_client, dispatch_settings, tmp_path, monkeypatch):
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    settings = dispatch_settings
    sim = None
    if request.param != "smpp":
        monkeypatch.setenv("GATEWAY_SECRET", SANDBOX_SECRET)
        if request.param.startswith("cmpp"):
            sim = CmppSimulator(receipt_delay=0.05)
            login = f'kind = "cmpp"\nsp_id = "{SANDBOX_SP_ID}"\nversion = "{request.param[5:]}"\n'
        elif request.param == "smgp":
            sim = SmgpSimulator(receipt_delay=0.05)
            login = f'kind = "smgp"\nclient_id = "{SANDBOX_CLIENT_ID}"\n'
        else:  # the SMG connects back to the route's listener with the login it was given
            listen = free_port()
            sim = SgipSimulator(receipt_delay=0.05)
            sim.sp_endpoints[SANDBOX_LOGIN] = SpEndpoint("127.0.0.1", listen, "smg", SANDBOX_SECRET)
            login = (f'kind = "sgip"\nlogin_name = "{SANDBOX_LOGIN}"\nnode_id = {SANDBOX_NODE_ID}\n'
                     f'listen_host = "127.0.0.1"\nlisten_port = {listen}\nsmg_login = "smg"\n'
                     'smg_password = { env = "GATEWAY_SECRET" }\nservice_type = "HONGYAN"\n')  # fmt: skip
        await sim.start()
        routes = tmp_path / "routes.toml"
        routes.write_text(
            f'sender = "1069000000"\n[routes.gateway]\n{login}max_per_second = 200\nhost = "127.0.0.1"\n'
            f'port = {sim.port}\nsecret = {{ env = "GATEWAY_SECRET" }}\nthrottle_delay = 0.01\n'
            + ('service_id = "HONGYAN"\n' if request.param != "sgip" else "")
        )
        settings = replace(dispatch_settings, routes_file=routes)
    app = create_app(settings, Wiring(dispatch=FAST))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Route brand", signature="【路由】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    yield request.param, api, sim
    if sim is not None:
        await sim.stop()


@pytest.mark.parametrize(("number", "status", "reason"), ENDINGS)
async def test_each_ending_over_each_route_kind(route_api, number, status, reason):
    kind, api, sim = route_api
    resp = await api.post("/v1/messages", {"to": number, "card": card(), "traffic_type": "notification"})
    assert resp.status == 202
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(api, mid, lambda v: v["status"] in ("sms_delivered", "sms_failed"), timeout=15)
    assert view["status"] == status, event_types(view)
    assert event_types(view)[-3:] == ["fallback_pending", "sms_sent", status]
    final = view["events"][-1]
    if reason:
        assert reason in final["detail"]["reason"]
    if sim is not None:
        sent = next(e for e in view["events"] if e["type"] == "sms_sent")
        assert sent["detail"]["route"] == "gateway"
        assert sim.submits[as_submitted(kind, number)] == sent["detail"]["segments"]  # each part once, none twice


def as_submitted(kind: str, number: str) -> str:
    """A number as the kind's submit carries it (SGIP: with 86; the others: national)."""
    return number[1:] if kind == "sgip" else number[3:]


async def test_a_long_message_over_each_route_kind_goes_in_parts(route_api):
    kind, api, sim = route_api
    long_card = card(description="尊敬的客户，您本月话费账单已出，请及时缴纳。" * 6)
    resp = await api.post("/v1/messages", {"to": "+8613800138010", "card": long_card, "traffic_type": "notification"})
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(api, mid, lambda v: v["status"] in ("sms_delivered", "sms_failed"), timeout=15)
    assert view["status"] == "sms_delivered", event_types(view)
    sent = next(e for e in view["events"] if e["type"] == "sms_sent")
    assert sent["detail"]["segments"] > 1
    if sim is not None:
        assert sim.submits[as_submitted(kind, "+8613800138010")] == sent["detail"]["segments"]


async def test_a_reply_over_each_route_kind_reaches_the_brand(route_api):
    kind, api, sim = route_api
    resp = await api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(api, mid, has_event("sms_delivered"), timeout=15)
    if sim is None:
        pytest.skip("the SMPP reply path has its own tests (tests/fallback/test_smsc_inbox.py)")
    # the sender number and the tenant's extension code
    last = sim.received[-1]
    source = last.get("Src_Id") or last.get("SrcTermID") or last["SPNumber"]
    sim.send_mo("+8613800138010", source, "TD")
    for _ in range(250):  # the reply is handled asynchronously: look until the opt-out shows
        again = await api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
        if (await again.json())["messages"][0]["status"] == "rejected":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"the opt-out reply over {kind} never reached the brand")
    assert view["status"] == "sms_delivered"
