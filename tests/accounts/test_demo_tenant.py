"""The demo tenant made on first start: a live key and a test key (kept for the tour), and an SMS
price, so a message's cost shows from the first send."""

from __future__ import annotations

import json

from server import ACCOUNTS, DEMO_SMS_PRICE, ensure_demo_tenant
from tests.conftest import ApiClient


async def test_the_demo_tenant_has_both_keys_and_an_sms_price(api, settings):
    accounts = api.client.app[ACCOUNTS]
    info = await ensure_demo_tenant(accounts, settings)
    assert info["api_key"].startswith("hy_live_") and info["test_api_key"].startswith("hy_test_")
    assert await ensure_demo_tenant(accounts, settings) == info  # made once, then read back
    assert json.loads((settings.data_dir / "demo-tenant.json").read_text()) == info

    demo = ApiClient(api.client, info["tenant_id"], info["api_key"])
    keys = (await (await demo.get("/v1/api-keys")).json())["data"]
    assert sorted(k["environment"] for k in keys) == ["live", "test"]
    prices = (await (await demo.get("/v1/billing/prices")).json())["prices"]
    sms = [p for p in prices if p["channel"] == "sms"]
    assert sms and all(
        p["price"] == "0.0450" == f"{float(DEMO_SMS_PRICE):.4f}" and p["source"] == "sms_price" for p in sms
    )


async def test_an_older_demo_tenant_gets_its_test_key(api, settings):
    accounts = api.client.app[ACCOUNTS]
    tenant, key = await accounts.create_tenant("Demo brand", sms_price=DEMO_SMS_PRICE)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "demo-tenant.json").write_text(json.dumps({"tenant_id": tenant.id, "api_key": key}))
    info = await ensure_demo_tenant(accounts, settings)
    assert info["api_key"] == key and info["test_api_key"].startswith("hy_test_")
    principal = await accounts.authenticate(info["test_api_key"])
    assert principal is not None and principal.test and principal.tenant.id == tenant.id
