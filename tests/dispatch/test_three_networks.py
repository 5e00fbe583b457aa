"""Three networks and a backup: a routes file gives each carrier its own gateway protocol, China
Mobile a CMPP route, China Telecom an SMGP route, China Unicom an SGIP route, and every carrier
the same SMPP backup. A mixed batch goes out each number over its own carrier's route (the
carrier from the number's range, the phonenumbers data); then China Mobile's and China Unicom's
gateways die, and their traffic fails over to the backup without loss or a second copy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fallback.gateways.cmpp_simulator import SANDBOX_SECRET, SANDBOX_SP_ID, CmppSimulator
from fallback.gateways.sgip_simulator import SANDBOX_LOGIN, SANDBOX_NODE_ID, SgipSimulator, SpEndpoint
from fallback.gateways.smgp_simulator import SANDBOX_CLIENT_ID, SmgpSimulator
from fallback.smsc.simulator import SmscSimulator
from tests.conftest import card
from tests.dispatch.conftest import FAST, wait_for
from tests.dispatch.test_kill import free_port

# Numbers not RCS-capable (…0), one pair per carrier by its number range.
MOBILE = ["+8613800138010", "+8613900139010"]
TELECOM = ["+8613300133010", "+8618900189010"]
UNICOM = ["+8613100131010", "+8618600186010"]
MOBILE_LATER = [f"+86138001380{n}0" for n in range(2, 8)]
UNICOM_LATER = [f"+86131001310{n}0" for n in range(2, 5)]
# Ported numbers (携号转网): the prefix names the original carrier, the override list the new one.
PORTED = [
    ("+8613800138050", "china_telecom", "ct"),  # a China Mobile range, now China Telecom's
    ("+8618900189050", "china_unicom", "cu"),  # a China Telecom range, now China Unicom's
    ("+8613100131050", "china_mobile", "cm"),  # a China Unicom range, now China Mobile's
]


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about routing


@pytest.fixture
async def networks(aiohttp_server, aiohttp_client, dispatch_settings, tmp_path, monkeypatch):
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    monkeypatch.setenv("GATEWAY_SECRET", SANDBOX_SECRET)
    monkeypatch.setenv("SMSC_PASSWORD", "pw")
    cm, ct, cu = CmppSimulator(receipt_delay=0.05), SmgpSimulator(receipt_delay=0.05), SgipSimulator(receipt_delay=0.05)
    listen = free_port()  # the SGIP route's listener, where China Unicom's SMG connects back
    cu.sp_endpoints[SANDBOX_LOGIN] = SpEndpoint("127.0.0.1", listen, SANDBOX_LOGIN, SANDBOX_SECRET)
    backup = SmscSimulator(receipt_delay=0.05, credentials={"hongyan": "pw"})
    for sim in (cm, ct, cu, backup):
        await sim.start()
    gateway = 'secret = { env = "GATEWAY_SECRET" }\nservice_id = "HONGYAN"\nmax_per_second = 200\n'
    smpp = 'kind = "smpp"\nsystem_id = "hongyan"\npassword = { env = "SMSC_PASSWORD" }\nmax_per_second = 200\n'
    routes = tmp_path / "routes.toml"
    routes.write_text(
        'sender = "1069000000"\n'
        f'[routes.cm]\nkind = "cmpp"\nhost = "127.0.0.1"\nport = {cm.port}\nsp_id = "{SANDBOX_SP_ID}"\n{gateway}'
        "submit_timeout = 0.5\nreconnect_delay = 0.05\nmax_reconnect_delay = 0.2\n"
        f'[routes.ct]\nkind = "smgp"\nhost = "127.0.0.1"\nport = {ct.port}\nclient_id = "{SANDBOX_CLIENT_ID}"\n{gateway}'
        f'[routes.cu]\nkind = "sgip"\nhost = "127.0.0.1"\nport = {cu.port}\nlogin_name = "{SANDBOX_LOGIN}"\n'
        f'node_id = {SANDBOX_NODE_ID}\nlisten_host = "127.0.0.1"\nlisten_port = {listen}\n'
        'secret = { env = "GATEWAY_SECRET" }\nmax_per_second = 200\n'
        "submit_timeout = 0.5\nreconnect_delay = 0.05\nmax_reconnect_delay = 0.2\n"
        f'[routes.backup]\nhost = "127.0.0.1"\nport = {backup.port}\n{smpp}'
        "[carriers]\n"
        'china_mobile = ["cm", "backup"]\nchina_telecom = ["ct", "backup"]\nchina_unicom = ["cu", "backup"]\n'
        'default = ["backup"]\n'
        "[health]\nmin_samples = 2\nmax_error_rate = 0.2\ncooldown_seconds = 600\n"
    )
    settings = replace(dispatch_settings, routes_file=routes)
    app = create_app(settings, Wiring(dispatch=FAST))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Three networks", signature="【三网】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    yield api, {"cm": cm, "ct": ct, "cu": cu, "backup": backup}
    for sim in (cm, ct, cu, backup):
        await sim.stop()


async def send_batch(api, numbers: list[str]) -> dict[str, str]:
    resp = await api.post(
        "/v1/messages", {"recipients": [{"to": n} for n in numbers], "card": card(), "traffic_type": "notification"}
    )
    assert resp.status == 202
    return {m["to"]: m["id"] for m in (await resp.json())["messages"]}


async def sms_route(api, message_id: str) -> str:
    view = await wait_for(api, message_id, lambda v: v["status"] in ("sms_delivered", "sms_failed"), timeout=20)
    assert view["status"] == "sms_delivered", [e["type"] for e in view["events"]]
    return next(e for e in reversed(view["events"]) if e["type"] == "sms_sent")["detail"]["route"]


async def test_each_number_goes_over_its_carriers_route_and_fails_over_to_the_backup(networks):
    api, sims = networks
    sent = await send_batch(api, MOBILE + TELECOM + UNICOM)
    routes = {to: await sms_route(api, mid) for to, mid in sent.items()}
    assert routes == {**dict.fromkeys(MOBILE, "cm"), **dict.fromkeys(TELECOM, "ct"), **dict.fromkeys(UNICOM, "cu")}
    assert sorted(sims["cm"].submits) == sorted(n[3:] for n in MOBILE)
    assert sorted(sims["ct"].submits) == sorted(n[3:] for n in TELECOM)
    assert sorted(sims["cu"].submits) == sorted(n[1:] for n in UNICOM)  # SGIP: numbers with 86
    assert sims["backup"].counts["submit_sm"] == 0

    await sims["cm"].stop()  # China Mobile's gateway is gone
    later = await send_batch(api, MOBILE_LATER)
    for to, mid in later.items():
        assert await sms_route(api, mid) == "backup", to
        assert sims["backup"].messages_to(to) == 1  # each delivered once, none twice
    assert sims["backup"].repeated_destinations == 0
    assert not set(sims["cm"].submits) & {n[3:] for n in MOBILE_LATER}

    await sims["cu"].stop()  # China Unicom's SMG too: the SGIP route cannot bind for the next submit
    for to, mid in (await send_batch(api, UNICOM_LATER)).items():
        assert await sms_route(api, mid) == "backup", to
        assert sims["backup"].messages_to(to) == 1
    assert sims["backup"].repeated_destinations == 0

    health = {r["route"]: r for r in (await (await api.get("/v1/sms/routes")).json())["data"]}
    assert health["cm"]["state"] != "in_rotation" and health["backup"]["state"] == "in_rotation"
    assert health["cu"]["state"] != "in_rotation"


async def test_a_ported_number_goes_over_its_new_carriers_route(networks):
    from fallback.http import PORTED as PORTED_NUMBERS

    api, sims = networks
    ported = api.client.app[PORTED_NUMBERS]
    for number, carrier, _ in PORTED:
        assert await ported.put(number, carrier)
    sent = await send_batch(api, [number for number, _, _ in PORTED])
    routes = {to: await sms_route(api, mid) for to, mid in sent.items()}
    assert routes == {number: route for number, _, route in PORTED}
    assert sims["backup"].counts["submit_sm"] == 0

    # Off the list again, the number's prefix decides (at once in this process: its cache is dropped).
    number, _, _ = PORTED[0]
    assert await ported.remove(number)
    [mid] = (await send_batch(api, [number])).values()
    assert await sms_route(api, mid) == "cm"
