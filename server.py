"""Hongyan: the aiohttp application and its command line.

server.py only wires: settings → app factory → one cleanup context per domain → routes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import gc
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text as sa_text

import conversations.privacy  # noqa: F401  (registers a person's conversations for erasure and export)
import editor
import security
from accounts import Accounts, SignatureInvalid, TenantNameInvalid
from accounts.audit import AuditLog
from accounts.channels import ChannelService
from accounts.channels_http import CHANNELS
from accounts.channels_http import routes as channel_routes
from accounts.chatbot import ChatbotInfo
from accounts.chatbot_http import CHATBOT, CHATBOT_CLIENT
from accounts.chatbot_http import routes as chatbot_routes
from accounts.directory import TenantDirectory
from accounts.http import ACCOUNTS_SERVICE
from accounts.http import routes as accounts_routes
from accounts.rotation import KEY_REFRESH_SECONDS, rotate_all, rotate_master
from accounts.service import validate_signature
from accounts.tables import SEALED_COLUMNS as ACCOUNT_SEALED
from accounts.users import Users
from accounts.users_http import AUDIT_LOG, USERS
from accounts.users_http import BASE_URL as USERS_BASE_URL
from accounts.users_http import routes as users_routes
from analytics.http import ANALYTICS
from analytics.http import routes as analytics_routes
from analytics.service import Analytics
from api.accesslog import AccessLogger
from api.audit import AUDIT, AuditEntry, audit_middleware
from api.docs import docs_routes
from api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from api.metrics import METRICS, Metrics
from api.middleware import (
    AUTH_FAILURE_ATTEMPTS,
    AUTH_FAILURE_WINDOW_S,
    AUTH_FAILURES,
    AUTHENTICATE,
    SESSION_AUTH,
    TRUSTED_PROXIES,
    auth_middleware,
    problem_middleware,
    trusted_networks,
)
from api.openapi import name_operations, openapi_document
from api.problems import Problem
from api.ratelimit import RateLimiter, WindowLimiter
from api.requestid import RequestIdFilter, request_id_middleware
from api.responses import json_response
from audiences import Contacts, Segments
from audiences.http import CONTACTS, IMPORTS, SEGMENTS
from audiences.http import routes as audiences_routes
from audiences.imports import ImportJobs
from audiences.tables import SEALED_COLUMNS as AUDIENCE_SEALED
from billing import Billing
from billing.http import BILLING
from billing.http import routes as billing_routes
from billing.service import DEFAULT_INTERVAL_S as BILLING_INTERVAL_S
from campaigns.http import CAMPAIGNS, JOURNEYS
from campaigns.http import routes as campaigns_routes
from campaigns.journeys import Journeys
from campaigns.runner import CampaignRunner
from campaigns.sending import PageSender
from campaigns.service import Campaigns
from cards import http as cards_http
from cards.media import MediaStore
from cards.media.http import MEDIA
from cards.media.http import routes as media_routes
from cards.store import TemplateStore
from cards.store.http import TEMPLATES
from cards.store.http import routes as template_routes
from cards.store.sealing import seal_plaintext
from cards.store.tables import SEALED_COLUMNS as TEMPLATE_SEALED
from compliance.consent import ConsentBook, ConsentPolicies
from compliance.consent_http import CONSENTS
from compliance.consent_http import routes as consent_routes
from compliance.consent_tables import SEALED_COLUMNS as CONSENT_SEALED
from compliance.http import REVIEWS, SCREEN, SIGNATURES, WORD_LISTS
from compliance.http import routes as compliance_routes
from compliance.lists import FORMATS as WORD_FORMATS
from compliance.lists import WordLists, json_lines, lines_of
from compliance.matcher import PLATFORM
from compliance.reviews import CHATBOT as REVIEW_CHATBOT
from compliance.reviews import MESSAGE as HELD_MESSAGES
from compliance.reviews import ReviewQueue
from compliance.reviews import verify_all_chains as verify_review_chains
from compliance.screen import Screen
from compliance.signatures import SignatureReview
from compliance.tables import SEALED_COLUMNS as COMPLIANCE_SEALED
from compliance.templates import TemplateCompliance
from conversations.answerers import Question
from conversations.http import CONVERSATIONS
from conversations.http import routes as conversations_routes
from conversations.knowledge import Knowledge
from conversations.knowledge_http import KNOWLEDGE
from conversations.knowledge_http import routes as knowledge_routes
from conversations.knowledge_tables import SEALED_COLUMNS as KNOWLEDGE_SEALED
from conversations.service import Conversations
from conversations.stream import Hub, PgRelay
from conversations.tables import SEALED_COLUMNS as CONVERSATION_SEALED
from dispatch import Dispatcher, DispatchOptions
from dispatch.channels import Channels
from dispatch.observer import Observer
from dispatch.sms import DEFAULT_SOURCE_ADDR, SmsStage
from editor import shares_http
from editor.share_tables import SEALED_COLUMNS as SHARE_SEALED
from editor.shares import ShareLinks, verify_all_share_chains
from fallback import shortlinks
from fallback.http import PORTED, SHARED_HEALTH, UNSUBSCRIBE_TEXT
from fallback.http import ROUTER as SMS_ROUTER
from fallback.http import routes as sms_routes
from fallback.kinds import ROUTE_KINDS
from fallback.ported import SIGNAL as PORTED_SIGNAL
from fallback.ported import PortedNumbers, allowed_carriers, rewrap_platform_keys
from fallback.ported import run_command as ported_command
from fallback.replies import SmsReplies
from fallback.route import RouteHooks, SmsRoute
from fallback.route_health import HealthPublisher, shared_health
from fallback.routes_file import RouteDefinition, RoutesFile, RoutesFileError, load_routes
from fallback.routing import DEFAULT_CARRIER, OUT_OF_ROTATION, CarrierRouter, CarrierRoutes, RouterConfig, RouteSettings
from fallback.sender import SmsSender
from fallback.shortlinks.tables import SEALED_COLUMNS as SHORT_LINK_SEALED
from fallback.smsc import SmscSimulator
from fallback.smsc.simulator import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from messages import http as messages_http
from messages.cardcheck import CardChecker
from messages.evidence import SEALED_COLUMNS as EVIDENCE_SEALED
from messages.evidence import EvidenceLog, rewrap_signing_keys, verify_all
from messages.evidence_http import EVIDENCE
from messages.evidence_http import routes as evidence_routes
from messages.ledger import MessageLedger
from messages.optouts import OptOutList
from messages.optouts_http import OPT_OUTS
from messages.optouts_http import routes as opt_out_routes
from messages.rules_http import RULES, RULES_CLOCK, VOLUMES
from messages.rules_http import routes as rules_routes
from messages.screening import held_view, release_held
from messages.send_rules import CapLedger, RulesStore, VolumeCounter
from messages.tables import SEALED_COLUMNS as MESSAGE_SEALED
from messages.tables import message_events
from messages.tables import messages as messages_table
from privacy import Privacy
from privacy.http import PRIVACY
from privacy.http import routes as privacy_routes
from privacy.service import DEFAULT_INTERVAL_S as PRIVACY_PURGE_INTERVAL_S
from rcs import cm_simulator
from rcs.callbacks import CallbackEndpoints
from rcs.cm_callbacks import CmCallbackEndpoints
from rcs.cm_simulator import CmNetApiSimulator
from rcs.operators import OPERATORS
from rcs.operators.rbm import agent_chatbot_id, agent_id_of
from rcs.rbm_simulator import RbmSimulator
from rcs.rbm_webhook import RbmWebhook
from rcs.simulator import (
    SANDBOX_APP_ID,
    SANDBOX_APP_KEY,
    SANDBOX_CALLBACK_TOKEN,
    SANDBOX_CHATBOT_ID,
    MaapSimulator,
    SimulatorTiming,
)
from security.roles import ROLES
from security.secrets import Secret, SecretError, env_secret
from store import Database, GroupWriter, SqliteMemory, SystemClock, new_id, open_database, run_migrations
from store.backlog import backlog
from store.db import sqlite_url
from store.migrate import schema_is_current
from store.notify import DISPATCH, WEBHOOKS_DUE, PgListener, Wakeups
from webhooks.http import WEBHOOKS
from webhooks.http import routes as webhook_routes
from webhooks.service import WebhookService
from webhooks.tables import SEALED_COLUMNS as WEBHOOK_SEALED
from webhooks.tables import webhook_deliveries

log = logging.getLogger("hongyan")

DEFAULT_PORT = 8080
DEMO_TENANT_FILE = "demo-tenant.json"
# The demo brand pays a typical Chinese price per SMS part (yuan), so costs and statements show.
DEMO_SMS_PRICE = "0.045"
CALLBACK_PREFIX = "/rcs"  # the default channel's notify URL is <public base URL>/rcs
# What a process runs (docs/deployment.md): everything (no subcommand), the API (`serve`), or
# dispatch and the background jobs (`dispatch`).
ROLE_ALL, ROLE_API, ROLE_DISPATCH = "all", "api", "dispatch"
SANDBOX_ROUTE = "sandbox"
SANDBOX_OPERATOR = "cn_csp"  # the interface the MaaP simulator speaks
# Interfaces only a brand's own channel may use: their callbacks are found by the brand's channel,
# so the platform's default channel (HONGYAN_MAAP_*) cannot be one.
BRAND_ONLY_INTERFACES = frozenset({"cm_netapi", "rbm"})
TEST_CHATBOT_ID = "sip:hongyan-test@botplatform.sandbox.local"  # test keys' chatbot beside real channels
SMSC_ROUTE = "default"


def _read_numbers(
    env: Mapping[str, str],
    values: dict,
    names: tuple[tuple[str, str], ...],
    convert: Callable[[str], float],
    what: str,
    *,
    non_negative: bool = False,
) -> None:
    """Settings given as numbers in the environment ({variable: setting}); a value that is not
    one (or a negative one, where that makes no sense) stops the server with the variable named."""
    for name, key in names:
        if not env.get(name):
            continue
        try:
            values[key] = convert(env[name])
        except ValueError:
            raise SystemExit(f"error: {name} must be {what}, not {env[name]!r}") from None
        if non_negative and values[key] < 0:
            raise SystemExit(f"error: {name} must not be negative, not {env[name]!r}")


@dataclass(frozen=True)
class Settings:
    """Everything configurable; flags override HONGYAN_* environment variables override defaults.
    Secrets (`Secret`) come from the environment or a file and never print."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path("var")
    database_url: str | None = None
    # Master key material (hex or base64). Without it the embedded default keeps a key file
    # in the data dir; any other database must be given one explicitly.
    master_key: str | None = field(default=None, repr=False)
    public_base_url: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    demo_tenant: bool = True
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object a line, for a log shipper
    # How long an SMS short link works, counted from the SMS send.
    short_link_ttl: int = 30 * 24 * 3600
    # Dispatch through the simulators on loopback; from_env() (the command line) turns it on,
    # a bare Settings() is an app without dispatch. Outside the sandbox every credential must
    # be configured: nothing falls back to the simulators' public ones.
    sandbox: bool = False
    # The default RCS channel (tenants without their own use it): the operator's server root
    # and this platform's chatbot there.
    maap_url: str | None = None
    # The sandbox simulators' ports (0: any free one, printed at start); pinned, a handset page
    # or an SMPP client keeps working across restarts.
    maap_port: int = 0
    smsc_port: int = 0
    cm_port: int = 0  # the China Mobile MaaP simulator's (brands' `cm` channels in the sandbox)
    rbm_port: int = 0  # the Google RBM simulator's (brands' `rbm` channels in the sandbox)
    maap_operator: str = "cn_csp"
    maap_chatbot_id: str | None = None
    maap_app_id: str | None = None
    maap_app_key: Secret | None = None
    maap_callback_token: Secret | None = None
    # SMS: a routes file (TOML, see fallback.routes_file), or one SMPP route to an SMSC.
    routes_file: Path | None = None
    smsc_address: str | None = None  # host:port
    smpp_system_id: str | None = None
    smpp_password: Secret | None = None
    sms_sender: str = DEFAULT_SOURCE_ADDR
    # Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For names the client for the
    # authentication rate limits; without any, the peer address is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Seconds of operator silence before an RCS message with an SMS fallback is re-asked about
    # (a revoke), and of missing receipts before an SMS is asked about (query_sm); None: the
    # dispatcher's defaults.
    rcs_silence_s: float | None = None
    sms_receipt_wait_s: float | None = None
    # Seconds between runs of the retention purge (every tenant, resumable, one process at a time).
    privacy_purge_interval_s: float = PRIVACY_PURGE_INTERVAL_S
    # Seconds between passes of the billing job (holds, charges and refunds from message events).
    billing_interval_s: float = BILLING_INTERVAL_S
    # Seconds between the campaign runner's passes (a launch or resume wakes it at once); 0: no
    # runner in this process (another process runs campaigns, or a test steps it).
    campaign_tick_s: float = 1.0
    # Seconds between looks for contact import jobs to run (an upload here wakes it at once).
    contact_import_interval_s: float = 2.0
    # With a token, GET /metrics needs `Authorization: Bearer <token>`; without, it is open
    # (counts only: no tenant, number or id in any label) and belongs behind the proxy.
    metrics_token: Secret | None = field(default=None, repr=False)
    # Seconds a dispatcher holds the messages it claimed: a killed worker's are claimed again by
    # another this long after; None: the dispatcher's default (30).
    dispatch_lease_s: float | None = None
    # The embedded database's memory (SQLite, per connection): the page cache of each reader
    # and of the writers, in KiB, and the memory map of the file, in bytes (0: none); see
    # store.db.SqliteMemory for why the defaults are what they are.
    sqlite_reader_cache_kib: int = SqliteMemory.reader_cache_kib
    sqlite_writer_cache_kib: int = SqliteMemory.writer_cache_kib
    sqlite_mmap_bytes: int = SqliteMemory.mmap_bytes
    # Numbers whose RCS capability the dispatcher remembers, at most (the oldest written go
    # first beyond it; ~250 B each); None: the dispatcher's default.
    capability_cache_entries: int | None = None
    # Messages the sandbox MaaP simulator keeps (their handset threads, their revokes), at most:
    # the oldest are forgotten beyond it (~7 KB each); None: the simulator's default.
    sandbox_max_messages: int | None = None
    # ROLE_ALL, ROLE_API or ROLE_DISPATCH: which parts this process runs (set by the subcommand).
    role: str = ROLE_ALL

    @property
    def serves_api(self) -> bool:
        """Whether this process serves the API (else only /healthz, /readyz and /metrics)."""
        return self.role != ROLE_DISPATCH

    @property
    def dispatches(self) -> bool:
        """Whether this process claims and sends messages and holds the SMS routes' binds."""
        return self.role != ROLE_API

    @property
    def runs_jobs(self) -> bool:
        """Whether this process runs the background jobs (webhook delivery, the evidence
        appender, billing, campaigns and journeys, contact imports, the retention purge): every
        process but an API one, so accepting is all an API process does."""
        return self.role != ROLE_API

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "hongyan.db")

    @property
    def sqlite_memory(self) -> SqliteMemory:
        return SqliteMemory(self.sqlite_reader_cache_kib, self.sqlite_writer_cache_kib, self.sqlite_mmap_bytes)

    def open_database(self) -> Database:
        """The engines for this process's database (the embedded one's memory as configured)."""
        return open_database(self.db_url, self.sqlite_memory)

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from HONGYAN_* variables (a secret also from the file named by its _FILE twin)."""
        env = dict(os.environ if env is None else env)
        values: dict = {}
        plain = {
            "HONGYAN_HOST": "host",
            "HONGYAN_DATABASE_URL": "database_url",
            "HONGYAN_PUBLIC_BASE_URL": "public_base_url",
            "HONGYAN_MAAP_URL": "maap_url",
            "HONGYAN_MAAP_OPERATOR": "maap_operator",
            "HONGYAN_MAAP_CHATBOT_ID": "maap_chatbot_id",
            "HONGYAN_MAAP_APP_ID": "maap_app_id",
            "HONGYAN_SMSC_ADDRESS": "smsc_address",
            "HONGYAN_SMPP_SYSTEM_ID": "smpp_system_id",
            "HONGYAN_SMS_SENDER": "sms_sender",
            "HONGYAN_LOG_LEVEL": "log_level",
            "HONGYAN_LOG_FORMAT": "log_format",
        }
        for name, key in plain.items():
            if env.get(name):
                values[key] = env[name]
        _read_numbers(
            env,
            values,
            (
                ("HONGYAN_PORT", "port"),
                ("HONGYAN_MAAP_PORT", "maap_port"),
                ("HONGYAN_SMSC_PORT", "smsc_port"),
                ("HONGYAN_CM_PORT", "cm_port"),
                ("HONGYAN_RBM_PORT", "rbm_port"),
            ),
            int,
            "a port number",
        )
        _read_numbers(
            env,
            values,
            (
                ("HONGYAN_RCS_SILENCE_S", "rcs_silence_s"),
                ("HONGYAN_SMS_RECEIPT_WAIT_S", "sms_receipt_wait_s"),
                ("HONGYAN_PRIVACY_PURGE_INTERVAL_S", "privacy_purge_interval_s"),
                ("HONGYAN_BILLING_INTERVAL_S", "billing_interval_s"),
                ("HONGYAN_CAMPAIGN_TICK_S", "campaign_tick_s"),
                ("HONGYAN_CONTACT_IMPORT_INTERVAL_S", "contact_import_interval_s"),
                ("HONGYAN_DISPATCH_LEASE_S", "dispatch_lease_s"),
            ),
            float,
            "a number of seconds",
        )
        _read_numbers(
            env,
            values,
            (
                ("HONGYAN_SQLITE_READER_CACHE_KIB", "sqlite_reader_cache_kib"),
                ("HONGYAN_SQLITE_WRITER_CACHE_KIB", "sqlite_writer_cache_kib"),
                ("HONGYAN_SQLITE_MMAP_BYTES", "sqlite_mmap_bytes"),
                ("HONGYAN_CAPABILITY_CACHE_ENTRIES", "capability_cache_entries"),
                ("HONGYAN_SANDBOX_MAX_MESSAGES", "sandbox_max_messages"),
            ),
            int,
            "a whole number",
            non_negative=True,
        )
        if "HONGYAN_DATA_DIR" in env:
            values["data_dir"] = Path(env["HONGYAN_DATA_DIR"])
        if env.get("HONGYAN_ROUTES"):
            values["routes_file"] = Path(env["HONGYAN_ROUTES"])
        try:
            master = env_secret(env, "HONGYAN_MASTER_KEY")
            if master is not None:
                values["master_key"] = master.reveal()
            for name, key in (
                ("HONGYAN_MAAP_APP_KEY", "maap_app_key"),
                ("HONGYAN_MAAP_CALLBACK_TOKEN", "maap_callback_token"),
                ("HONGYAN_SMPP_PASSWORD", "smpp_password"),
                ("HONGYAN_METRICS_TOKEN", "metrics_token"),
            ):
                secret = env_secret(env, name)
                if secret is not None:
                    values[key] = secret
        except SecretError as exc:
            raise SystemExit(f"error: {exc}") from None
        if env.get("HONGYAN_TRUSTED_PROXIES"):
            values["trusted_proxies"] = tuple(p for p in env["HONGYAN_TRUSTED_PROXIES"].split(",") if p.strip())
        if values.get("log_format", "text") not in ("text", "json"):
            raise SystemExit(f"error: HONGYAN_LOG_FORMAT must be text or json, not {values['log_format']!r}")
        values["sandbox"] = env.get("HONGYAN_SANDBOX", "1").lower() not in ("0", "false", "no", "off")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class DispatchConfig:
    """How the sandbox and the dispatcher are tuned (tests and load runs shorten the timings)."""

    enabled: bool = True
    maap_timing: SimulatorTiming = field(default_factory=SimulatorTiming)
    smsc_receipt_delay: float = 0.5
    sms_rate: float = 2000.0  # SMS per second on a route the settings make (not a routes file's)
    maap_timeout_s: float | None = None  # the default channel's request timeout; None: its own
    options: DispatchOptions = field(default_factory=DispatchOptions)


@dataclass
class Wiring:
    """What tests and embedders may swap in: the clock and per-service options."""

    clock: object = field(default_factory=SystemClock)
    webhook_options: dict = field(default_factory=dict)
    on_postback: object = None
    on_opt_out: object = None
    # Simulator timings, dispatcher options; None: the defaults for these settings.
    dispatch: DispatchConfig | None = None
    # The campaign runner's clock (pacing, winner and resend times); None: `clock`.
    campaign_clock: object = None


@dataclass(frozen=True)
class ChannelCredentials:
    """The default RCS channel's chatbot and what proves it is us (and the MaaP to us)."""

    chatbot_id: str
    app_id: str
    app_key: Secret = field(repr=False)
    callback_token: Secret = field(repr=False)


@dataclass
class Sandbox:
    """The simulators this process started (None when they run elsewhere)."""

    maap: MaapSimulator | None = None
    smsc: SmscSimulator | None = None
    cm: CmNetApiSimulator | None = None  # brands' `cm` channels at its address live there
    rbm: RbmSimulator | None = None  # brands' `rbm` channels at its address live there
    tasks: set[asyncio.Task] = field(default_factory=set)  # chatbots being provisioned on the simulators


SETTINGS = web.AppKey("settings", Settings)
WIRING = web.AppKey("wiring", Wiring)
OPENAPI = web.AppKey("openapi", dict)  # the document, made on first request (the routes are all known then)
DATABASE = web.AppKey("database", Database)
ACCOUNTS = web.AppKey("accounts", Accounts)
KEYRING = web.AppKey("keyring", security.Keyring)
TENANTS = web.AppKey("tenants", TenantDirectory)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
WAKEUPS = web.AppKey("wakeups", Wakeups)
SMS_STAGE = web.AppKey("sms_stage", SmsStage)
SANDBOX = web.AppKey("sandbox", Sandbox)
CAMPAIGN_RUNNER = web.AppKey("campaign_runner", CampaignRunner)


def master_key_provider(settings: Settings) -> security.MasterKeyProvider:
    """The master key: given in settings, else (embedded default only) a key file in the data dir."""
    if settings.master_key:
        return security.EnvMasterKeyProvider(settings.master_key)
    if not settings.embedded:
        raise SystemExit("HONGYAN_MASTER_KEY is required when HONGYAN_DATABASE_URL is set")
    return security.FileMasterKeyProvider(settings.data_dir / "master.key")


def channel_credentials(settings: Settings) -> ChannelCredentials:
    """The default channel's credentials; the simulator's public ones only in the sandbox."""
    given = {
        "HONGYAN_MAAP_CHATBOT_ID": settings.maap_chatbot_id,
        "HONGYAN_MAAP_APP_ID": settings.maap_app_id,
        "HONGYAN_MAAP_APP_KEY": settings.maap_app_key,
        "HONGYAN_MAAP_CALLBACK_TOKEN": settings.maap_callback_token,
    }
    missing = [name for name, value in given.items() if value is None]
    if missing and not settings.sandbox:
        raise SystemExit(f"HONGYAN_MAAP_URL is set without {', '.join(missing)} (a secret may be given as NAME_FILE)")
    return ChannelCredentials(
        chatbot_id=settings.maap_chatbot_id or SANDBOX_CHATBOT_ID,
        app_id=settings.maap_app_id or SANDBOX_APP_ID,
        app_key=settings.maap_app_key or Secret(SANDBOX_APP_KEY),
        callback_token=settings.maap_callback_token or Secret(SANDBOX_CALLBACK_TOKEN),
    )


def sms_routes_config(settings: Settings, config: DispatchConfig, smsc: SmscSimulator | None) -> RoutesFile | None:
    """The SMS routes: the routes file, else one SMPP route to the configured SMSC, else the
    sandbox SMSC simulator's; None when SMS is not configured."""
    if settings.routes_file is not None:
        try:
            return load_routes(settings.routes_file, kinds=ROUTE_KINDS)
        except RoutesFileError as exc:
            raise SystemExit(f"error: {exc}") from None
    if settings.smsc_address:
        host, _, port = settings.smsc_address.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"error: HONGYAN_SMSC_ADDRESS must be host:port, not {settings.smsc_address!r}")
        if (settings.smpp_system_id is None or settings.smpp_password is None) and not settings.sandbox:
            raise SystemExit("HONGYAN_SMSC_ADDRESS is set without HONGYAN_SMPP_SYSTEM_ID and HONGYAN_SMPP_PASSWORD")
        system_id, password = settings.smpp_system_id or SANDBOX_SYSTEM_ID, settings.smpp_password
        return smpp_routes(config, SMSC_ROUTE, host, int(port), system_id, password or Secret(SANDBOX_PASSWORD))
    if smsc is not None:
        return sandbox_routes_config(config, smsc, SANDBOX_PASSWORD)
    return None


def smpp_routes(
    config: DispatchConfig, name: str, host: str, port: int, system_id: str, password: Secret
) -> RoutesFile:
    """One SMPP route as the whole SMS routing: every carrier's traffic on it."""
    options = {"host": host, "port": port, "system_id": system_id, "password": password}
    route = RouteDefinition(name, "smpp", RouteSettings(name, max_per_second=config.sms_rate), options)
    router = RouterConfig(routes=(route.settings,), carriers={DEFAULT_CARRIER: CarrierRoutes(name)})
    return RoutesFile((route,), router)


async def prepare_storage(settings: Settings) -> None:
    """Make the data dir and bring the embedded database's schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.embedded:
        await run_migrations(settings.db_url)


# -- cleanup contexts, one per domain ----------------------------------------------------
async def storage_ctx(app: web.Application):
    settings = app[SETTINGS]
    await prepare_storage(settings)
    if not await schema_is_current(settings.db_url):
        raise SystemExit("the database schema is not current: run `python server.py migrate` first")
    db = settings.open_database()
    app[DATABASE] = db
    yield
    await db.dispose()


async def wakeups_ctx(app: web.Application):
    """Wake-ups of the background jobs; on PostgreSQL they reach every process (LISTEN/NOTIFY):
    an accept here wakes the dispatchers there."""
    settings = app[SETTINGS]
    wakeups = Wakeups(None if settings.embedded else PgListener(settings.db_url))
    await wakeups.start()
    app[WAKEUPS] = wakeups
    yield
    await wakeups.stop()


async def sms_routing_ctx(app: web.Application):
    """Ported-number overrides (every process: the API manages them, dispatch routes by them;
    a change anywhere drops every process's cache) and the route health dispatch processes share."""
    settings, wakeups = app[SETTINGS], app[WAKEUPS]
    try:
        carriers = allowed_carriers(settings.routes_file)
    except RoutesFileError as exc:
        raise SystemExit(f"error: {exc}") from None
    ported = PortedNumbers(
        app[DATABASE], app[KEYRING], carriers, on_change=functools.partial(wakeups.signal, PORTED_SIGNAL)
    )
    wakeups.on(PORTED_SIGNAL, ported.invalidate)
    app[PORTED] = ported
    app[SHARED_HEALTH] = functools.partial(shared_health, app[DATABASE])
    yield
    wakeups.off(PORTED_SIGNAL, ported.invalidate)


async def metrics_ctx(app: web.Application):
    """The process's Prometheus metrics, with the backlogs probed from the database at scrape."""
    metrics = Metrics()
    db, clock = app[DATABASE], app[WIRING].clock

    def probe(queue: str, table, where, oldest: str):
        async def run(m: Metrics) -> None:
            now_ms = int(clock.now().timestamp() * 1000)
            count, first = await backlog(db, table, where(now_ms), oldest)
            m.set_backlog(queue, count, first, now_ms)

        return run

    metrics.add_probe(
        "dispatch", probe("dispatch", messages_table, lambda now: messages_table.c.due_ms <= now, "due_ms")
    )
    pending = webhook_deliveries.c.status == "pending"
    metrics.add_probe("webhooks", probe("webhooks", webhook_deliveries, lambda now: pending, "created_ms"))
    unchained = message_events.c.chained.is_(False)
    metrics.add_probe("evidence", probe("evidence", message_events, lambda now: unchained, "at_ms"))
    app[METRICS] = metrics
    yield


async def accounts_ctx(app: web.Application):
    keyring = security.Keyring(master_key_provider(app[SETTINGS]))
    accounts = Accounts(app[DATABASE], keyring, app[WIRING].clock)
    await accounts.load_keys()
    app[KEYRING] = keyring
    app[ACCOUNTS] = accounts
    app[TENANTS] = TenantDirectory(accounts)
    app[AUTHENTICATE] = accounts.authenticate
    app[ACCOUNTS_SERVICE] = accounts
    # Pick up keys rotated by `keys rotate` in another process.
    refresher = asyncio.create_task(_refresh_keys(accounts), name="key-refresh")
    yield
    refresher.cancel()


@contextlib.asynccontextmanager
async def background_job(app: web.Application, job):
    """Run `job` (its start/stop loop) for the context's life where this process runs the
    background jobs (not in an API process: docs/deployment.md)."""
    if not app[SETTINGS].runs_jobs:
        yield
        return
    await job.start()
    try:
        yield
    finally:
        await job.stop()


async def _refresh_keys(accounts: Accounts) -> None:
    while True:
        await asyncio.sleep(KEY_REFRESH_SECONDS)
        try:
            await accounts.load_keys()
        except Exception:
            log.exception("reloading data keys failed; will retry")


async def messages_ctx(app: web.Application):
    writer = GroupWriter(app[DATABASE].write)
    await writer.start()
    rules = RulesStore(app[DATABASE])
    app[RULES] = rules
    app[VOLUMES] = VolumeCounter(app[DATABASE])
    app[RULES_CLOCK] = app[WIRING].clock
    app[messages_http.LEDGER] = MessageLedger(
        app[DATABASE],
        writer,
        app[KEYRING],
        app[WIRING].clock,
        rules=rules,
        caps=CapLedger(app[DATABASE]),
        volumes=app[VOLUMES],
        consent_policies=ConsentPolicies(app[DATABASE]),
    )
    app[messages_http.RATE_LIMITER] = RateLimiter()
    wakeups = app[WAKEUPS]
    app[messages_http.LEDGER].on_accepted = lambda: wakeups.signal(DISPATCH)  # whoever dispatches goes at once
    # Template contents a version before sealing stored in plaintext are sealed before serving.
    await seal_plaintext(app[DATABASE], app[KEYRING])
    templates = TemplateStore(app[DATABASE], app[KEYRING], app[WIRING].clock)
    app[TEMPLATES] = templates
    app[messages_http.CARD_CHECK] = CardChecker(templates)
    yield
    await writer.stop()


async def users_ctx(app: web.Application):
    """People who sign in to the web UI, and the audit log (written through the group writer)."""
    app[USERS] = Users(app[DATABASE], app[KEYRING], app[WIRING].clock)
    app[AUDIT_LOG] = app[AUDIT] = AuditLog(app[DATABASE], app[messages_http.LEDGER].writer, app[WIRING].clock)
    app[USERS_BASE_URL] = app[SETTINGS].base_url
    yield


async def compliance_ctx(app: web.Application):
    """Word lists screening every send and template version; the review queue deciding what
    they hold (held messages through the lifecycle writer, template versions in their store)."""
    db, ledger = app[DATABASE], app[messages_http.LEDGER]
    lists = WordLists(db, app[WIRING].clock, consent_policies=ledger.consent_policies)
    screen = Screen(lists)
    queue = ReviewQueue(db, ledger.writer, app[KEYRING], app[WIRING].clock)
    queue.appliers[HELD_MESSAGES] = release_held(ledger.lifecycle, ledger.due_after_review)
    wakeups = app[WAKEUPS]
    queue.on_decided[HELD_MESSAGES] = lambda: wakeups.signal(DISPATCH)  # released messages go at once
    queue.views[HELD_MESSAGES] = held_view(db, app[KEYRING])
    TemplateCompliance(screen, lists, queue).attach(app[TEMPLATES])
    accounts, tenants = app[ACCOUNTS], app[TENANTS]

    async def set_signature(tenant_id: str, signature: str) -> None:
        await accounts.set_signature(tenant_id, signature)
        tenants.forget(tenant_id)

    app[SIGNATURES] = SignatureReview(
        screen, queue, validate=validate_signature, apply=set_signature, current=tenants.signature_of
    )
    app[WORD_LISTS], app[SCREEN], app[REVIEWS] = lists, screen, queue
    await lists.warm()
    yield


async def consent_ctx(app: web.Application):
    """Consent records and the opt-out list through the API; the tenants' unsubscribe texts."""
    db, ledger, clock = app[DATABASE], app[messages_http.LEDGER], app[WIRING].clock
    app[CONSENTS] = ConsentBook(db, ledger.writer, app[KEYRING], clock)
    app[OPT_OUTS] = OptOutList(db, ledger.writer, app[KEYRING], clock)
    app[UNSUBSCRIBE_TEXT] = ledger.consent_policies.unsubscribe_text
    yield


async def media_ctx(app: web.Application):
    app[MEDIA] = MediaStore(app[DATABASE], app[SETTINGS].base_url, app[WIRING].clock)
    app[messages_http.MEDIA_LOOKUP] = app[MEDIA].find
    yield


async def evidence_ctx(app: web.Application):
    evidence = EvidenceLog(app[DATABASE], app[messages_http.LEDGER].writer, app[KEYRING], clock=app[WIRING].clock)
    app[EVIDENCE] = evidence
    async with background_job(app, evidence):
        yield


async def privacy_ctx(app: web.Application):
    """Retention settings, erasure and export by number, and the scheduled retention purge."""
    privacy = Privacy(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        app[KEYRING],
        app[WIRING].clock,
        settle=_settle_evidence(app[EVIDENCE]),
        interval_s=app[SETTINGS].privacy_purge_interval_s,
        ensure_keys=app[ACCOUNTS].ensure_keys,
        forget=_forget_in_memory(app),
    )
    app[PRIVACY] = privacy
    async with background_job(app, privacy):
        yield


async def analytics_ctx(app: web.Application):
    """Conversions the brands report, and funnels of their sends."""
    app[ANALYTICS] = Analytics(app[DATABASE], app[messages_http.LEDGER].writer, app[WIRING].clock)
    yield


def _forget_in_memory(app: web.Application):
    """An erased number's RCS capability leaves this process's cache too (the dispatcher starts
    after privacy, so it is looked up when an erasure happens)."""

    def forget(_tenant_id: str, to: str) -> None:
        dispatcher = app.get(DISPATCHER)
        if dispatcher is not None:
            dispatcher.capability.invalidate(to)

    return forget


async def billing_ctx(app: web.Application):
    """Price books, the billing ledger job (charges on delivery, refunds on failure), and the
    credit check the message ledger asks before every accept (messages never imports billing)."""
    ledger = app[messages_http.LEDGER]
    billing = Billing(
        app[DATABASE],
        ledger.writer,
        app[KEYRING],
        app[WIRING].clock,
        interval_s=app[SETTINGS].billing_interval_s,
        ensure_keys=app[ACCOUNTS].ensure_keys,
    )
    ledger.credit_check = billing.check
    app[messages_http.VIEW_EXTRAS] = billing.view_cost
    app[BILLING] = billing
    async with background_job(app, billing):
        yield
        ledger.credit_check = None


async def audiences_ctx(app: web.Application):
    """Contacts, their import jobs (run in the background, resumed after a restart) and segments."""
    common = (app[DATABASE], app[messages_http.LEDGER].writer, app[KEYRING], app[WIRING].clock)
    app[CONTACTS] = Contacts(*common, ensure_keys=app[ACCOUNTS].ensure_keys)
    app[SEGMENTS] = Segments(*common, ensure_keys=app[ACCOUNTS].ensure_keys)
    app[IMPORTS] = ImportJobs(app[CONTACTS], interval_s=app[SETTINGS].contact_import_interval_s)
    async with background_job(app, app[IMPORTS]):
        yield


async def campaigns_ctx(app: web.Application):
    """Campaigns and the runner that sends them (through the same checks and ledger as the API)."""
    db, ledger, keyring = app[DATABASE], app[messages_http.LEDGER], app[KEYRING]
    clock = app[WIRING].campaign_clock or app[WIRING].clock
    ensure_keys = app[ACCOUNTS].ensure_keys
    service = Campaigns(
        db, ledger.writer, app[SEGMENTS], app[messages_http.CARD_CHECK], app[ANALYTICS], clock, ensure_keys=ensure_keys
    )
    sender = PageSender(db, keyring, ledger, messages_http.send_checks(app), ensure_keys=ensure_keys)
    journeys = Journeys(
        db,
        ledger.writer,
        keyring,
        app[SEGMENTS],
        service.variables_of,
        clock,
        ensure_keys=ensure_keys,
        contacts=app[CONTACTS],
    )
    runner = CampaignRunner(
        db,
        ledger.writer,
        keyring,
        service,
        sender,
        clock,
        worker_id=f"campaigns-{os.getpid()}-{new_id()[:8]}",
        tick_s=app[SETTINGS].campaign_tick_s,
        journeys=journeys,
    )
    service.wake = journeys.wake = runner.wake
    app[CAMPAIGNS], app[JOURNEYS], app[CAMPAIGN_RUNNER] = service, journeys, runner
    async with background_job(app, runner):
        yield


async def knowledge_ctx(app: web.Application):
    """The brands' FAQ entries and answerers (the conversation pipeline asks them)."""
    settings = app[SETTINGS]
    app[KNOWLEDGE] = knowledge = Knowledge(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        app[KEYRING],
        app[WIRING].clock,
        ensure_keys=app[ACCOUNTS].ensure_keys,
        allow_private=settings.embedded or settings.sandbox,  # a sandbox's AI stand-in on loopback
    )
    yield
    await knowledge.close()


def _settle_evidence(evidence: EvidenceLog):
    async def settle() -> None:  # every committed event into the log before its message goes
        while await evidence.append_pending() >= 1000:
            pass

    return settle


async def webhooks_ctx(app: web.Application):
    options = {"allow_http": app[SETTINGS].embedded, **app[WIRING].webhook_options}
    service = WebhookService(
        app[DATABASE], app[messages_http.LEDGER].writer, app[KEYRING], app[WIRING].clock, **options
    )
    app[WEBHOOKS] = service
    # Deliveries queued by any commit here wake the sender where one runs: here at once, and
    # in the other processes through the wake-ups.
    wakeups, writer = app[WAKEUPS], app[messages_http.LEDGER].writer
    service.on_enqueued = lambda: wakeups.signal(WEBHOOKS_DUE)
    wakeups.on(WEBHOOKS_DUE, service.notify)
    writer.on_commit.append(service.notify_if_enqueued)
    try:
        async with background_job(app, service):
            yield
    finally:
        writer.on_commit.remove(service.notify_if_enqueued)
        wakeups.off(WEBHOOKS_DUE, service.notify)


async def channels_ctx(app: web.Application):
    """The brands' own chatbot channels (their secrets sealed like every other)."""
    settings = app[SETTINGS]
    app[CHANNELS] = ChannelService(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        app[KEYRING],
        public_base_url=settings.base_url,
        clock=app[WIRING].clock,
        ensure_keys=app[ACCOUNTS].ensure_keys,
        allow_private=settings.embedded or settings.sandbox,  # the sandbox MaaP is on loopback
        reserved_chatbot_ids=tuple(c for c in (settings.maap_chatbot_id, SANDBOX_CHATBOT_ID, TEST_CHATBOT_ID) if c),
    )
    # Their chatbots' menus and profiles; audit verdicts are webhooks.
    app[CHATBOT] = ChatbotInfo(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        app[KEYRING],
        app[CHANNELS],
        clock=app[WIRING].clock,
        notify=app[WEBHOOKS].notify_if_enqueued,
    )
    app[REVIEWS].views[REVIEW_CHATBOT] = app[CHATBOT].review_view  # the publish an operator audits
    yield


async def shortlinks_ctx(app: web.Application):
    settings, wiring = app[SETTINGS], app[WIRING]

    async def on_postback(*args) -> None:  # a tap on the link page is the same user event as over RCS
        await app[DISPATCHER].inbound.on_postback(*args)

    async def on_opt_out(tenant_id: str, message_id: str) -> None:  # the link page's opt-out form
        await app[messages_http.LEDGER].opt_out(tenant_id, message_id, source="link_page")

    links = shortlinks.ShortLinks(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        app[KEYRING],
        wiring.clock,
        base_url=settings.base_url,
        ttl_s=settings.short_link_ttl,
        signature_of=app[TENANTS].signature_of,
        on_postback=wiring.on_postback or (on_postback if dispatch_config(settings, wiring).enabled else None),
        on_opt_out=wiring.on_opt_out or on_opt_out,
        load_keys=app[ACCOUNTS].load_keys,
    )
    await links.start()
    app[shortlinks.SHORTLINKS] = links
    yield
    await links.stop()


async def dispatch_ctx(app: web.Application):
    """The simulators, the default RCS channel, the SMS routes and the dispatcher.

    The sandbox MaaP and SMSC simulators run in every process that dispatches (the all-in-one
    default, `dispatch` workers): in the sandbox they are the default channel and route; with
    real ones configured they still take test keys' messages (and only those), on loopback, with
    credentials made up at start. An API process (`serve` on PostgreSQL) builds the dispatcher
    without running it: it takes the operators' callbacks, cancels and capability look-ups; the
    claim loop and the SMS binds are a dispatch process's."""
    settings, wiring = app[SETTINGS], app[WIRING]
    config = dispatch_config(settings, wiring)
    if not config.enabled:
        yield
        return
    if settings.role != ROLE_ALL and not settings.maap_url:
        raise SystemExit(
            "error: `serve` and `dispatch` run no sandbox MaaP of their own: start one with `server.py simulators` and "
            "set HONGYAN_MAAP_URL and HONGYAN_SMSC_ADDRESS to the addresses it prints (or the operator's)"
        )
    sandbox = Sandbox()
    app[SANDBOX] = sandbox
    credentials = channel_credentials(settings)
    # Outside the sandbox the simulators' credentials are this process's secret, never the
    # public sandbox ones: only this process can send to them, or sign their callbacks.
    sim = credentials if not settings.maap_url else sandbox_credentials()
    smsc_password = SANDBOX_PASSWORD if settings.sandbox else secrets.token_urlsafe(6)
    async with contextlib.AsyncExitStack() as stack:
        if settings.dispatches:
            sandbox.maap = MaapSimulator(
                callback_base_url=f"http://{settings.host}:{settings.port}{CALLBACK_PREFIX}",
                callback_token=sim.callback_token.reveal(),
                app_id=sim.app_id,
                app_key=sim.app_key.reveal(),
                chatbot_id=sim.chatbot_id,
                timing=config.maap_timing,
                port=settings.maap_port,
                state_path=sandbox_state(settings, "maap"),
            )
            await _started(stack, sandbox.maap)
        if settings.maap_url:
            parts = urlsplit(settings.maap_url)
            server_root, scheme = parts.netloc + parts.path.rstrip("/"), parts.scheme
        else:
            assert sandbox.maap is not None  # the all-in-one process always dispatches
            server_root, scheme = f"{sandbox.maap.host}:{sandbox.maap.port}", "http"
            await _start_operator_simulators(stack, settings, config, sandbox)
            await _provision_sandbox_chatbots(app, sandbox)
        channel = OPERATORS[settings.maap_operator].from_config(
            {
                "server_root": server_root,
                "scheme": scheme,
                "chatbot_id": credentials.chatbot_id,
                "app_id": credentials.app_id,
                "app_key": credentials.app_key.reveal(),
                **({"timeout_s": config.maap_timeout_s} if config.maap_timeout_s else {}),
            }
        )
        stack.push_async_callback(_quietly, channel.close)
        # Test keys' messages: only ever this process's own simulator (none in an API process:
        # there they wait for a dispatch process).
        test_channel = None if sandbox.maap is None else channel
        if settings.maap_url and sandbox.maap is not None:
            test_channel = OPERATORS[SANDBOX_OPERATOR].from_config(
                {
                    "server_root": f"{sandbox.maap.host}:{sandbox.maap.port}",
                    "scheme": "http",
                    "chatbot_id": sim.chatbot_id,
                    "app_id": sim.app_id,
                    "app_key": sim.app_key.reveal(),
                }
            )
            stack.push_async_callback(_quietly, test_channel.close)
        if settings.dispatches:
            sandbox.smsc = SmscSimulator(
                receipt_delay=config.smsc_receipt_delay,
                credentials={SANDBOX_SYSTEM_ID: smsc_password},
                port=settings.smsc_port,
                http_port=0,  # each number's SMS inbox page (fallback.smsc.inbox)
                state_path=sandbox_state(settings, "smsc"),
            )
            await _started(stack, sandbox.smsc)
        accounts, tenants = app[ACCOUNTS], app[TENANTS]
        # A brand with its own chatbot sends on it (one client per chatbot), the rest on the
        # default; a test key's messages on the simulator's.
        channels = Channels(
            channel,
            lookup=app[CHANNELS].for_tenant,
            build=lambda config: OPERATORS[config.interface].from_config(
                config.maap_config(), **operator_hooks(app, config)
            ),
            test=test_channel,
        )
        dispatcher = Dispatcher(
            app[DATABASE],
            app[messages_http.LEDGER].writer,
            app[KEYRING],
            channels,
            ensure_keys=accounts.ensure_keys,
            notify=app[WEBHOOKS].notify_if_enqueued,
            clock=wiring.clock,
            options=config.options,
            media_fetch=app[MEDIA].blob_for_url,
            on_audit=app[CHATBOT].on_audit,
            rules=app[RULES],
            consent_policies=app[messages_http.LEDGER].consent_policies,
            observer=dispatch_observer(app[METRICS]),
            worker_id=worker_id(),
        )
        if settings.dispatches:
            assert sandbox.smsc is not None
            uses_simulator = settings.sandbox and not settings.smsc_address and settings.routes_file is None
            routes_config = sms_routes_config(settings, config, sandbox.smsc if uses_simulator else None)
            test_routes = (
                routes_config if uses_simulator else sandbox_routes_config(config, sandbox.smsc, smsc_password)
            )
            if routes_config is None:
                log.warning("no SMS route is configured: messages that need the SMS fallback will wait for one")
            dispatcher.sms = await _sms_stage(app, stack, routes_config, dispatcher, tenants, config, test_routes)
            await _started(stack, dispatcher)
            app[WAKEUPS].on(DISPATCH, dispatcher.wake)  # an accepted message goes at once, from any process
            stack.callback(app[WAKEUPS].off, DISPATCH, dispatcher.wake)
        else:
            stack.push_async_callback(_quietly, dispatcher.stop)  # its channels' clients
            dispatcher.wake_others = functools.partial(app[WAKEUPS].signal, DISPATCH)
        app[DISPATCHER] = dispatcher
        app[messages_http.CANCEL] = dispatcher.cancel
        app[messages_http.CAPABILITIES] = dispatcher.capabilities
        app[CHATBOT_CLIENT] = channels.for_channel  # a brand's menu and profile go out on its channel's client
        yield


def sandbox_state(settings: Settings, simulator: str) -> Path | None:
    """Where a simulator keeps its state across restarts: the data dir of the embedded default
    (None elsewhere: in memory only)."""
    return settings.data_dir / "sandbox" / f"{simulator}.json" if settings.embedded else None


def sandbox_credentials() -> ChannelCredentials:
    """The simulator's chatbot beside real channels: a chatbot id of its own (never the
    default channel's), secrets made up now (the public sandbox ones would let anyone sign
    callbacks)."""
    return ChannelCredentials(
        chatbot_id=TEST_CHATBOT_ID,
        app_id=SANDBOX_APP_ID,
        app_key=Secret(secrets.token_urlsafe(24)),
        callback_token=Secret(secrets.token_urlsafe(24)),
    )


def sandbox_routes_config(config: DispatchConfig, smsc: SmscSimulator, password: str) -> RoutesFile:
    """The route to the sandbox SMSC simulator: the sandbox's SMS, and test keys' everywhere."""
    return smpp_routes(config, SANDBOX_ROUTE, smsc.host, smsc.port, SANDBOX_SYSTEM_ID, Secret(password))


async def _sms_stage(
    app: web.Application,
    stack: contextlib.AsyncExitStack,
    routes_config: RoutesFile | None,
    dispatcher: Dispatcher,
    tenants: TenantDirectory,
    config: DispatchConfig,
    test_routes: RoutesFile | None = None,
) -> SmsStage:
    """Every configured SMS route connected, behind carrier routing, feeding one SMS stage; and
    the sandbox SMSC's route, where test keys' SMS go (the same sender when it is the only one)."""
    sender_number = (routes_config.sender if routes_config is not None else None) or app[SETTINGS].sms_sender
    replies = SmsReplies(
        sender_number,
        tenant_of=tenants.id_for_extension,
        on_opt_out=dispatcher.inbound.opt_out_by_reply,
        on_reply=dispatcher.inbound.on_sms_reply,
        on_consent=app[CONSENTS].by_reply,
    )
    stage: SmsStage | None = None

    def on_outcome(outcome) -> None:
        if stage is not None:
            stage.outcome(outcome)

    def connect(config: RoutesFile) -> tuple[CarrierRouter, dict[str, SmsRoute]]:
        kinds = {d.name: d.kind for d in config.routes}
        router = CarrierRouter(config.router, portability=app[PORTED], kinds=kinds)
        routes: dict[str, SmsRoute] = {}
        for definition in config.routes:
            hooks = RouteHooks(
                on_outcome=on_outcome,
                on_inbound=replies.handle,
                on_throttle=functools.partial(router.record_throttled, definition.name),
            )
            try:
                routes[definition.name] = ROUTE_KINDS[definition.kind](definition.name, definition.options, hooks)
            except (TypeError, ValueError) as exc:
                raise SystemExit(f"error: SMS routes: {exc}") from None
        return router, routes

    # Without routes, live messages needing SMS wait for one (test ones still go).
    router, routes = connect(routes_config) if routes_config is not None else (None, {})
    live = SmsSender(router, routes) if router is not None else None
    test = live
    connections = list(routes.values())
    if test_routes is not None and test_routes is not routes_config:
        test_router, test_connections = connect(test_routes)
        test = SmsSender(test_router, test_connections)
        connections += test_connections.values()
    stage = SmsStage(
        app[DATABASE],
        app[messages_http.LEDGER].writer,
        dispatcher.lifecycle,
        live,
        app[shortlinks.SHORTLINKS],
        signature_of=tenants.signature_of,
        extension_of=tenants.extension_of,
        unsubscribe_text_of=app[messages_http.LEDGER].consent_policies.unsubscribe_text,
        now_ms=dispatcher.now_ms,
        notify=app[WEBHOOKS].notify_if_enqueued,
        source_addr=sender_number,
        retry=config.options.retry,
        receipt_wait_s=config.options.sms_receipt_wait_s,
        receipt_deadline_s=config.options.sms_receipt_deadline_s,
        max_in_flight=config.options.sms_in_flight,
        observer=dispatcher.observer,
        test_gateway=test if test_routes is not None else None,
    )
    for route in connections:
        await _started(stack, route)
    await _started(stack, stage)
    app[SMS_STAGE] = stage
    if router is not None:
        app[SMS_ROUTER] = router
        if not app[SETTINGS].embedded:  # API processes elsewhere read the health from the database
            await _started(stack, HealthPublisher(app[DATABASE], router.health, worker_id()))
    return stage


async def _start_operator_simulators(
    stack: contextlib.AsyncExitStack, settings: Settings, config: DispatchConfig, sandbox: Sandbox
) -> None:
    """The China Mobile (NetAPI) and Google RBM simulators of the all-in-one sandbox, calling
    back this process's /rcs routes. Stateless: their chatbots are provisioned from the stored
    channels at each start; messages in flight on them are forgotten across a restart."""
    callback_base = f"http://{settings.host}:{settings.port}{CALLBACK_PREFIX}"
    sandbox.cm = CmNetApiSimulator(
        callback_base_url=callback_base, timing=config.maap_timing, host=settings.host, port=settings.cm_port
    )
    await _started(stack, sandbox.cm)
    sandbox.rbm = RbmSimulator(
        timing=config.maap_timing, host=settings.host, port=settings.rbm_port, webhook_base=f"{callback_base}/rbm"
    )
    await _started(stack, sandbox.rbm)


async def _provision_sandbox_chatbots(app: web.Application, sandbox: Sandbox) -> None:
    """Brands' chatbots at the `sandbox` operator exist on the in-process MaaP simulator, and
    `cm` and `rbm` channels whose server root is the embedded China Mobile or RBM simulator's on
    that one, as a real operator's onboarding provisions them: those stored now, and each one
    created or edited."""
    service, maap, cm, rbm = app[CHANNELS], sandbox.maap, sandbox.cm, sandbox.rbm
    assert maap is not None
    settings = app[SETTINGS]
    rbm_webhook = f"http://{settings.host}:{settings.port}{CALLBACK_PREFIX}/rbm/"

    def provision(config) -> None:
        if config is None:
            return
        token = config.callback_token.reveal()
        if config.operator == "sandbox":
            maap.add_chatbot(config.chatbot_id, config.app_id, config.app_key.reveal(), token)
        elif config.operator == "cm" and cm is not None and config.server_root == cm.server_root:
            cm.add_chatbot(config.chatbot_id, config.app_id, config.app_key.reveal(), token)
        elif config.operator == "rbm" and rbm is not None and config.server_root == rbm.root:
            agent = agent_id_of(config.chatbot_id)
            try:
                account = json.loads(config.app_key.reveal())
                rbm.add_agent_key(agent, account, client_token=token, webhook_url=rbm_webhook + agent)
            except (ValueError, KeyError, TypeError):  # a key the simulator cannot read: no agent
                log.warning("sandbox RBM: channel %s's service-account key is unusable", config.id)

    for operator in ("sandbox", "cm", "rbm"):
        for config in await service.of_operator(operator):
            provision(config)

    def changed(tenant_id: str, channel_id: str) -> None:
        async def look() -> None:
            provision(await service.for_tenant(tenant_id))  # the active one, after the change

        task = asyncio.get_running_loop().create_task(look())
        sandbox.tasks.add(task)
        task.add_done_callback(sandbox.tasks.discard)

    service.add_listener(changed)


async def _started(stack: contextlib.AsyncExitStack, part) -> None:
    """Start `part`; it is stopped (failures logged) when `stack` closes."""
    await part.start()
    stack.push_async_callback(_quietly, part.stop)


async def _quietly(stop) -> None:
    try:
        await stop()
    except Exception:
        log.exception("stopping %s failed", getattr(stop, "__self__", stop).__class__.__name__)


def rcs_callback_routes(app: web.Application, settings: Settings) -> list[web.RouteDef]:
    """The default channel's notify endpoints under /rcs, handing events to the dispatcher."""
    credentials = channel_credentials(settings)

    async def on_delivery(chatbot_id, events) -> None:
        await app[DISPATCHER].inbound.on_delivery(chatbot_id, events)

    async def on_user(chatbot_id, event) -> None:
        await app[DISPATCHER].inbound.on_user(chatbot_id, event)

    async def on_notice(chatbot_id, notice) -> None:
        await app[DISPATCHER].inbound.on_notice(chatbot_id, notice)

    async def other_chatbots(chatbot_id: str) -> tuple[str, str] | None:
        """A brand's own chatbot, or one of the simulator's here (test keys' messages beside
        real channels): callbacks are signed with its token."""
        found = await app[CHANNELS].by_chatbot_id(chatbot_id)
        if found is not None:
            return found.callback_token.reveal(), found.app_id
        sandbox = app.get(SANDBOX)
        if chatbot_id == credentials.chatbot_id or sandbox is None or sandbox.maap is None:
            return None  # the default channel's: its own token
        bot = sandbox.maap.chatbots.get(chatbot_id)
        return (bot.callback_token, bot.app_id) if bot is not None else None

    endpoints = CallbackEndpoints(
        callback_token=credentials.callback_token.reveal(),
        app_id=credentials.app_id,
        on_delivery=on_delivery,
        on_user=on_user,
        on_notice=on_notice,
        other_chatbots=other_chatbots,
    )

    async def cm_token_of(chatbot_id: str) -> str | None:
        """A brand's own China Mobile chatbot: its notifications are signed with its token."""
        found = await app[CHANNELS].by_chatbot_id(chatbot_id)
        return found.callback_token.reveal() if found is not None and found.interface == "cm_netapi" else None

    cm = CmCallbackEndpoints(token_of=cm_token_of, on_delivery=on_delivery, on_user=on_user)
    rbm = RbmWebhook(agents=rbm_agents(app), on_delivery=on_delivery, on_user=on_user)
    return [*endpoints.routes(CALLBACK_PREFIX), *cm.routes(CALLBACK_PREFIX), *rbm.routes(CALLBACK_PREFIX)]


def rbm_agents(app: web.Application):
    """A brand's RBM agent by its id: its client token (the webhook's key) and chatbot id."""

    async def find(agent_id: str) -> tuple[str, str] | None:
        found = await app[CHANNELS].by_chatbot_id(agent_chatbot_id(agent_id))
        if found is None or found.operator != "rbm":
            return None
        return found.callback_token.reveal(), found.chatbot_id

    return find


def operator_hooks(app: web.Application, config) -> dict:
    """What an operator client takes from the app: RBM answers a revoke at once, and its outcome
    reaches dispatch as the revokeOk / revokeFail status a CN MaaP would call back with."""
    if config.interface != "rbm":
        return {}

    async def on_delivery(chatbot_id, events) -> None:
        await app[DISPATCHER].inbound.on_delivery(chatbot_id, events)

    return {"on_delivery": on_delivery}


async def conversations_ctx(app: web.Application):
    """Conversations: every recipient's inbound (handed over by dispatch), the bot's rules and
    answers, replies through the message ledger with the conversation's operator ids."""
    ledger = app[messages_http.LEDGER]
    service = Conversations(
        app[DATABASE],
        ledger.writer,
        app[KEYRING],
        ledger,
        messages_http.send_checks(app),
        clock=app[WIRING].clock,
        ensure_keys=app[ACCOUNTS].ensure_keys,
        hub=Hub(),
        contacts=app[CONTACTS],
        journeys=app.get(JOURNEYS),
        notify_webhooks=app[WEBHOOKS].notify_if_enqueued,
        answerer_for=app[KNOWLEDGE].answerer_for,
        question=Question,
    )
    app[CONVERSATIONS] = service
    dispatcher = app.get(DISPATCHER)

    async def tenant_of_chatbot(chatbot_id: str) -> str | None:
        """The brand whose own active chatbot this is (the shared default chatbot is nobody's)."""
        found = await app[CHANNELS].by_chatbot_id(chatbot_id)
        return found.tenant_id if found is not None and found.status == "active" else None

    settings = app[SETTINGS]
    if not settings.embedded:  # several processes may share the database: carry inbox events across
        # On the process's one LISTEN connection (store.notify), with the wake-ups.
        service.relay = PgRelay(settings.db_url, service.hub, service.publish_local, listener=app[WAKEUPS].listener)
        await service.relay.start()
    if dispatcher is not None:
        dispatcher.inbound.on_inbound = service.on_inbound
        dispatcher.inbound.tenant_of_chatbot = tenant_of_chatbot
        dispatcher.rcs.reply_context = service.reply_context
    yield
    if dispatcher is not None:
        dispatcher.inbound.on_inbound = None
        dispatcher.inbound.tenant_of_chatbot = None
        dispatcher.rcs.reply_context = None
    if service.relay is not None:
        await service.relay.stop()


async def editor_ctx(app: web.Application):
    sessions = editor.EditorSessions(
        app[DATABASE],
        app[WIRING].clock,
        public_base_url=app[SETTINGS].public_base_url,
        ensure_keys=app[ACCOUNTS].ensure_keys,
    )
    app[editor.SESSIONS] = sessions
    app[SESSION_AUTH] = sessions  # the middleware's cookie path
    accounts = app[ACCOUNTS]

    async def tenant_of(tenant_id: str) -> dict | None:
        found = await accounts.get_tenant(tenant_id)
        return found.as_mapping() if found is not None else None

    # Share links of template versions: the read-only preview at /share/<token> and its decisions.
    app[shares_http.SHARES] = shares_http.SharePages(
        ShareLinks(app[DATABASE], app[KEYRING], app[TEMPLATES], app[WIRING].clock),
        editor.Previewer(app[SETTINGS].base_url),
        app[SETTINGS].base_url,
        tenant_of,
    )
    await sessions.start()
    yield
    await sessions.stop()


def worker_id() -> str:
    """This process's name on the leases it takes: host and pid, so an operator (or a test)
    can tell whose claims a dead process left."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _handset_url(app: web.Application) -> str | None:
    sandbox = app.get(SANDBOX)
    return f"{sandbox.maap.url}/handset" if sandbox is not None and sandbox.maap is not None else None


async def demo_tenant_ctx(app: web.Application):
    settings = app[SETTINGS]
    if settings.demo_tenant and settings.embedded:
        await ensure_demo_tenant(app[ACCOUNTS], settings, app[USERS])
    yield


DEMO_OWNER = "owner"


async def ensure_demo_tenant(accounts: Accounts, settings: Settings, users: Users | None = None) -> dict:
    """Create the demo tenant on first start, with an owner who signs in to the web UI; its key
    and the owner's password are kept in the data dir for the tour (and printed at start)."""
    path = settings.data_dir / DEMO_TENANT_FILE
    info = json.loads(path.read_text()) if path.exists() else None
    changed = info is None
    if info is None:
        tenant, key = await accounts.create_tenant("Demo brand", sms_price=DEMO_SMS_PRICE)
        info = {"tenant_id": tenant.id, "api_key": key}
    if "test_api_key" not in info:  # what it sends goes only to the simulators, never billed
        info["test_api_key"] = await accounts.create_test_key(info["tenant_id"])
        changed = True
    if users is not None and "owner_login" not in info:
        password = secrets.token_urlsafe(12)
        await users.create(info["tenant_id"], DEMO_OWNER, "owner", password=password)
        info.update(owner_login=DEMO_OWNER, owner_password=password)
        changed = True
    if not changed:
        return info
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return info


# -- the app -----------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    """Live: the process answers (nothing else is checked; see /readyz)."""
    return json_response({"status": "ok"})


READY_TIMEOUT_S = 2.0


async def readyz(request: web.Request) -> web.Response:
    """Ready to take traffic: the database answers, and where this process dispatches, its
    dispatcher runs and at least one SMS route is in rotation (when routes are configured).
    200 with each check, or 503 naming what is not ready."""
    app = request.app
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with app[DATABASE].read.connect() as conn:
                await conn.execute(sa_text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # unreachable, timed out, refused
        checks["database"] = f"unavailable: {type(exc).__name__}"
    dispatcher = app.get(DISPATCHER)
    if dispatcher is not None and app[SETTINGS].dispatches:
        checks["dispatcher"] = "ok" if dispatcher.running else "stopped"
        router = app.get(SMS_ROUTER)
        if router is not None:
            health = router.health()
            usable = [r["route"] for r in health if r["state"] != OUT_OF_ROTATION]
            checks["sms_routes"] = "ok" if usable else "none in rotation: " + ", ".join(r["route"] for r in health)
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def dispatch_observer(metrics: Metrics) -> Observer:
    return Observer(statuses=metrics.count_statuses, send=metrics.observe_send)


async def metrics_page(request: web.Request) -> web.Response:
    """Prometheus exposition; with HONGYAN_METRICS_TOKEN set, only with that bearer token."""
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token.reveal()}".encode()):
            raise Problem(401, "the metrics need the bearer token set in HONGYAN_METRICS_TOKEN")
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document, each operation named and tagged after the handler that serves it."""
    cache = request.app[OPENAPI]
    if "document" not in cache:
        routes = [
            (r.method, r.resource.canonical, r.handler.__name__, r.handler.__module__)
            for r in request.app.router.routes()
            if r.resource is not None and hasattr(r.handler, "__module__")
        ]
        cache["document"] = name_operations(openapi_document(request.app[SETTINGS].base_url), routes)
    return json_response(cache["document"])


def create_app(settings: Settings, wiring: Wiring | None = None) -> web.Application:
    """The aiohttp application for these settings."""
    wiring = wiring or Wiring()
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware, audit_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[WIRING] = wiring
    app[OPENAPI] = {}
    try:
        app[TRUSTED_PROXIES] = trusted_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise SystemExit(f"error: HONGYAN_TRUSTED_PROXIES: {exc}") from None
    app[AUTH_FAILURES] = WindowLimiter(AUTH_FAILURE_ATTEMPTS, AUTH_FAILURE_WINDOW_S)
    dispatch = dispatch_config(settings, wiring)
    # Order matters: later contexts stop first, so nothing writes after the writer stops.
    app.cleanup_ctx.extend(
        [
            storage_ctx,
            wakeups_ctx,
            metrics_ctx,
            accounts_ctx,
            sms_routing_ctx,
            messages_ctx,
            users_ctx,
            compliance_ctx,
            consent_ctx,
            media_ctx,
            evidence_ctx,
            privacy_ctx,
            analytics_ctx,
            billing_ctx,
            audiences_ctx,
            campaigns_ctx,
            knowledge_ctx,
            webhooks_ctx,
            channels_ctx,
            shortlinks_ctx,
            dispatch_ctx,
            conversations_ctx,
            editor_ctx,
            demo_tenant_ctx,
        ]
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    if dispatch.enabled and settings.maap_operator in BRAND_ONLY_INTERFACES:
        raise SystemExit(
            f"error: HONGYAN_MAAP_OPERATOR {settings.maap_operator!r} is a brand channel kind (its callbacks "
            "are a brand channel's): add it with POST /v1/channels"
        )
    if dispatch.enabled and settings.maap_operator not in OPERATORS:
        known = ", ".join(sorted(set(OPERATORS) - BRAND_ONLY_INTERFACES))
        raise SystemExit(f"error: HONGYAN_MAAP_OPERATOR must be one of {known}, not {settings.maap_operator!r}")
    if not settings.serves_api:
        return app  # a dispatch process answers for its health and metrics only
    app.add_routes(docs_routes())
    app.router.add_get("/openapi.json", openapi)
    app.add_routes(messages_http.routes)
    app.add_routes(rules_routes)
    app.add_routes(cards_http.routes)
    app.add_routes(template_routes)
    app.add_routes(compliance_routes)
    app.add_routes(consent_routes)
    app.add_routes(opt_out_routes)
    app.add_routes(media_routes)
    app.add_routes(evidence_routes)
    app.add_routes(privacy_routes)
    app.add_routes(analytics_routes)
    app.add_routes(billing_routes)
    app.add_routes(audiences_routes)
    app.add_routes(campaigns_routes)
    app.add_routes(conversations_routes)
    app.add_routes(knowledge_routes)
    app.add_routes(accounts_routes)
    app.add_routes(users_routes)
    app.add_routes(channel_routes)
    app.add_routes(chatbot_routes)
    app.add_routes(sms_routes)
    app.add_routes(webhook_routes)
    app.add_routes(shortlinks.routes)
    editor_config = editor.EditorConfig(
        base_url=settings.base_url,
        secure_cookie=settings.base_url.startswith("https://"),
        sandbox=dispatch.enabled and settings.sandbox,
        handset_url=lambda: _handset_url(app),
    )
    app.add_routes(shares_http.routes)
    app.add_routes(editor.editor_routes(editor_config))
    if dispatch.enabled:
        app.add_routes(rcs_callback_routes(app, settings))
    return app


def dispatch_config(settings: Settings, wiring: Wiring) -> DispatchConfig:
    """The dispatcher's tuning (Wiring's if given); dispatch runs in the sandbox or with a MaaP."""
    config = wiring.dispatch or DispatchConfig()
    timings = {
        "rcs_silence_s": settings.rcs_silence_s,
        "sms_receipt_wait_s": settings.sms_receipt_wait_s,
    }
    timings["lease_s"] = settings.dispatch_lease_s
    timings["capability_cache_entries"] = settings.capability_cache_entries
    options = replace(config.options, **{k: v for k, v in timings.items() if v is not None})
    maap_timing = config.maap_timing
    if settings.sandbox_max_messages is not None:
        maap_timing = replace(maap_timing, max_messages=settings.sandbox_max_messages)
    return replace(
        config,
        options=options,
        maap_timing=maap_timing,
        enabled=config.enabled and (settings.sandbox or bool(settings.maap_url)),
    )


def sealed_columns():
    """Every sealed column of every domain, for key rotation."""
    return [
        *MESSAGE_SEALED,
        *SHORT_LINK_SEALED,
        *WEBHOOK_SEALED,
        *ACCOUNT_SEALED,
        *TEMPLATE_SEALED,
        *SHARE_SEALED,
        *COMPLIANCE_SEALED,
        *CONSENT_SEALED,
        *EVIDENCE_SEALED,
        *AUDIENCE_SEALED,
        *CONVERSATION_SEALED,
        *KNOWLEDGE_SEALED,
    ]


# -- command line ------------------------------------------------------------------------
def _global_flags() -> argparse.ArgumentParser:
    # SUPPRESS so a flag given before the subcommand is not reset by the subparser's default.
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help="data directory (default ./var)")
    p.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="postgresql+asyncpg://… (default SQLite in the data dir)"
    )
    p.add_argument("--host", default=argparse.SUPPRESS, help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=argparse.SUPPRESS, help=f"listen port (default {DEFAULT_PORT})")
    p.add_argument("--routes", default=argparse.SUPPRESS, metavar="FILE", help="SMS routes file (TOML)")
    p.add_argument("--maap-port", type=int, default=argparse.SUPPRESS, help="the sandbox MaaP's port (default: any)")
    p.add_argument(
        "--smsc-port", type=int, default=argparse.SUPPRESS, help="the sandbox SMSC's SMPP port (default: any)"
    )
    p.add_argument(
        "--cm-port", type=int, default=argparse.SUPPRESS, help="the sandbox China Mobile MaaP's port (default: any)"
    )
    p.add_argument("--rbm-port", type=int, default=argparse.SUPPRESS, help="the sandbox RBM API's port (default: any)")
    return p


def build_parser() -> argparse.ArgumentParser:
    flags = _global_flags()
    parser = argparse.ArgumentParser(prog="hongyan", parents=[flags], description="Hongyan 5G-message platform")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser(
        "serve",
        parents=[flags],
        help="the API (PostgreSQL: API only, beside `dispatch`; SQLite: everything, as without a subcommand)",
    )
    serve.add_argument("--workers", type=int, default=1, help="API processes sharing the port (PostgreSQL)")
    dispatch = sub.add_parser(
        "dispatch", parents=[flags], help="dispatch and the background jobs, no API (PostgreSQL; beside `serve`)"
    )
    dispatch.add_argument("--workers", type=int, default=1, help="dispatch processes (default 1)")
    dispatch.add_argument(
        "--metrics-port", type=int, help="serve /healthz, /readyz and /metrics here (worker i on this port + i)"
    )
    sims = sub.add_parser(
        "simulators",
        parents=[flags],
        help="the sandbox MaaP (--maap-port), SMSC (--smsc-port), China Mobile MaaP (--cm-port) and RBM (--rbm-port) "
        "as their own process, calling back --port",
    )
    sims.add_argument("--delivery-delay", type=float, default=0.5, help="seconds to an RCS delivery report")
    sims.add_argument("--display-delay", type=float, default=1.0, help="seconds from delivered to read")
    sims.add_argument("--receipt-delay", type=float, default=0.5, help="seconds to an SMS receipt")
    sims.add_argument("--inbox-port", type=int, default=0, help="the SMS inbox pages' port (default: any)")
    sub.add_parser("migrate", parents=[flags], help="bring the database schema up to date")
    tenant = sub.add_parser("tenant", parents=[flags], help="manage tenants")
    tsub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tsub.add_parser("create", parents=[flags], help="create a tenant; prints its API key once")
    create.add_argument("name")
    create.add_argument("--signature", help="registered SMS signature, e.g. 【鸿雁】 (default 【鸿雁测试】)")
    create.add_argument("--rate-limit", type=int, help="recipients per second (default: no limit)")
    create.add_argument("--sms-price", help="price of one SMS segment, e.g. 0.045")
    create.add_argument(
        "--test-key",
        action="store_true",
        help="also make a test key (hy_test_…: its messages go only to the simulators, never billed)",
    )
    user = sub.add_parser("user", parents=[flags], help="people who sign in to the web UI")
    usub = user.add_subparsers(dest="user_command", required=True)
    ucreate = usub.add_parser(
        "create", parents=[flags], help="add a person to a tenant; prints one line of JSON (with a made-up password)"
    )
    ucreate.add_argument("tenant_id")
    ucreate.add_argument("login")
    ucreate.add_argument("--role", required=True, choices=ROLES)
    ucreate.add_argument("--display-name")
    ucreate.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    keys = sub.add_parser("keys", parents=[flags], help="manage encryption keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    ksub.add_parser("rotate", parents=[flags], help="new data key for every tenant; re-encrypt every row")
    ksub.add_parser(
        "rotate-master", parents=[flags], help="re-wrap every data key under a new master key (nothing is re-encrypted)"
    )
    words = sub.add_parser("words", parents=[flags], help="sensitive-word lists (the platform's, or a tenant's)")
    wsub = words.add_subparsers(dest="words_command", required=True)
    wimport = wsub.add_parser("import", parents=[flags], help="import a word file into a category or the whitelist")
    wimport.add_argument("file", help="one word a line (text), term,category,kind (csv), ndjson or a JSON array")
    wimport.add_argument("--category", help="the category of lines that name none")
    wimport.add_argument("--action", choices=("block", "review"), help="create or change the category first")
    wimport.add_argument("--allow", action="store_true", help="the file lists whitelisted phrases")
    wimport.add_argument("--tenant", help="a tenant's list (default: the platform's)")
    wimport.add_argument("--format", choices=WORD_FORMATS, help="default: from the file's extension, else text")
    wexport = wsub.add_parser("export", parents=[flags], help="write a list to stdout")
    wexport.add_argument("--tenant", help="a tenant's list (default: the platform's)")
    wexport.add_argument("--format", choices=WORD_FORMATS, default="csv")
    evidence = sub.add_parser("evidence", parents=[flags], help="the SM3 evidence log")
    esub = evidence.add_subparsers(dest="evidence_command", required=True)
    esub.add_parser(
        "verify",
        parents=[flags],
        help="check every tenant's log against its signed tree heads; exit 1 at the first break",
    )
    privacy = sub.add_parser("privacy", parents=[flags], help="personal data: retention purge, erasure, export")
    psub = privacy.add_subparsers(dest="privacy_command", required=True)
    ppurge = psub.add_parser("purge", parents=[flags], help="delete what is past retention now (all tenants)")
    ppurge.add_argument("--tenant", help="only this tenant")
    for name, text in (
        ("erase", "erase what a tenant holds on one number; prints the receipt"),
        ("export", "print what a tenant holds on one number, as JSON"),
    ):
        one = psub.add_parser(name, parents=[flags], help=text)
        one.add_argument("--tenant", required=True)
        one.add_argument("--to", help="the number (default: the first line of stdin, kept out of the process list)")
    billing = sub.add_parser("billing", parents=[flags], help="billing: the operator's key")
    bsub = billing.add_subparsers(dest="billing_command", required=True)
    badmin = bsub.add_parser(
        "admin-key", parents=[flags], help="a key with the billing-admin scope (prices, top-ups, credit limits)"
    )
    badmin.add_argument("tenant_id", help="the (operator's own) tenant the key belongs to")
    ported = sub.add_parser("ported-numbers", parents=[flags], help="ported numbers (携号转网): the carrier overrides")
    posub = ported.add_subparsers(dest="ported_command", required=True)
    pimport = posub.add_parser("import", parents=[flags], help="add or update from CSV number,carrier (all or nothing)")
    pimport.add_argument("file", help="the CSV file, or - for stdin")
    posub.add_parser("export", parents=[flags], help="print every listed number and its carrier as CSV")
    padmin = posub.add_parser("admin-key", parents=[flags], help="a key with the routes-admin scope (the API)")
    padmin.add_argument("tenant_id", help="the (operator's own) tenant the key belongs to")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        database_url=getattr(args, "database_url", None),
        routes_file=Path(args.routes) if getattr(args, "routes", None) else None,
        maap_port=getattr(args, "maap_port", None),
        smsc_port=getattr(args, "smsc_port", None),
        cm_port=getattr(args, "cm_port", None),
        rbm_port=getattr(args, "rbm_port", None),
    )


async def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await run_migrations(settings.db_url)
    # Then the data a migration cannot reach without keys: template contents sealed (servers
    # also do it at start, so without the master key here it waits for the first start).
    if settings.master_key or settings.embedded:
        db = settings.open_database()
        try:
            accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
            await accounts.load_keys()
            sealed = await seal_plaintext(db, accounts.keyring)
        finally:
            await db.dispose()
        if sealed:
            print(f"{sealed} template versions and drafts sealed", file=sys.stderr)


async def _tenant_create(settings: Settings, args: argparse.Namespace) -> dict:
    await prepare_storage(settings)
    db = settings.open_database()
    try:
        accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
        tenant, key = await accounts.create_tenant(
            args.name, signature=args.signature, rate_limit=args.rate_limit, sms_price=args.sms_price
        )
        made = {"tenant_id": tenant.id, "api_key": key}
        if getattr(args, "test_key", False):
            made["test_api_key"] = await accounts.create_test_key(tenant.id)
    finally:
        await db.dispose()
    return made


async def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    """`user create TENANT_ID LOGIN --role ROLE`: one line of JSON on stdout, the audit log told."""
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else secrets.token_urlsafe(12)
    await prepare_storage(settings)
    db = settings.open_database()
    writer = GroupWriter(db.write)
    await writer.start()
    try:
        keyring = security.Keyring(master_key_provider(settings))
        accounts = Accounts(db, keyring, SystemClock())
        await accounts.load_keys()
        if await accounts.get_tenant(args.tenant_id) is None:
            print(f"error: TENANT_ID: no tenant {args.tenant_id}", file=sys.stderr)
            return 2
        try:
            made, _ = await Users(db, keyring).create(
                args.tenant_id, args.login, args.role, display_name=args.display_name, password=password
            )
        except Problem as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            for e in exc.errors[:20]:
                print(f"  {e.path}: {e.message}", file=sys.stderr)
            return 1
        await AuditLog(db, writer).record(
            AuditEntry(
                tenant_id=args.tenant_id,
                actor_type="cli",
                actor_id="",
                actor_display="command line",
                action="users.create",
                target_type="users",
                target_id=made["id"],
                client="localhost",
                status=201,
                detail={"role": args.role},
            )
        )
    finally:
        await writer.stop()
        await db.dispose()
    out = {"user_id": made["id"], "tenant_id": args.tenant_id, "login": made["login"], "role": made["role"]}
    if not args.password_stdin:
        out["password"] = password
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


async def _keys_rotate(settings: Settings, what: str) -> int:
    await prepare_storage(settings)
    db = settings.open_database()
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        master = master_key_provider(settings)
        accounts = Accounts(db, security.Keyring(master), SystemClock())
        if what == "rotate-master":
            await rotate_master(db, accounts, master, progress=progress)
            progress(f"{await rewrap_signing_keys(db, accounts.keyring)} evidence signing keys re-wrapped")
            progress(f"{await rewrap_platform_keys(db, accounts.keyring)} platform keys re-wrapped")
        else:
            moved = await rotate_all(db, accounts, sealed_columns(), progress=progress)
            progress(f"rotation complete: {moved} values re-encrypted")
    finally:
        await db.dispose()
    return 0


async def _words(settings: Settings, args: argparse.Namespace) -> int:
    """`words import` / `words export` on the platform's list or a tenant's."""
    await prepare_storage(settings)
    db = settings.open_database()
    scope = args.tenant or PLATFORM
    try:
        lists = WordLists(db, SystemClock())
        if args.words_command == "export":
            async for chunk in lists.export(scope, args.format):
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return 0
        path = Path(args.file)
        fmt = args.format or {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}.get(
            path.suffix.lower(), "text"
        )
        if args.action:
            if not args.category:
                print("error: --action needs --category", file=sys.stderr)
                return 2
            await lists.put_category(scope, args.category, {"action": args.action})
        data = path.read_bytes()
        lines = lines_of("\n".join(json_lines(data))) if fmt == "json" else lines_of(data)
        result = await lists.import_lines(
            scope,
            lines,
            fmt="ndjson" if fmt == "json" else fmt,
            category=args.category,
            kind="allow" if args.allow else "word",
        )
    except Problem as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        for e in exc.errors[:20]:
            print(f"  {e.path}: {e.message}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0


async def _evidence_verify(settings: Settings) -> int:
    await prepare_storage(settings)
    db = settings.open_database()
    try:
        # The keyring tells the platform's own signing keys from any a database writer added,
        # and opens the sealed digests of records from before the tree.
        accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
        await accounts.load_keys()
        reports = await verify_all(db, accounts.keyring)
        reviews = await verify_review_chains(db)
        shares = await verify_all_share_chains(db)
    finally:
        await db.dispose()
    for tenant_id, checked, seq in reviews:
        print(f"tenant {tenant_id}: {checked} review decision(s) chained", file=sys.stderr)
        if seq is not None:
            print(f"review decision chain BROKEN: tenant {tenant_id}, record seq {seq}")
            return 1
    for tenant_id, checked, seq in shares:
        print(f"tenant {tenant_id}: {checked} share link record(s) chained", file=sys.stderr)
        if seq is not None:
            print(f"share link chain BROKEN: tenant {tenant_id}, record seq {seq}")
            return 1
    broken = [(t, r) for t, r in reports if not r.intact]
    for tenant_id, report in reports:
        print(f"tenant {tenant_id}: {report}", file=sys.stderr)
    if broken:
        tenant_id, report = broken[0]
        print(f"evidence log BROKEN: tenant {tenant_id}, record seq {report.broken_seq}: {report.reason}")
        return 1
    print(f"evidence logs intact: {len(reports)} tenant(s), {sum(r.checked for _, r in reports)} records")
    return 0


async def _billing_admin_key(settings: Settings, args: argparse.Namespace) -> int:
    """`billing admin-key TENANT_ID`: one line of JSON with a key holding billing-admin."""
    await prepare_storage(settings)
    db = settings.open_database()
    try:
        accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
        if await accounts.get_tenant(args.tenant_id) is None:
            print(f"error: TENANT_ID: no tenant {args.tenant_id}", file=sys.stderr)
            return 2
        made = await accounts.create_api_key(args.tenant_id, ["billing", "billing-admin"])
    finally:
        await db.dispose()
    print(json.dumps({"key_id": made["id"], "api_key": made["api_key"]}, separators=(",", ":")), flush=True)
    return 0


async def _ported_numbers(settings: Settings, args: argparse.Namespace) -> int:
    """`ported-numbers import FILE | export | admin-key TENANT_ID` (fallback/ported.py)."""
    await prepare_storage(settings)
    db = settings.open_database()
    try:
        accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
        if args.ported_command != "admin-key":
            ported = PortedNumbers(db, accounts.keyring, allowed_carriers(settings.routes_file))
            return await ported_command(
                ported, args.ported_command, getattr(args, "file", None), sys.stdout, sys.stderr
            )
        if await accounts.get_tenant(args.tenant_id) is None:
            print(f"error: TENANT_ID: no tenant {args.tenant_id}", file=sys.stderr)
            return 2
        made = await accounts.create_api_key(args.tenant_id, ["messages", "routes-admin"])
    except RoutesFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(json.dumps({"key_id": made["id"], "api_key": made["api_key"]}, separators=(",", ":")), flush=True)
    return 0


async def _privacy(settings: Settings, args: argparse.Namespace) -> int:
    """`privacy purge` / `privacy erase` / `privacy export`: one JSON document on stdout."""
    from privacy.service import ErasureInFlight, subject_number

    await prepare_storage(settings)
    db = settings.open_database()
    writer = GroupWriter(db.write)
    await writer.start()
    try:
        accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
        await accounts.load_keys()
        tenant = getattr(args, "tenant", None)
        if tenant is not None and not accounts.keyring.has_tenant(tenant):
            print(f"error: --tenant: no tenant {tenant!r}", file=sys.stderr)
            return 2
        evidence = EvidenceLog(db, writer, accounts.keyring)
        service = Privacy(db, writer, accounts.keyring, settle=_settle_evidence(evidence))
        if args.privacy_command == "purge":
            out = await service.purge(tenant)
            if out is None:
                print("error: a purge is running in another process", file=sys.stderr)
                return 1
        else:
            raw = args.to if args.to is not None else sys.stdin.readline().strip()
            try:
                to = subject_number({"to": raw})
            except Problem:
                print("error: --to: not a phone number", file=sys.stderr)
                return 2
            if args.privacy_command == "export":
                out = await service.export(tenant, to)
            else:
                try:
                    out = await service.erase(tenant, to, source="cli")
                except ErasureInFlight as exc:
                    print(f"error: {exc}; cancel them or wait until they end", file=sys.stderr)
                    return 1
    finally:
        await writer.stop()
        await db.dispose()
    sys.stdout.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


async def tune_gc(app: web.Application) -> None:
    """Once everything is up: what exists now lives as long as the process, so the cyclic
    collector stops re-scanning it (gc.freeze), and it runs after 100k allocations rather than
    700 — the hot paths allocate many short-lived objects that reference counting frees anyway.
    Measured with bench/dispatch.py: server CPU per message 0.57 → 0.49 ms."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): the HTTP server, the MaaP client and the
    callbacks all run on this one loop, and uvloop's costs less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve(settings: Settings, *, worker: int = 0, reuse_port: bool = False) -> None:
    """Serve the app on host:port until SIGINT/SIGTERM; API workers share the port (reuse_port)."""
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        if worker:
            return  # the first worker speaks for them all
        info_path = settings.data_dir / DEMO_TENANT_FILE
        what = {ROLE_ALL: "serving", ROLE_API: "serving the API"}[settings.role]
        lines = [
            f"Hongyan is {what} on {settings.base_url}",
            f"  API docs:    {settings.base_url}/docs (the document: /openapi.json)",
            f"  card editor: {settings.base_url}/editor (sign in with a login, or an API key)",
            f"  dashboard:   {settings.base_url}/editor/dashboard",
        ]
        if settings.embedded and info_path.exists():
            info = json.loads(info_path.read_text())
            lines += [f"  demo tenant: {info['tenant_id']}", f"  demo API key: {info['api_key']}"]
            if "test_api_key" in info:
                lines.append(f"  demo test key (simulators only, never billed): {info['test_api_key']}")
            if "owner_login" in info:
                lines.append(f"  web UI sign-in: login {info['owner_login']}, password {info['owner_password']}")
        sandbox = app.get(SANDBOX)
        if sandbox is not None and sandbox.maap is not None:
            lines.append(f"  virtual handset (sandbox MaaP): {sandbox.maap.url}/handset")
        if sandbox is not None and sandbox.smsc is not None:
            lines.append(f"  sandbox SMSC (SMPP): {sandbox.smsc.host}:{sandbox.smsc.port}")
            lines.append(f"  SMS inboxes (sandbox SMSC): {sandbox.smsc.http_url}")
        if sandbox is not None and sandbox.cm is not None:
            lines.append(f"  China Mobile MaaP (sandbox `cm` channels' server_root): {sandbox.cm.url}")
        if sandbox is not None and sandbox.rbm is not None:
            lines.append(f"  Google RBM API (sandbox `rbm` channels' server_root): http://{sandbox.rbm.root}")
        print("\n".join(lines), file=sys.stderr, flush=True)

    app.on_startup.append(announce)
    app.on_startup.append(tune_gc)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log_class=AccessLogger,  # no query values, short-link tokens cut to a prefix
        loop=new_event_loop(),
        reuse_port=reuse_port or None,
    )


def _dispatch(settings: Settings, *, worker: int = 0, metrics_port: int | None = None) -> None:
    """Run dispatch and the background jobs until SIGINT/SIGTERM; with a metrics port, serve
    /healthz, /readyz and /metrics on it (worker i on port + i: each is scraped on its own)."""
    app = create_app(settings)
    app.on_startup.append(tune_gc)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()  # every cleanup context started: the dispatcher claims from here on
        try:
            if metrics_port is not None:
                await web.TCPSite(runner, settings.host, metrics_port + worker).start()
            where = f", health and metrics on {settings.host}:{metrics_port + worker}" if metrics_port else ""
            log.info("dispatch worker %d running (pid %d%s)", worker, os.getpid(), where)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    loop = new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


def run_workers(count: int, run: Callable[[int], None]) -> int:
    """Run `run(i)` in `count` forked processes (one: in this one). The parent passes SIGINT and
    SIGTERM on and waits; when one worker ends the parent stops the others and exits with the
    first one's code, so the service manager restarts the set (nothing half-alive)."""
    if count == 1:
        run(0)
        return 0
    children: dict[int, int] = {}
    for i in range(count):
        pid = os.fork()  # before any event loop, engine or thread exists
        if pid == 0:
            code = 1
            try:
                run(i)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", i)
            finally:
                os._exit(code)
        children[pid] = i

    stopping = False

    def forward(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    first: int | None = None
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        worker = children.pop(pid, None)
        if worker is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if first is None:
            first = code
            if children and not stopping:
                log.warning("worker %d ended (code %d): stopping the others", worker, code)
                forward(signal.SIGTERM, None)
    return first or 0


async def _simulators(settings: Settings, args: argparse.Namespace) -> int:
    """`simulators`: the sandbox MaaP and SMSC as their own process, for `serve` and `dispatch`
    processes to share. Callbacks go to the public base URL's /rcs. One line of JSON on stdout
    says where they listen (HONGYAN_MAAP_URL and HONGYAN_SMSC_ADDRESS to give the others)."""
    credentials = channel_credentials(replace(settings, sandbox=True))
    maap = MaapSimulator(
        settings.host,
        settings.maap_port,
        f"{settings.base_url}{CALLBACK_PREFIX}",
        credentials.callback_token.reveal(),
        app_id=credentials.app_id,
        app_key=credentials.app_key.reveal(),
        chatbot_id=credentials.chatbot_id,
        timing=SimulatorTiming(
            delivery_delay_s=args.delivery_delay,
            display_delay_s=args.display_delay,
            **({} if settings.sandbox_max_messages is None else {"max_messages": settings.sandbox_max_messages}),
        ),
    )
    smsc = SmscSimulator(
        settings.host,
        settings.smsc_port,
        receipt_delay=args.receipt_delay,
        credentials={SANDBOX_SYSTEM_ID: SANDBOX_PASSWORD},
        http_port=args.inbox_port,
    )
    # China Mobile's and RBM's: no channel store here, so their chatbots are the public sandbox
    # one (China Mobile) and agents onboarded on the simulator (RBM: a key with a client token).
    cm = CmNetApiSimulator(
        callback_base_url=f"{settings.base_url}{CALLBACK_PREFIX}",
        timing=maap.timing,
        host=settings.host,
        port=settings.cm_port,
    )
    cm.add_chatbot(
        cm_simulator.SANDBOX_CHATBOT_URI,
        cm_simulator.SANDBOX_APP_ID,
        cm_simulator.SANDBOX_TOKEN,
        cm_simulator.SANDBOX_CALLBACK_TOKEN,
    )
    rbm = RbmSimulator(
        timing=maap.timing,
        host=settings.host,
        port=settings.rbm_port,
        webhook_base=f"{settings.base_url}{CALLBACK_PREFIX}/rbm",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with maap, smsc, cm, rbm:
        where = {
            "maap_url": maap.url,
            "smsc_address": f"{smsc.host}:{smsc.port}",
            "inbox_url": smsc.http_url,
            "callback_url": maap.callback_base_url,
            "cm_url": cm.url,
            "rbm_url": f"http://{rbm.root}",
        }
        print(
            f"sandbox MaaP on {maap.url} (handset: {maap.url}/handset), calling back {maap.callback_base_url}\n"
            f"sandbox SMSC (SMPP) on {smsc.host}:{smsc.port}, SMS inboxes on {smsc.http_url}\n"
            f"sandbox China Mobile MaaP on {cm.url} (chatbot {cm_simulator.SANDBOX_CHATBOT_URI}), RBM API on http://{rbm.root}\n"
            f"give the other processes HONGYAN_MAAP_URL={maap.url} HONGYAN_SMSC_ADDRESS={smsc.host}:{smsc.port}",
            file=sys.stderr,
            flush=True,
        )
        print(json.dumps(where, separators=(",", ":")), flush=True)
        await stop.wait()
    return 0


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(settings: Settings) -> None:
    """stderr at the settings' level, as text or one JSON object a line (`HONGYAN_LOG_FORMAT=json`),
    every record with its request id, phone numbers and link tokens masked."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    security.logs.install()  # after basicConfig: it attaches to the handlers that exist


def _run_role(settings: Settings, args: argparse.Namespace) -> int:
    """`serve` / `dispatch`: one role of a split deployment on PostgreSQL, in `--workers` processes.
    SQLite has one writing process: there `serve` runs everything in it, as it always has."""
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if settings.embedded:
        if args.command == "dispatch" or args.workers > 1:
            print(
                f"error: `{args.command}{' --workers' if args.workers > 1 else ''}` needs PostgreSQL "
                "(HONGYAN_DATABASE_URL): SQLite has one writing process, which runs everything — "
                "`server.py` or `server.py serve` with one worker (docs/deployment.md)",
                file=sys.stderr,
            )
            return 2
        _serve(settings)
        return 0
    if args.command == "serve":
        api = replace(settings, role=ROLE_API)
        log.info("serving the API only: `server.py dispatch` sends (no subcommand runs everything in one process)")
        return run_workers(args.workers, lambda i: _serve(api, worker=i, reuse_port=True))
    dispatch = replace(settings, role=ROLE_DISPATCH)
    return run_workers(args.workers, lambda i: _dispatch(dispatch, worker=i, metrics_port=args.metrics_port))


MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (before any thread starts). Each thread that allocates while
    another holds an arena gets one of its own, up to 8 a core (the database connections'
    threads, the group writer's, the executor's), and what a thread frees stays in its arena: a
    busy server's RSS crept on with no Python object growing. MALLOC_ARENA_MAX in the environment
    (glibc's own setting) wins; on other C libraries this does nothing."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    configure_logging(settings)
    command = args.command
    if command is None:
        _serve(settings)
        return 0
    if command in ("serve", "dispatch"):
        return _run_role(settings, args)
    if command == "simulators":
        return asyncio.run(_simulators(settings, args))
    if command == "migrate":
        asyncio.run(_migrate(settings))
        print("database schema is current", file=sys.stderr)
    elif command == "tenant":
        try:
            out = asyncio.run(_tenant_create(settings, args))
        except SignatureInvalid as exc:
            print(f"error: --signature: {exc}", file=sys.stderr)
            return 2
        except TenantNameInvalid as exc:
            print(f"error: NAME: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(out, separators=(",", ":")), flush=True)
    elif command == "keys":
        return asyncio.run(_keys_rotate(settings, args.keys_command))
    elif command == "user":
        return asyncio.run(_user_create(settings, args))
    elif command == "evidence":
        return asyncio.run(_evidence_verify(settings))
    elif command == "words":
        return asyncio.run(_words(settings, args))
    elif command == "privacy":
        return asyncio.run(_privacy(settings, args))
    elif command == "billing":
        return asyncio.run(_billing_admin_key(settings, args))
    elif command == "ported-numbers":
        return asyncio.run(_ported_numbers(settings, args))
    return 0


if __name__ == "__main__":
    # Run through the importable module so `server.SETTINGS` etc. are the same objects that
    # domain packages import (as __main__ they would be a second copy).
    from server import main as _main

    sys.exit(_main())
