"""What the person who runs the platform watches: Prometheus metrics at /metrics moving during
sandbox sends (accepts, status changes, sends to the MaaP and the SMSC, backlogs), /healthz and
/readyz, and the metrics token."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from security.secrets import Secret
from tests.conftest import card
from tests.dispatch.conftest import FAST, wait_for
from tests.dispatch.conftest import dispatch_settings as dispatch_settings  # noqa: F401  (a fixture)
from tests.dispatch.conftest import sandbox_api as sandbox_api  # noqa: F401  (a fixture)


@pytest.fixture
def dispatch_config():
    return FAST


READS, SMS_ONLY = "+8613800138001", "+8613800138010"  # the sandbox: read over RCS; no RCS, SMS


async def scrape(api, headers: dict | None = None) -> dict[tuple[str, tuple], float]:
    resp = await api.client.get("/metrics", headers=headers or {})
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/plain"
    out = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_during_sandbox_sends(sandbox_api):  # noqa: F811
    before = await scrape(sandbox_api)
    ids = []
    for to in (READS, SMS_ONLY):
        resp = await sandbox_api.post("/v1/messages", {"to": to, "card": card()})
        assert resp.status == 202, await resp.text()
        ids.append((await resp.json())["messages"][0]["id"])
    await wait_for(sandbox_api, ids[0], lambda v: v["status"] == "rcs_read")
    await wait_for(sandbox_api, ids[1], lambda v: v["status"] == "sms_delivered")
    after = await scrape(sandbox_api)

    def moved(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("hongyan_messages_accepted_total", traffic_type="notification") == 2
    for status in ("rcs_sent", "rcs_delivered", "rcs_read", "sms_sent", "sms_delivered"):
        assert moved("hongyan_message_status_changes_total", status=status) >= 1, status
    assert moved("hongyan_channel_send_seconds_count", channel="rcs", outcome="accepted") >= 1
    assert moved("hongyan_channel_send_seconds_count", channel="sms", outcome="sent") == 1
    for queue in ("dispatch", "webhooks", "evidence"):
        assert ("hongyan_backlog", (("queue", queue),)) in after, queue
        assert value(after, "hongyan_backlog_oldest_seconds", queue=queue) >= 0
    # Nothing personal in any label.
    assert not any(READS[3:] in str(labels) or ids[0] in str(labels) for _, labels in after)


async def test_live_and_ready(sandbox_api):  # noqa: F811
    live = await sandbox_api.client.get("/healthz")
    assert live.status == 200 and (await live.json()) == {"status": "ok"}
    ready = await sandbox_api.client.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert await ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "dispatcher": "ok", "sms_routes": "ok"},
    }
    from server import DISPATCHER

    await sandbox_api.client.app[DISPATCHER].stop()
    stopped = await sandbox_api.client.get("/readyz")
    assert stopped.status == 503
    assert (await stopped.json())["checks"]["dispatcher"] == "stopped"


async def test_a_metrics_token_guards_the_metrics(aiohttp_client, settings):
    from server import create_app

    client = await aiohttp_client(create_app(replace(settings, metrics_token=Secret("s3cret-metrics"))))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert ok.status == 200 and "hongyan_backlog" in await ok.text()


def test_the_sandbox_ports_can_be_pinned_by_flag_or_environment(monkeypatch):
    from server import build_parser, settings_from_args

    monkeypatch.setenv("HONGYAN_MAAP_PORT", "18081")
    args = build_parser().parse_args(["serve", "--smsc-port", "12775"])
    settings = settings_from_args(args)
    assert (settings.maap_port, settings.smsc_port) == (18081, 12775)
    args = build_parser().parse_args(["--maap-port", "18090", "serve"])
    assert settings_from_args(args).maap_port == 18090  # the flag wins over the environment
    monkeypatch.setenv("HONGYAN_CM_PORT", "18082")
    args = build_parser().parse_args(["simulators", "--rbm-port", "18083"])
    assert (settings_from_args(args).cm_port, settings_from_args(args).rbm_port) == (18082, 18083)
    monkeypatch.setenv("HONGYAN_SMSC_PORT", "many")
    with pytest.raises(SystemExit, match="HONGYAN_SMSC_PORT"):
        settings_from_args(build_parser().parse_args([]))


async def test_a_pinned_sandbox_runs_its_simulators_on_those_ports(
    aiohttp_server,
    dispatch_settings,
    unused_tcp_port_factory,  # noqa: F811
):
    from server import SANDBOX, Wiring, create_app

    ports = [unused_tcp_port_factory() for _ in range(4)]
    settings = replace(dispatch_settings, maap_port=ports[0], smsc_port=ports[1], cm_port=ports[2], rbm_port=ports[3])
    app = create_app(settings, Wiring(dispatch=FAST))
    await aiohttp_server(app, port=settings.port)
    sandbox = app[SANDBOX]
    assert [sandbox.maap.port, sandbox.smsc.port, sandbox.cm.port, sandbox.rbm.port] == ports
