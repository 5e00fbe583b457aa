"""The campaigns' end-to-end scenario (tests/campaigns/scenario.py) on 600 contacts — six of each
sandbox ending —, run by the app's own campaign runner in real time; `bench/campaign_e2e.py`
runs the same with 100,000."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server import DispatchConfig
from tests.campaigns import scenario
from tests.dispatch.conftest import FAST
from tests.dispatch.conftest import dispatch_settings as dispatch_settings  # noqa: F401  (a fixture)

CONTACTS = 600


@pytest.fixture
def dispatch_config() -> DispatchConfig:
    """FAST, with a short operator silence (…7, …44) and receipt wait (…90)."""
    return replace(FAST, options=replace(FAST.options, rcs_silence_s=0.3, sms_receipt_wait_s=0.3))


async def test_import_segment_ab_campaign_resend_recount(
    aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config
):
    from billing.http import BILLING
    from server import ACCOUNTS, DATABASE, Wiring, create_app
    from tests.conftest import ApiClient

    settings = replace(dispatch_settings, campaign_tick_s=0.2)
    app = create_app(settings, Wiring(dispatch=dispatch_config))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    made = await app[ACCOUNTS].create_api_key(tenant.id, ["billing", "billing-admin", "messages"])
    admin = ApiClient(client, tenant.id, made["api_key"])
    billing = app[BILLING]  # its own settle time: events committed late are not skipped

    async def settle() -> None:
        while await billing.run_once():
            pass

    outcome = await scenario.run(api, admin, app[DATABASE], CONTACTS, settle_billing=settle, timeout=60)
    assert outcome.audience == CONTACTS - CONTACTS // 10
    assert outcome.figures["resends"] > 0
