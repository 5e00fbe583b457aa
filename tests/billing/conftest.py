"""Billing tests: an app whose billing job only runs when a test asks (run_once), a client with
the operator's billing-admin key, and the sandbox app (dispatch on) for the end-to-end test."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from tests.dispatch.conftest import dispatch_config, dispatch_settings, sandbox_api  # noqa: F401  (fixtures)


@dataclass
class Billed:
    api: object  # ApiClient of the tenant (scope billing, read only)
    admin: object  # ApiClient with billing-admin (the operator's key, same tenant)
    billing: object  # the app's Billing

    async def settle(self) -> int:
        """Run the billing job until it has nothing left (events are taken at once: settle 0)."""
        total = 0
        while n := await self.billing.run_once():
            total += n
        return total


async def billed_for(api) -> Billed:
    from billing.http import BILLING
    from server import ACCOUNTS
    from tests.conftest import ApiClient

    app = api.client.app
    made = await app[ACCOUNTS].create_api_key(api.tenant_id, ["billing", "billing-admin", "messages"])
    billing = app[BILLING]
    billing.settle_ms = 0
    return Billed(api, ApiClient(api.client, api.tenant_id, made["api_key"]), billing)


@pytest.fixture
async def billed(aiohttp_client, settings) -> Billed:
    from server import ACCOUNTS, create_app
    from tests.conftest import ApiClient

    quiet = dataclasses.replace(settings, billing_interval_s=3600.0)  # the job runs only when asked
    client = await aiohttp_client(create_app(quiet))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    return await billed_for(api)
