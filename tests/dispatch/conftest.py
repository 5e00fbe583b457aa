"""A running app with its sandbox (MaaP and SMSC simulators on loopback, tiny timings)."""

from __future__ import annotations

import asyncio
import time

import pytest

from dispatch import DispatchOptions, RetryPolicy
from rcs.simulator import SimulatorTiming
from server import DispatchConfig

FAST = DispatchConfig(
    maap_timing=SimulatorTiming(
        delivery_delay_s=0.05, display_delay_s=0.05, revoke_delay_s=0.05, not_capable_delay_s=0.02
    ),
    smsc_receipt_delay=0.05,
    options=DispatchOptions(poll_s=0.02, idle_poll_max_s=0.2, revoke_wait_s=1.0, retry=RetryPolicy(first_s=0.05)),
)


@pytest.fixture
async def dispatch_settings(database_templates, tmp_path, database_url, unused_tcp_port_factory):
    from server import Settings
    from tests.conftest import TEST_MASTER_KEY, prepare_database

    await prepare_database(database_templates, tmp_path, database_url)
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        master_key=TEST_MASTER_KEY if database_url else None,
        demo_tenant=False,
        sandbox=True,
        port=unused_tcp_port_factory(),
    )


@pytest.fixture
def dispatch_config() -> DispatchConfig:
    """The sandbox's timings for `sandbox_api` (a test module may override this fixture)."""
    return FAST


@pytest.fixture
async def sandbox_api(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):
    """An ApiClient for a tenant of an app serving on the settings' port (the MaaP calls it back)."""
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    # Loopback http:// receivers for webhooks on PostgreSQL too (the embedded default allows them).
    app = create_app(dispatch_settings, Wiring(dispatch=dispatch_config, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=dispatch_settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    return await ApiClient(client, tenant.id, key).without_send_rules()


async def wait_for(api, message_id: str, predicate, timeout: float = 10.0) -> dict:
    """Poll GET /v1/messages/{id} until `predicate(view)` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = await api.get(f"/v1/messages/{message_id}")
        assert got.status == 200
        view = await got.json()
        if predicate(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; last seen {view['status']}: {[e['type'] for e in view['events']]}")
        await asyncio.sleep(0.02)


def has_event(kind: str):
    return lambda view: any(e["type"] == kind for e in view["events"])


def event_types(view: dict) -> list[str]:
    return [e["type"] for e in view["events"]]
