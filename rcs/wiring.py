"""Wiring the dispatcher into the app: the MaaP and SMSC it talks to (the sandbox simulators
on loopback by default, DESIGN.md §4), the SMPP route, the callback endpoints.

The platform always uses its real clients (CnCspMaap over HTTP, SmppClient over SMPP); in the
sandbox they are simply pointed at simulators started in-process, or at simulators running as
their own processes (`python -m rcs.simulator`, `python -m fallback.smsc`) when
`maap_url` / `smsc_address` are set.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from fallback.client import SmppClient
from fallback.dispatch import DEFAULT_SOURCE_ADDR, SmsDispatch
from fallback.http import ROUTER as SMS_ROUTER
from fallback.routing import DEFAULT_CARRIER, CarrierRouter, CarrierRoutes, RouterConfig, RouteSettings
from fallback.replies import SmsReplies
from fallback.sender import SmsSender
from fallback.smsc import SmscSimulator
from messages.optouts import add_opt_out
from rcs.callbacks import CallbackEndpoints
from rcs.dispatcher import Dispatcher, DispatchOptions
from rcs.operators import CnCspMaap, CnCspSettings
from rcs.simulator import MaapSimulator, SimulatorTiming
from store import SystemClock

log = logging.getLogger("hongyan.dispatch")

CALLBACK_PREFIX = "/rcs"
SANDBOX_ROUTE = "sandbox"

DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SMS_DISPATCH = web.AppKey("sms_dispatch", SmsDispatch)
SANDBOX = web.AppKey("sandbox", object)


@dataclass
class DispatchConfig:
    """Where the MaaP and the SMSC are, and the options tests and load runs tune."""

    enabled: bool = True
    maap_url: str | None = None  # e.g. http://127.0.0.1:8081 (a simulator in its own process)
    chatbot_id: str = "sip:hongyan@botplatform.sandbox.local"
    app_id: str = "sandbox-app"
    app_key: str = "sandbox-key"
    callback_token: str = "sandbox-callback-token"
    smsc_address: str | None = None  # host:port of an SMSC (a simulator in its own process)
    smpp_system_id: str = "hongyan"
    smpp_password: str = "sandbox"
    sms_rate: float = 2000.0  # submit_sm per second on the route
    maap_timing: SimulatorTiming = field(default_factory=SimulatorTiming)
    smsc_receipt_delay: float = 0.5
    options: DispatchOptions = field(default_factory=DispatchOptions)


@dataclass
class Sandbox:
    """The simulators this process started (None when they run elsewhere)."""

    maap: MaapSimulator | None = None
    smsc: SmscSimulator | None = None


class TenantDirectory:
    """What the SMS stage asks about tenants (signature, extension code), cached, and where a
    reply's opt-out is recorded."""

    def __init__(self, accounts, keyring, writer, clock):
        self.accounts, self.keyring, self.writer, self.clock = accounts, keyring, writer, clock
        self._tenants: dict[str, object] = {}

    async def _tenant(self, tenant_id: str):
        if tenant_id not in self._tenants:
            self._tenants[tenant_id] = await self.accounts.get_tenant(tenant_id)
        return self._tenants[tenant_id]

    async def signature_of(self, tenant_id: str) -> str:
        return (await self._tenant(tenant_id)).signature

    async def extension_of(self, tenant_id: str) -> str | None:
        return (await self._tenant(tenant_id)).sms_ext

    async def id_for_extension(self, ext: str) -> str | None:
        found = await self.accounts.tenant_by_sms_ext(ext)
        return found.id if found is not None else None

    async def opt_out_by_reply(self, tenant_id: str, number: str) -> None:
        await self.accounts.ensure_keys(tenant_id)
        await add_opt_out(self.writer, tenant_id, self.keyring.blind_index(tenant_id, number), source="sms_reply",
                          now_ms=int(self.clock.now().timestamp() * 1000))


def callback_routes(app: web.Application, config: DispatchConfig) -> list[web.RouteDef]:
    """The MaaP's callback endpoints under /rcs, handing events to the app's dispatcher."""

    async def on_delivery(chatbot_id, events):
        await app[DISPATCHER].on_delivery(chatbot_id, events)

    async def on_user(chatbot_id, event):
        await app[DISPATCHER].on_user(chatbot_id, event)

    endpoints = CallbackEndpoints(callback_token=config.callback_token, app_id=config.app_id,
                                  on_delivery=on_delivery, on_user=on_user)
    return endpoints.routes(CALLBACK_PREFIX)


def dispatch_context(config: DispatchConfig, *, base_url: str, clock, keys):
    """A cleanup context: simulators (sandbox), clients, the SMS stage and the dispatcher.

    `keys` gives (database, writer, keyring, accounts, webhooks service, short links) from the app.
    """

    async def ctx(app: web.Application):
        if not config.enabled:
            yield
            return
        db, writer, keyring, accounts, hooks, links = keys(app)
        sandbox = Sandbox()
        app[SANDBOX] = sandbox
        started: list = []
        try:
            if config.maap_url:
                parts = urlsplit(config.maap_url)
                maap_settings = CnCspSettings(server_root=parts.netloc, chatbot_id=config.chatbot_id,
                                              app_id=config.app_id, app_key=config.app_key, scheme=parts.scheme)
            else:
                sandbox.maap = MaapSimulator(callback_base_url=base_url + CALLBACK_PREFIX,
                                             callback_token=config.callback_token, app_id=config.app_id,
                                             app_key=config.app_key, chatbot_id=config.chatbot_id,
                                             timing=config.maap_timing)
                await sandbox.maap.start()
                started.append(sandbox.maap)
                maap_settings = sandbox.maap.client_settings()
            maap = CnCspMaap(maap_settings)
            started.append(maap)
            if config.smsc_address:
                host, _, port = config.smsc_address.rpartition(":")
            else:
                sandbox.smsc = SmscSimulator(receipt_delay=config.smsc_receipt_delay)
                await sandbox.smsc.start()
                started.append(sandbox.smsc)
                host, port = sandbox.smsc.host, sandbox.smsc.port
            directory = TenantDirectory(accounts, keyring, writer, clock or SystemClock())
            dispatcher: Dispatcher | None = None

            async def forward_reply(tenant_id: str, number: str, text: str, *, opt_out: bool) -> bool:
                return dispatcher is not None and await dispatcher.on_sms_reply(tenant_id, number, text,
                                                                                opt_out=opt_out)

            replies = SmsReplies(DEFAULT_SOURCE_ADDR, tenant_of=directory.id_for_extension,
                                 on_opt_out=directory.opt_out_by_reply, on_reply=forward_reply)
            client = SmppClient(host, int(port), config.smpp_system_id, config.smpp_password,
                                on_inbound=replies.handle)
            await client.start()
            started.append(client)
            router = CarrierRouter(RouterConfig(
                routes=(RouteSettings(SANDBOX_ROUTE, max_per_second=config.sms_rate),),
                carriers={DEFAULT_CARRIER: CarrierRoutes(SANDBOX_ROUTE)},
            ))

            dispatcher = Dispatcher(db, writer, keyring, maap, load_keys=accounts.load_keys,
                                    notify=hooks.notify_if_enqueued, clock=clock, options=config.options)
            sms = SmsDispatch(db, writer, dispatcher.transitions, SmsSender(router, {SANDBOX_ROUTE: client}), links,
                              signature_of=directory.signature_of, extension_of=directory.extension_of,
                              notify=hooks.notify_if_enqueued, clock=clock, retry=config.options.retry)
            dispatcher.sms = sms
            await sms.start()
            started.append(sms)
            await dispatcher.start()
            started.append(dispatcher)
            app[DISPATCHER] = dispatcher
            app[SMS_DISPATCH] = sms
            app[SMS_ROUTER] = router
        except BaseException:
            for part in reversed(started):
                await _stop(part)
            raise
        yield
        for part in reversed(started):
            await _stop(part)

    return ctx


async def _stop(part) -> None:
    try:
        if isinstance(part, CnCspMaap):
            await part.close()
        else:
            await part.stop()
    except Exception:
        log.exception("stopping %s failed", type(part).__name__)
