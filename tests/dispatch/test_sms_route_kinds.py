"""One table of sandbox endings, run over every SMS route kind through the whole platform: a
send to a number that is not RCS-capable falls back to an SMS on the route the routes file
names (SMPP to the SMSC simulator, CMPP 2.0 and 3.0 to the ISMG simulator, SMGP 3.0 to the
SMGW simulator), and each ending
ends as the sandbox promises; a reply through the route reaches the brand."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fallback.gateways.cmpp_simulator import SANDBOX_SECRET, SANDBOX_SP_ID, CmppSimulator
from fallback.gateways.smgp_simulator import SANDBOX_CLIENT_ID, SmgpSimulator
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, has_event, wait_for

# (number, final status, what the events must show)
ENDINGS = [
    pytest.param("+8613800138010", "sms_delivered", None, id="0-delivered"),
    pytest.param("+8613800138019", "sms_failed", "UNDELIV", id="9-undeliverable"),
    pytest.param("+8613800138100", "sms_delivered", None, id="00-throttled-then-delivered"),
]
KINDS = ["smpp", "cmpp-2.0", "cmpp-3.0", "smgp"]


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
        else:
            sim = SmgpSimulator(receipt_delay=0.05)
            login = f'kind = "smgp"\nclient_id = "{SANDBOX_CLIENT_ID}"\n'
        await sim.start()
        routes = tmp_path / "routes.toml"
        routes.write_text(
            f'sender = "1069000000"\n[routes.gateway]\n{login}max_per_second = 200\nhost = "127.0.0.1"\n'
            f'port = {sim.port}\nsecret = {{ env = "GATEWAY_SECRET" }}\nservice_id = "HONGYAN"\nthrottle_delay = 0.01\n'
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
        assert sim.submits[number[3:]] == sent["detail"]["segments"]  # each part once, none twice


async def test_a_reply_over_each_route_kind_reaches_the_brand(route_api):
    kind, api, sim = route_api
    resp = await api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(api, mid, has_event("sms_delivered"), timeout=15)
    if sim is None:
        pytest.skip("the SMPP reply path has its own tests (tests/fallback/test_smsc_inbox.py)")
    # the sender number and the tenant's extension code
    source = sim.received[-1].get("Src_Id") or sim.received[-1]["SrcTermID"]
    sim.send_mo("+8613800138010", source, "TD")
    for _ in range(250):  # the reply is handled asynchronously: look until the opt-out shows
        again = await api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
        if (await again.json())["messages"][0]["status"] == "rejected":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"the opt-out reply over {kind} never reached the brand")
    assert view["status"] == "sms_delivered"
