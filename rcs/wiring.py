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
from fallback.dispatch import SmsDispatch
from fallback.http import ROUTER as SMS_ROUTER
from fallback.routing import DEFAULT_CARRIER, CarrierRouter, CarrierRoutes, RouterConfig, RouteSettings
from fallback.sender import SmsSender
from fallback.smsc import SmscSimulator
from rcs.callbacks import CallbackEndpoints
from rcs.dispatcher import Dispatcher, DispatchOptions
from rcs.operators import CnCspMaap, CnCspSettings
from rcs.simulator import MaapSimulator, SimulatorTiming

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
            client = SmppClient(host, int(port), config.smpp_system_id, config.smpp_password)
            await client.start()
            started.append(client)
            router = CarrierRouter(RouterConfig(
                routes=(RouteSettings(SANDBOX_ROUTE, max_per_second=config.sms_rate),),
                carriers={DEFAULT_CARRIER: CarrierRoutes(SANDBOX_ROUTE)},
            ))
            signatures: dict[str, str] = {}

            async def signature_of(tenant_id: str) -> str:
                if tenant_id not in signatures:
                    tenant = await accounts.get_tenant(tenant_id)
                    signatures[tenant_id] = tenant.signature
                return signatures[tenant_id]

            dispatcher = Dispatcher(db, writer, keyring, maap, load_keys=accounts.load_keys, notify=hooks.notify_if_enqueued,
                                    clock=clock, options=config.options)
            sms = SmsDispatch(db, writer, dispatcher.transitions, SmsSender(router, {SANDBOX_ROUTE: client}), links,
                              signature_of=signature_of, notify=hooks.notify_if_enqueued, clock=clock, retry=config.options.retry)
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
