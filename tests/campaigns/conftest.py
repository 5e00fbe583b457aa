"""The sandbox app (dispatch on, MaaP and SMSC simulators) with the campaign runner stepped by
the test on a clock of its own: pacing, the winner's wait and the resend's wait move when the
test says, while messages really travel."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from server import DispatchConfig
from tests.dispatch.conftest import FAST
from tests.dispatch.conftest import dispatch_settings as dispatch_settings  # noqa: F401  (a fixture)
from tests.editor.conftest import ManualClock

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in China


@dataclass
class CampaignEnv:
    api: object  # tests.conftest.ApiClient
    clock: ManualClock

    @property
    def app(self):
        return self.api.client.app

    async def step(self, seconds: float = 1.0) -> int:
        """Move the campaigns' clock on and run one pass of the runner."""
        from server import CAMPAIGN_RUNNER

        self.clock.advance(seconds=seconds)
        return await self.app[CAMPAIGN_RUNNER].run_once()


@pytest.fixture
def dispatch_config() -> DispatchConfig:
    """FAST, and a short operator silence: …7 and …44 end within a second."""
    return replace(FAST, options=replace(FAST.options, rcs_silence_s=0.3))


@pytest.fixture
async def campaign_env(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    clock = ManualClock(T0)
    settings = replace(dispatch_settings, campaign_tick_s=0)
    app = create_app(settings, Wiring(dispatch=dispatch_config, campaign_clock=clock))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    return CampaignEnv(api, clock)
