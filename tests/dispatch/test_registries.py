"""A new SMS route kind or operator is one module plus one registry line: a toy of each,
registered that way, carries real traffic configured from the settings (routes file, operator
name), receipts and replies included."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from fallback.kinds import ROUTE_KINDS
from fallback.route import BeforeWrite, InboundSms, MessageOutcome, PartState, RouteHooks, SubmitError, SubmitResult
from fallback.segmentation import segment_sms
from security.secrets import Secret
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, has_event, wait_for


class ToyRoute:
    """The whole of a route kind: connect, submit, track, and report through the hooks."""

    instances: list[ToyRoute] = []

    def __init__(self, name: str, options: Mapping[str, Any], hooks: RouteHooks):
        self.name, self.options, self.hooks = name, options, hooks
        self.sent: list[tuple[str, str, str]] = []
        self.started = False
        self._ids = itertools.count(1)
        ToyRoute.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def submit(
        self,
        dest_e164: str,
        text: str,
        source_addr: str,
        *,
        reference: str | None = None,
        before_write: BeforeWrite | None = None,
    ) -> SubmitResult:
        if dest_e164.endswith("9"):
            raise SubmitError("refused", "the toy refuses numbers ending 9", transient=False)
        if before_write is not None:
            await before_write()
        self.sent.append((dest_e164, text, source_addr))
        segmentation = segment_sms(text)
        part_ids = tuple(f"toy-{next(self._ids)}" for _ in segmentation.parts)
        outcome = MessageOutcome(reference or "", "delivered", None, tuple(PartState(i, "DELIVRD") for i in part_ids))
        assert self.hooks.on_outcome is not None
        asyncio.get_running_loop().call_later(0.02, self.hooks.on_outcome, outcome)
        return SubmitResult(reference or "", part_ids, segmentation)

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        pass


@pytest.fixture
def database_url():
    return None  # the storage paths run on both databases elsewhere; this is about the route kind


@pytest.fixture
async def toy_api(aiohttp_server, aiohttp_client, dispatch_settings, tmp_path, monkeypatch):
    from dataclasses import replace

    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    monkeypatch.setitem(ROUTE_KINDS, "toy", ToyRoute)  # the one registry line
    monkeypatch.setenv("TOY_SECRET", "s3cret")
    ToyRoute.instances.clear()
    routes = tmp_path / "routes.toml"
    routes.write_text(
        'sender = "10655"\n[routes.toy-1]\nkind = "toy"\nmax_per_second = 100\ncolour = "blue"\n'
        'password = { env = "TOY_SECRET" }\n'
    )
    settings = replace(dispatch_settings, routes_file=routes)
    app = create_app(settings, Wiring(dispatch=FAST))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Toy brand", signature="【玩具】")
    return await ApiClient(client, tenant.id, key).without_send_rules()


async def test_a_registered_kind_sends_the_fallback_sms(toy_api):
    (toy,) = ToyRoute.instances
    assert toy.started and toy.options["colour"] == "blue" and toy.options["password"] == Secret("s3cret")
    resp = await toy_api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
    assert resp.status == 202
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(toy_api, mid, lambda v: v["status"] == "sms_delivered")
    assert event_types(view)[-3:] == ["fallback_pending", "sms_sent", "sms_delivered"]
    sent = next(e for e in view["events"] if e["type"] == "sms_sent")
    assert sent["detail"]["route"] == "toy-1"
    ((to, text, source),) = toy.sent
    assert to == "+8613800138010" and text.startswith("【玩具】") and view["short_link"] in text
    assert source.startswith("10655")  # the file's sender number, then the tenant's extension code

    # A reply through the toy route reaches the brand: TD puts the number on the opt-out list.
    assert toy.hooks.on_inbound is not None
    await toy.hooks.on_inbound(InboundSms(source="+8613800138010", destination=source, text="TD"))
    again = await toy_api.post("/v1/messages", {"to": "+8613800138010", "card": card(), "traffic_type": "marketing"})
    assert (await again.json())["messages"][0]["status"] == "rejected"


async def test_a_refusal_from_the_kind_fails_the_sms(toy_api):
    resp = await toy_api.post("/v1/messages", {"to": "+8613800138009", "card": card()})
    mid = (await resp.json())["messages"][0]["id"]
    view = await wait_for(toy_api, mid, has_event("sms_failed"))
    failed = next(e for e in view["events"] if e["type"] == "sms_failed")
    assert failed["detail"]["reason"] == "refused by the SMSC: refused"


class ToyChannel:
    """The whole of an operator module: `from_config`, and the `RcsChannel` methods."""

    instances: list[ToyChannel] = []
    name = "toy"

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.sent: list = []
        self.closed = False
        ToyChannel.instances.append(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ToyChannel:
        return cls(config)

    async def send(self, message):
        from rcs.results import Outcome, SendResult

        self.sent.append(message)
        return SendResult(True, Outcome.ACCEPTED, 0, 200)

    async def revoke(self, message_id: str, to: str):
        from rcs.results import Outcome, SendResult

        return SendResult(False, Outcome.PERMANENT, 404, 404)

    async def upload_media(self, data, content_type, filename, *, thumbnail=None, temporary=True):
        raise NotImplementedError("the toy has no media store")

    async def check_capability(self, number: str):
        return (await self.check_capabilities([number]))[number]

    async def check_capabilities(self, numbers):
        from rcs.results import Capability

        return {n: Capability.NOT_SUPPORTED if n.endswith("0") else Capability.SUPPORTED for n in numbers}

    async def close(self) -> None:
        self.closed = True


async def test_a_registered_operator_carries_rcs(aiohttp_server, aiohttp_client, dispatch_settings, monkeypatch):
    from dataclasses import replace

    from rcs.maap import RcsChannel
    from rcs.operators import OPERATORS
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    monkeypatch.setitem(OPERATORS, "toy", ToyChannel)  # the one registry line
    ToyChannel.instances.clear()
    settings = replace(dispatch_settings, maap_url="https://toy.example", maap_operator="toy")
    app = create_app(settings, Wiring(dispatch=FAST))
    client = await aiohttp_client(await aiohttp_server(app, port=settings.port))
    tenant, key = await app[ACCOUNTS].create_tenant("Toy brand")
    api = ApiClient(client, tenant.id, key)
    (channel,) = ToyChannel.instances
    assert isinstance(channel, RcsChannel) and channel.config["server_root"] == "toy.example"

    sent = await api.post(
        "/v1/messages", {"recipients": [{"to": "+8613800138001"}, {"to": "+8613800138010"}], "card": card()}
    )
    rcs_id, sms_id = [m["id"] for m in (await sent.json())["messages"]]
    await wait_for(api, rcs_id, lambda v: v["status"] == "rcs_sent")
    await wait_for(api, sms_id, lambda v: v["status"] == "sms_delivered")  # the sandbox SMSC still carries SMS
    (message,) = channel.sent
    assert (message.message_id, message.to) == (rcs_id, "+8613800138001")
    await client.close()
    assert channel.closed


async def test_an_unknown_operator_is_refused_at_start(dispatch_settings):
    from dataclasses import replace

    from server import create_app

    with pytest.raises(SystemExit, match="HONGYAN_MAAP_OPERATOR must be one of cn_csp, not 'pigeon'"):
        create_app(replace(dispatch_settings, maap_url="https://x.example", maap_operator="pigeon"))
    for brand_only in ("cm_netapi", "rbm"):  # their callbacks are a brand channel's
        with pytest.raises(SystemExit, match="is a brand channel kind"):
            create_app(replace(dispatch_settings, maap_url="https://x.example", maap_operator=brand_only))
