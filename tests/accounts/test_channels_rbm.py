"""A brand's Google RBM agent as a channel (operator `rbm`): its agent id, its service-account
key (checked, sealed, never shown) and the client token; what fits only other operators is refused."""

from __future__ import annotations

import orjson
import pytest

from rcs.operators import OPERATORS
from rcs.operators.rbm import RbmChannel
from rcs.rbm_simulator import new_service_account
from tests.accounts.test_channels import channel, env, problem  # noqa: F401

ACCOUNT, _ = new_service_account("agent@brand-project.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")
KEY = orjson.dumps(ACCOUNT).decode()
AGENT = "brand_promo_x1y2z3_agent"


@pytest.fixture
def database_url():
    return None  # the store's paths run on both databases in test_channels.py


def rbm_channel(**overrides) -> dict:
    body = {
        "operator": "rbm",
        "server_root": "rcsbusinessmessaging.googleapis.com",
        "chatbot_id": f"sip:{AGENT}@rbm.goog",
        "app_id": ACCOUNT["client_email"],
        "app_key": KEY,
        "callback_token": "rbm-client-token-1",
    }
    return {k: v for k, v in {**body, **overrides}.items() if v is not None}


async def test_an_rbm_agent_is_stored_sealed_and_builds_its_client(env):  # noqa: F811
    resp = await env.call("POST", "/v1/channels", rbm_channel())
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert {k: made[k] for k in ("operator", "chatbot_id", "app_key_set", "scheme")} == {
        "operator": "rbm",
        "chatbot_id": f"sip:{AGENT}@rbm.goog",
        "app_key_set": True,
        "scheme": "https",
    }
    assert "PRIVATE KEY" not in await (await env.call("GET", f"/v1/channels/{made['id']}")).text()
    config = await env.service.for_tenant(env.tenant_id)
    assert config.interface == "rbm" and (await env.service.by_chatbot_id(f"sip:{AGENT}@rbm.goog")).id == made["id"]
    client = OPERATORS[config.interface].from_config(config.maap_config())
    assert isinstance(client, RbmChannel) and client.settings.agent_id == AGENT and client.settings.public_only
    await client.close()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (rbm_channel(chatbot_id="sip:12520001@botplatform.rcs.chinaunicom.cn"), "/chatbot_id"),
        (channel(chatbot_id=f"sip:{AGENT}@rbm.goog"), "/chatbot_id"),
        (rbm_channel(chatbot_id="sip:Bad Agent@rbm.goog"), "/chatbot_id"),
        (rbm_channel(app_key="ak-not-a-key"), "/app_key"),
        (rbm_channel(app_key=orjson.dumps({**ACCOUNT, "private_key": "nope"}).decode()), "/app_key"),
        (rbm_channel(app_id="someone@else.iam.gserviceaccount.com"), "/app_id"),
        (channel(app_key=KEY), "/app_key"),
        (rbm_channel(server_root="http://rcsbusinessmessaging.googleapis.com"), "/server_root"),
    ],
)
async def test_what_does_not_fit_the_operator_is_refused(env, body, path):  # noqa: F811
    answer = await problem(await env.call("POST", "/v1/channels", body), 422)
    assert [e["path"] for e in answer["errors"]] == [path], answer
    assert "PRIVATE KEY" not in str(answer)
