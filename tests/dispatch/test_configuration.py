"""Configuration reaches every adapter: outside the sandbox, the MaaP credentials and the SMS
routes file are what the platform uses (the peers accept nothing else), and no secret is
printed or logged on the way."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from fallback.smsc import SmscSimulator
from rcs.capability import DEFAULT_MAX_ENTRIES
from rcs.simulator import DEFAULT_MAX_MESSAGES, MaapSimulator
from security.secrets import Secret
from server import Settings, Wiring, create_app
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, wait_for

APP_KEY = "k-5f1d9e0c7b"
CALLBACK_TOKEN = "cb-0a8e4f2d19"
SMPP_PASSWORD = "pw77c1e3"
CHATBOT = "sip:12520000099@botplatform.example.cn"


@pytest.fixture
def database_url():
    return None  # the storage paths run on both databases elsewhere


@pytest.fixture
async def configured(dispatch_settings, tmp_path, monkeypatch, aiohttp_server, aiohttp_client):
    """The app outside the sandbox, pointed at a MaaP and an SMSC that know only our credentials."""
    from server import ACCOUNTS
    from tests.conftest import ApiClient

    maap = MaapSimulator(
        callback_base_url=f"http://127.0.0.1:{dispatch_settings.port}/rcs",
        callback_token=CALLBACK_TOKEN,
        app_id="acme-app",
        app_key=APP_KEY,
        chatbot_id=CHATBOT,
        timing=FAST.maap_timing,
    )
    smsc = SmscSimulator(receipt_delay=0.05, credentials={"acme": SMPP_PASSWORD})
    await maap.start()
    await smsc.start()
    secret_file = tmp_path / "smpp.secret"
    secret_file.write_text(SMPP_PASSWORD + "\n")
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f'[routes.main]\nkind = "smpp"\nhost = "{smsc.host}"\nport = {smsc.port}\nsystem_id = "acme"\n'
        f'password = {{ file = "{secret_file}" }}\nmax_per_second = 500\n'
    )
    settings = replace(
        dispatch_settings,
        sandbox=False,
        maap_url=maap.url,
        maap_chatbot_id=CHATBOT,
        maap_app_id="acme-app",
        maap_app_key=Secret(APP_KEY),
        maap_callback_token=Secret(CALLBACK_TOKEN),
        routes_file=routes,
    )
    app = create_app(settings, Wiring(dispatch=FAST, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Acme", signature="【阿克米】")
    yield ApiClient(client, tenant.id, key), maap, smsc, settings
    await smsc.stop()
    await maap.stop()


async def test_the_configured_peers_carry_rcs_and_sms(configured, caplog):
    caplog.set_level(logging.DEBUG)
    api, maap, smsc, settings = configured
    sent = await api.post(
        "/v1/messages", {"recipients": [{"to": "+8613800138001"}, {"to": "+8613800138010"}], "card": card()}
    )
    rcs_id, sms_id = [m["id"] for m in (await sent.json())["messages"]]
    rcs_view = await wait_for(api, rcs_id, lambda v: v["status"] == "rcs_read")
    sms_view = await wait_for(api, sms_id, lambda v: v["status"] == "sms_delivered")
    assert "rcs_sent" in event_types(rcs_view) and "sms_sent" in event_types(sms_view)
    assert maap.tokens_issued >= 1  # our app id and key were accepted
    assert next(e for e in sms_view["events"] if e["type"] == "sms_sent")["detail"]["route"] == "main"

    for secret in (APP_KEY, CALLBACK_TOKEN, SMPP_PASSWORD):
        assert secret not in caplog.text
        assert secret not in repr(settings) and secret not in str(settings)


def test_outside_the_sandbox_every_credential_is_required(tmp_path):
    settings = Settings(data_dir=tmp_path, sandbox=False, maap_url="https://maap.example.cn", maap_app_id="a")
    with pytest.raises(SystemExit) as stopped:
        create_app(settings)
    message = str(stopped.value)
    for name in ("HONGYAN_MAAP_CHATBOT_ID", "HONGYAN_MAAP_APP_KEY", "HONGYAN_MAAP_CALLBACK_TOKEN"):
        assert name in message
    assert "HONGYAN_MAAP_APP_ID" not in message


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    key_file = tmp_path / "app.key"
    key_file.write_text("from-file\n")
    settings = Settings.from_env(
        {
            "HONGYAN_MAAP_URL": "https://maap.example.cn",
            "HONGYAN_MAAP_CHATBOT_ID": CHATBOT,
            "HONGYAN_MAAP_APP_ID": "acme",
            "HONGYAN_MAAP_APP_KEY_FILE": str(key_file),
            "HONGYAN_MAAP_CALLBACK_TOKEN": "from-env",
            "HONGYAN_SMPP_PASSWORD": "smpp-env",
            "HONGYAN_ROUTES": str(tmp_path / "routes.toml"),
            "HONGYAN_SANDBOX": "0",
        }
    )
    assert settings.maap_app_key == Secret("from-file") and settings.maap_callback_token == Secret("from-env")
    assert settings.smpp_password == Secret("smpp-env") and settings.routes_file == tmp_path / "routes.toml"
    assert not settings.sandbox
    for secret in ("from-file", "from-env", "smpp-env"):
        assert secret not in repr(settings)
    with pytest.raises(SystemExit, match="cannot read the secret file"):
        Settings.from_env({"HONGYAN_MAAP_APP_KEY_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("env", "entries", "kept"),
    [
        pytest.param({}, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_MESSAGES, id="the defaults"),
        pytest.param(
            {"HONGYAN_CAPABILITY_CACHE_ENTRIES": "1000", "HONGYAN_SANDBOX_MAX_MESSAGES": "50"}, 1000, 50, id="set"
        ),
    ],
)
def test_memory_bounds_reach_the_dispatcher_and_the_sandbox(env, entries, kept):
    from dispatch.rcs import keyed_capability_cache
    from server import dispatch_config

    config = dispatch_config(Settings.from_env(env), Wiring())
    assert config.options.capability_cache_entries == entries
    assert config.maap_timing.max_messages == kept
    assert keyed_capability_cache(config.options.capability_cache_entries).max_entries == entries
