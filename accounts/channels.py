"""Per-brand chatbot channels: a tenant's own chatbot at an operator, instead of the platform's
default channel.

`ChannelService` stores them (credentials sealed with the tenant's data key, never shown again),
validates what the API is given (`ChannelCreate`, `ChannelUpdate`; errors are a `Problem` naming
each field by JSON Pointer) and answers what dispatch needs: the tenant's active channel with its
credentials opened (`for_tenant`), the channel a callback is for (`by_chatbot_id`), and a cheap
`versions()` map to notice edits made by any process. No web stack here: the HTTP edge is
`accounts.channels_http`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, SecretStr, ValidationError, WithJsonSchema
from sqlalchemy import Connection, and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

import security
from accounts.tables import channels
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem, pointer
from rcs.rbm_keys import MAX_KEY_TEXT, ServiceAccount
from security.addresses import host_refusal
from security.secrets import Secret
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch

log = logging.getLogger("hongyan.channels")

# Operator code → the rcs.operators interface that speaks to it. The sandbox MaaP speaks the
# CN CSP interface too; China Mobile its OMA NetAPI chatbot interface, Google RBM its own.
INTERFACES = {"ct": "cn_csp", "cu": "cn_csp", "cm": "cm_netapi", "sandbox": "cn_csp", "rbm": "rbm"}
OPERATORS = tuple(INTERFACES)
NOT_SUPPORTED_YET: dict[str, str] = {}
STATUSES = ("active", "disabled")
AUDIT_STATES = ("none", "in_review", "approved", "rejected")
# Where an operator calls back: <public base URL>/rcs/…/<chatbot id>/…
NOTIFY_PATH = "/rcs"
MAX_CHANNELS = 16  # per tenant
MAX_SERVER_ROOT = 255
MAX_CHATBOT_ID = 300
MAX_APP_ID = 128
MAX_SECRET = 256
MAX_REASON = 500
DEFAULT_PAGE = 50
MAX_PAGE = 200
_TABLE = "channels"  # the table name the sealed values are bound to

_DIGITS = re.compile(r"[0-9]{1,32}")
_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
RBM_AGENT_DOMAIN = "rbm.goog"  # Google RBM agents' SIP domain
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_PORT = re.compile(r"[0-9]{1,5}")
_VISIBLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


# -- values ------------------------------------------------------------------------------
def _dns_name(host: str, *, min_labels: int) -> bool:
    labels = host.split(".")
    return (
        len(host) <= 253
        and len(labels) >= min_labels
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def canonical_chatbot_id(value: str) -> str:
    """The chatbot's SIP URI in its one stored form, `sip:<digits>@<lowercase domain>`; ValueError
    says what is wrong. Callbacks look channels up by this form too."""
    if not isinstance(value, str) or len(value) > MAX_CHATBOT_ID:
        raise ValueError(f"must be a SIP URI sip:<digits>@<domain> of at most {MAX_CHATBOT_ID} characters")
    scheme, colon, rest = value.partition(":")
    user, at, domain = rest.partition("@")
    if scheme.lower() != "sip" or not colon or not at:
        raise ValueError("must be a SIP URI sip:<digits>@<domain>, e.g. sip:12520001@botplatform.rcs.chinaunicom.cn")
    if domain.lower() == RBM_AGENT_DOMAIN:  # a Google RBM agent: sip:<agent id>@rbm.goog
        if not _AGENT_ID.fullmatch(user):
            raise ValueError("an RBM agent's id is 1 to 100 lowercase letters, digits, _ and -")
        return f"sip:{user}@{RBM_AGENT_DOMAIN}"
    if not _DIGITS.fullmatch(user):
        raise ValueError("the part before @ must be the chatbot's number: 1 to 32 digits")
    domain = domain.lower()
    if not _dns_name(domain, min_labels=2):
        raise ValueError("the part after @ must be a domain name, e.g. botplatform.rcs.chinaunicom.cn")
    return f"sip:{user}@{domain}"


@dataclass(frozen=True)
class ServerRoot:
    scheme: str  # https | http
    root: str  # host[:port][/base], host lowercased, no trailing slash
    host: str  # without brackets or port


def parse_server_root(value: str) -> ServerRoot:
    """`host[:port][/base]`, optionally after `https://` (or `http://`); ValueError says what is wrong.
    Whether http and the host are allowed for a channel is the service's policy (`ChannelService`)."""
    if not isinstance(value, str) or not value or len(value) > MAX_SERVER_ROOT:
        raise ValueError(f"must be host[:port][/base] of at most {MAX_SERVER_ROOT} characters")
    if any(c.isspace() or c in "?#@\\" for c in value) or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise ValueError("must be host[:port][/base]: no spaces, query, fragment, credentials or non-ASCII characters")
    scheme = "https"
    rest = value
    if "://" in value:
        given, rest = value.split("://", 1)
        scheme = given.lower()
        if scheme not in ("https", "http"):
            raise ValueError("must be host[:port][/base], or start with https://")
    authority, slash, path = rest.partition("/")
    if authority.startswith("["):  # an IPv6 literal
        inside, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise ValueError("an IPv6 address must be in brackets, e.g. [2001:db8::1]:443")
        host, port = inside, after[1:] if after.startswith(":") else None
        if after and port is None:
            raise ValueError("expected :port after the IPv6 address")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("the host is not a valid IPv6 address") from None
        shown = f"[{host.lower()}]"
    else:
        host, colon, port_text = authority.partition(":")
        port = port_text if colon else None
        host = host.lower()
        if not host or not _host_ok(host):
            raise ValueError("the host must be a domain name or an IP address")
        shown = host
    if port is not None:
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
            raise ValueError("the port must be 1 to 65535")
        shown += f":{int(port)}"
    base = ""
    if slash:
        segments = path.rstrip("/").split("/") if path.rstrip("/") else []
        for segment in segments:
            if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
                raise ValueError("the base path may hold only letters, digits and . _ ~ - between slashes")
        base = "".join("/" + s for s in segments)
    return ServerRoot(scheme, shown + base, host.lower())


def _host_ok(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return _dns_name(host, min_labels=1)


def _operator(value: str) -> str:
    if value in NOT_SUPPORTED_YET:
        raise ValueError(
            f"{NOT_SUPPORTED_YET[value]} ({value}) is not supported yet; use one of {', '.join(OPERATORS)}"
        )
    if value not in INTERFACES:
        raise ValueError(f"must be one of {', '.join(OPERATORS)}")
    return value


def _status(value: str) -> str:
    if value not in STATUSES:
        raise ValueError(f"must be one of {', '.join(STATUSES)}")
    return value


def _server_root(value: str) -> str:
    parsed = parse_server_root(value)
    return f"{parsed.scheme}://{parsed.root}"


def _app_id(value: str) -> str:
    if not 1 <= len(value) <= MAX_APP_ID or not _VISIBLE.fullmatch(value):
        raise ValueError(f"must be 1 to {MAX_APP_ID} printable ASCII characters without spaces")
    return value


def _secret(value: SecretStr) -> SecretStr:
    # Never echo the value: these messages end up in API answers.
    raw = value.get_secret_value()
    if not 1 <= len(raw) <= MAX_SECRET:
        raise ValueError(f"must be 1 to {MAX_SECRET} characters")
    if raw != raw.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise ValueError("must not start or end with whitespace or hold control characters")
    return value


_SECRET_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_SECRET,
    "format": "password",
    "writeOnly": True,
    "description": "Stored sealed; never returned (the channel shows whether it is set).",
}
Operator = Annotated[
    str,
    AfterValidator(_operator),
    WithJsonSchema(
        {
            "enum": list(OPERATORS),
            "description": "ct: China Telecom, cu: China Unicom, cm: China Mobile, sandbox, rbm: Google RBM",
        }
    ),
]
ServerRootText = Annotated[
    str,
    AfterValidator(_server_root),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_SERVER_ROOT,
            "description": "host[:port][/base] of the operator's MaaP, optionally after https:// "
            "(http:// only for the sandbox), e.g. maap.example.cn/csp",
        }
    ),
]
ChatbotId = Annotated[
    str,
    AfterValidator(canonical_chatbot_id),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_CHATBOT_ID,
            "pattern": "^[sS][iI][pP]:([0-9]{1,32}@[A-Za-z0-9.-]+|[a-z0-9][a-z0-9_-]{0,99}@rbm\\.goog)$",
            "description": "The chatbot's SIP URI, e.g. sip:12520001@botplatform.rcs.chinaunicom.cn; "
            "a Google RBM agent's is sip:<agent id>@rbm.goog",
        }
    ),
]
AppId = Annotated[
    str,
    AfterValidator(_app_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_APP_ID, "pattern": "^[\\x21-\\x7e]+$"}),
]
SecretText = Annotated[SecretStr, AfterValidator(_secret), WithJsonSchema(_SECRET_SCHEMA)]


def _key(value: SecretStr) -> SecretStr:
    """An app key, or (operator rbm) the service-account key file's JSON: longer, and may hold
    line breaks. Whether it fits the operator is `ChannelService`'s check."""
    raw = value.get_secret_value()
    if not raw.startswith("{"):
        return _secret(value)
    if len(raw) > MAX_KEY_TEXT:
        raise ValueError(f"a service-account key holds at most {MAX_KEY_TEXT} characters")
    if raw != raw.strip() or any((ord(c) < 0x20 and c not in "\n\r\t") or ord(c) == 0x7F for c in raw):
        raise ValueError("must not start or end with whitespace or hold control characters")
    return value


KeyText = Annotated[
    SecretStr,
    AfterValidator(_key),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_SECRET},
                {"type": "string", "pattern": "^\\{", "maxLength": MAX_KEY_TEXT},
            ],
            "format": "password",
            "writeOnly": True,
            "description": "Stored sealed; never returned. Operator rbm: the agent's service-account key (JSON).",
        }
    ),
]
Status = Annotated[str, AfterValidator(_status), WithJsonSchema({"enum": list(STATUSES)})]


# -- API models --------------------------------------------------------------------------
class ChannelCreate(SQLModel):
    """POST /v1/channels."""

    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    operator: Operator
    server_root: ServerRootText
    chatbot_id: ChatbotId
    app_id: AppId
    app_key: KeyText
    callback_token: SecretText
    status: Status = "active"


class ChannelUpdate(SQLModel):
    """PATCH /v1/channels/{id}: only the fields given change; a secret may be replaced, never read."""

    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    # Absent means unchanged (None is never a valid value: null is refused as a wrong type).
    operator: Operator = Field(default=None)
    server_root: ServerRootText = Field(default=None)
    chatbot_id: ChatbotId = Field(default=None)
    app_id: AppId = Field(default=None)
    app_key: KeyText = Field(default=None)
    callback_token: SecretText = Field(default=None)
    status: Status = Field(default=None)


def _shown(schema: dict) -> Any:
    return WithJsonSchema(schema, mode="serialization")


_TIME = {"type": "string", "format": "date-time"}


class ChannelView(SQLModel):
    """What the API shows of a channel: never a credential, only whether it is set."""

    id: str
    operator: Annotated[str, _shown({"enum": list(OPERATORS)})]
    server_root: Annotated[str, _shown({"type": "string", "description": "host[:port][/base]"})]
    scheme: Annotated[str, _shown({"enum": ["https", "http"]})]
    chatbot_id: str
    app_id: str
    app_key_set: bool
    callback_token_set: bool
    status: Annotated[str, _shown({"enum": list(STATUSES)})]
    profile_audit: Annotated[
        str, _shown({"enum": list(AUDIT_STATES), "description": "The operator's audit of the chatbot's profile"})
    ]
    profile_audit_reason: Annotated[
        str | None, _shown({"type": ["string", "null"], "description": "Why the profile was rejected"})
    ]
    profile_audit_at: Annotated[str | None, _shown({"type": ["string", "null"], "format": "date-time"})]
    notify_url: Annotated[
        str,
        _shown(
            {
                "type": "string",
                "format": "uri",
                "description": "Register this as the chatbot's notify URL at the operator",
            }
        ),
    ]
    created_at: Annotated[str, _shown(_TIME)]
    updated_at: Annotated[str, _shown(_TIME)]


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
}


def _problem(exc: ValidationError) -> Problem:
    errors = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        message = _MESSAGES.get(e["type"]) or e["msg"].removeprefix("Value error, ")
        errors.append(FieldError(pointer(*e["loc"]), message))
    return Problem(422, f"{len(errors)} field(s) are invalid", errors)


def problem_of(exc: ValidationError) -> Problem:
    """The 422 Problem for a pydantic model's validation errors, each field a JSON Pointer."""
    return _problem(exc)


def parse_create(body: Mapping[str, Any]) -> ChannelCreate:
    """The channel in a POST body, or a 422 Problem naming every wrong field."""
    try:
        return ChannelCreate.model_validate(dict(body))
    except ValidationError as exc:
        raise _problem(exc) from None


def parse_update(body: Mapping[str, Any]) -> ChannelUpdate:
    """The changes in a PATCH body, or a 422 Problem naming every wrong field."""
    try:
        return ChannelUpdate.model_validate(dict(body))
    except ValidationError as exc:
        raise _problem(exc) from None


# -- what dispatch gets --------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelConfig:
    """One channel with its credentials opened, for building and checking an operator client."""

    id: str
    tenant_id: str
    operator: str  # ct | cu | sandbox
    interface: str  # the rcs.operators module that speaks to it (cn_csp)
    server_root: str  # host[:port][/base]
    scheme: str  # https (http only for the sandbox)
    chatbot_id: str
    app_id: str
    app_key: Secret = field(repr=False)
    callback_token: Secret = field(repr=False)
    status: str  # active | disabled
    profile_audit: str
    # Grows with every change of the channel: rebuild a client when it differs.
    updated_ms: int
    # Outside the sandbox the client connects only to public addresses (the brand chose the host).
    public_only: bool = False

    @property
    def active(self) -> bool:
        return self.status == "active"

    def maap_config(self) -> dict:
        """The `from_config` mapping of the operator interface (reveals the app key: hand it
        straight to the client, never log it)."""
        config: dict = {
            "server_root": self.server_root,
            "scheme": self.scheme,
            "chatbot_id": self.chatbot_id,
            "app_id": self.app_id,
            "app_key": self.app_key.reveal(),
        }
        if self.public_only:
            config["public_only"] = True
        return config


Listener = Callable[[str, str], None]


# -- the service ---------------------------------------------------------------------------
class ChannelService:
    """Stores tenants' chatbot channels and hands them to dispatch, credentials opened."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        *,
        public_base_url: str,
        clock: Clock | None = None,
        ensure_keys: Callable[[str], Awaitable[None]] | None = None,
        allow_private: bool = False,
        reserved_chatbot_ids: tuple[str, ...] = (),
        id_factory: Callable[[], str] = new_id,
    ):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.notify_url = public_base_url.rstrip("/") + NOTIFY_PATH
        # A tenant's data keys may have been made by another process (callbacks are for any tenant).
        self.ensure_keys = ensure_keys
        # Loopback and private hosts: the embedded sandbox's simulators; refused in production.
        self.allow_private = allow_private
        # Chatbots no tenant may register (the platform's default channel's).
        self.reserved = frozenset(_canonical_or_none(c) for c in reserved_chatbot_ids) - {None}
        self.new_id = id_factory
        self._listeners: list[Listener] = []

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(tenant_id, channel_id)` after each change this process commits (other
        processes' changes show in `versions()`)."""
        self._listeners.append(listener)

    # -- the API -------------------------------------------------------------------------
    async def create_channel(self, tenant_id: str, data: ChannelCreate | Mapping[str, Any]) -> dict:
        """Store a new channel (201 view); 422 for invalid fields, 409 for a chatbot already
        registered or a second active channel."""
        new = data if isinstance(data, ChannelCreate) else parse_create(data)
        root = parse_server_root(new.server_root)
        given = {"operator", "server_root", "chatbot_id", "app_id", "app_key"}
        self._check_policy(new.operator, root, new.chatbot_id, given=given, app_id=new.app_id, app_key=new.app_key)
        async with self.db.read.connect() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(channels).where(channels.c.tenant_id == tenant_id))
            ).scalar_one()
            if count >= MAX_CHANNELS:
                raise Problem(422, f"a tenant can have at most {MAX_CHANNELS} channels", [FieldError("", "too many")])
            await self._check_free(conn, tenant_id, None, new.chatbot_id, new.status == "active")
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        now_ms = self._now_ms()
        cid = self.new_id()
        row = {
            "id": cid,
            "tenant_id": tenant_id,
            "operator": new.operator,
            "server_root": root.root,
            "scheme": root.scheme,
            "chatbot_id": new.chatbot_id,
            "app_id": new.app_id,
            "app_key_enc": self._seal(tenant_id, "app_key", cid, new.app_key),
            "callback_token_enc": self._seal(tenant_id, "callback_token", cid, new.callback_token),
            "status": new.status,
            "profile_audit": "none",
            "profile_audit_reason": None,
            "profile_audit_ms": None,
            "created_ms": now_ms,
            "updated_ms": now_ms,
        }
        try:
            await self.writer.write(WriteBatch().insert(channels, row))
        except IntegrityError as exc:
            raise _conflict(exc) from None
        log.info("channel %s created for tenant %s (operator %s)", cid, tenant_id, new.operator)
        self._changed(tenant_id, cid)
        return self._view(row)

    async def list_channels(
        self, tenant_id: str, *, cursor: str | None = None, limit: int = DEFAULT_PAGE
    ) -> tuple[list[dict], str | None]:
        """A page of the tenant's channels, oldest first, and the next page's cursor (None at the end)."""
        query = select(channels).where(channels.c.tenant_id == tenant_id)
        if cursor is not None:
            query = query.where(channels.c.id > decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(channels.c.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self._view(r._mapping) for r in rows], (encode_cursor(rows[-1].id) if more and rows else None)

    async def get_channel(self, tenant_id: str, channel_id: str) -> dict | None:
        """The tenant's channel, or None (also for another tenant's)."""
        row = await self._row(tenant_id, channel_id)
        return self._view(row) if row is not None else None

    async def update_channel(
        self, tenant_id: str, channel_id: str, data: ChannelUpdate | Mapping[str, Any]
    ) -> dict | None:
        """Change the fields given (the others stay); None when the tenant has no such channel.
        A new chatbot id starts over with no profile audit."""
        changes = data if isinstance(data, ChannelUpdate) else parse_update(data)
        given = set(changes.model_fields_set)
        for _attempt in range(5):
            row = await self._row(tenant_id, channel_id)
            if row is None:
                return None
            if not given:
                return self._view(row)
            values = self._changed_values(row, changes, given)
            merged = {**row, **values}
            root = ServerRoot(merged["scheme"], merged["server_root"], _host_of(merged["server_root"]))
            self._check_policy(
                merged["operator"],
                root,
                merged["chatbot_id"],
                given=given,
                app_id=merged["app_id"],
                app_key=changes.app_key,
            )
            async with self.db.read.connect() as conn:
                await self._check_free(
                    conn,
                    tenant_id,
                    channel_id,
                    merged["chatbot_id"] if "chatbot_id" in values else None,
                    "status" in values and merged["status"] == "active",
                )
            if self.ensure_keys is not None and ({"app_key", "callback_token"} & given):
                await self.ensure_keys(tenant_id)
            for name in ("app_key", "callback_token"):
                if name in given:
                    values[f"{name}_enc"] = self._seal(tenant_id, name, channel_id, getattr(changes, name))
            values["updated_ms"] = max(self._now_ms(), row["updated_ms"] + 1)
            # Only if nobody changed the row since it was read (else read it again).
            stmt = (
                update(channels)
                .where(
                    channels.c.id == channel_id,
                    channels.c.tenant_id == tenant_id,
                    channels.c.updated_ms == row["updated_ms"],
                )
                .values(**values)
            )
            if not await self._write(stmt):
                continue
            log.info("channel %s of tenant %s changed (%s)", channel_id, tenant_id, ", ".join(sorted(given)))
            self._changed(tenant_id, channel_id)
            return self._view({**row, **values})
        raise Problem(409, "the channel is being changed by another request; try again")

    async def delete_channel(self, tenant_id: str, channel_id: str) -> bool:
        """Delete the tenant's channel (its messages go out on the default channel again); False if unknown."""
        stmt = delete(channels).where(channels.c.id == channel_id, channels.c.tenant_id == tenant_id)
        if not await self._write(stmt):
            return False
        log.info("channel %s of tenant %s deleted", channel_id, tenant_id)
        self._changed(tenant_id, channel_id)
        return True

    # -- for dispatch and the callbacks ----------------------------------------------------
    async def for_tenant(self, tenant_id: str) -> ChannelConfig | None:
        """The tenant's active channel with its credentials opened; None: use the default channel."""
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(channels).where(channels.c.tenant_id == tenant_id, channels.c.status == "active")
                )
            ).first()
        return await self._config(row._mapping) if row is not None else None

    async def config_of(self, tenant_id: str, channel_id: str) -> ChannelConfig | None:
        """One of the tenant's channels (any status) with its credentials opened, or None (also
        for another tenant's): what publishing its chatbot's menu and profile goes through."""
        row = await self._row(tenant_id, channel_id)
        return await self._config(row) if row is not None else None

    async def by_chatbot_id(self, chatbot_id: str) -> ChannelConfig | None:
        """The channel of this chatbot (any tenant, any status: callbacks for messages sent before
        a channel was disabled still arrive), or None. Look at `.status` before sending on it."""
        canonical = _canonical_or_none(chatbot_id)
        if canonical is None:
            return None
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(channels).where(channels.c.chatbot_id == canonical))).first()
        return await self._config(row._mapping) if row is not None else None

    async def of_operator(self, operator: str) -> list[ChannelConfig]:
        """Every channel at one operator (e.g. the sandbox's, to provision them on its simulator)."""
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(channels).where(channels.c.operator == operator))).all()
        return [await self._config(row._mapping) for row in rows]

    async def versions(self) -> dict[str, int]:
        """Every channel's id → `updated_ms` (one small query): compare with the last answer to
        see what was added, changed or deleted, by this process or any other."""
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(channels.c.id, channels.c.updated_ms))).all()
        return {r.id: r.updated_ms for r in rows}

    async def set_profile_audit(self, chatbot_id: str, state: str, reason: str | None = None) -> bool:
        """Record the operator's audit result for a chatbot's profile (from its audit callback);
        the reason is kept for `rejected` only. False when no channel has this chatbot."""
        if state not in AUDIT_STATES:
            raise ValueError(f"audit state must be one of {', '.join(AUDIT_STATES)}")
        canonical = _canonical_or_none(chatbot_id)
        if canonical is None:
            return False
        now_ms = self._now_ms()
        kept = reason[:MAX_REASON] if reason and state == "rejected" else None
        stmt = (
            update(channels)
            .where(channels.c.chatbot_id == canonical)
            .values(
                profile_audit=state,
                profile_audit_reason=kept,
                profile_audit_ms=now_ms,
                updated_ms=case((channels.c.updated_ms >= now_ms, channels.c.updated_ms + 1), else_=now_ms),
            )
        )
        if not await self._write(stmt):
            return False
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(channels.c.tenant_id, channels.c.id).where(channels.c.chatbot_id == canonical)
                )
            ).first()
        if row is not None:
            self._changed(row.tenant_id, row.id)
        return True

    # -- internals -----------------------------------------------------------------------
    def _check_policy(
        self,
        operator: str,
        root: ServerRoot,
        chatbot_id: str,
        *,
        given: set[str],
        app_id: str | None = None,
        app_key: SecretStr | None = None,
    ) -> None:
        """What depends on more than one field, or on where this server runs."""
        where = "/server_root" if "server_root" in given or "operator" not in given else "/operator"
        errors = []
        # Only what this request changes: a stored channel stays editable (e.g. to disable it).
        # http: the sandbox operator, or a simulator on loopback where private hosts are allowed
        # (the RBM simulator on any private host there).
        loopback = self.allow_private and _is_loopback(root.host)
        plain_ok = operator == "sandbox" or loopback or (operator == "rbm" and self.allow_private)
        if root.scheme != "https" and not plain_ok and {"operator", "server_root"} & given:
            errors.append(FieldError(where, f"must be https for operator {operator} (http only for the sandbox)"))
        errors.extend(_credential_errors(operator, chatbot_id, app_id, app_key, given))
        refusal = host_refusal(root.host) if "server_root" in given and not self.allow_private else None
        if refusal:
            errors.append(FieldError("/server_root", f"the host {refusal}"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        if "chatbot_id" in given and chatbot_id in self.reserved:
            raise Problem(409, "this chatbot is the platform's own", [FieldError("/chatbot_id", "reserved")])

    async def _check_free(
        self, conn, tenant_id: str, channel_id: str | None, chatbot_id: str | None, activating: bool
    ) -> None:
        """409 when the chatbot is registered already, or the tenant already has an active channel.
        (The unique indexes decide races; this gives the usual case a clear answer.)"""
        if chatbot_id is not None:
            taken = (
                await conn.execute(select(channels.c.id).where(channels.c.chatbot_id == chatbot_id))
            ).scalar_one_or_none()
            if taken is not None and taken != channel_id:
                raise _chatbot_taken()
        if activating:
            active = and_(channels.c.tenant_id == tenant_id, channels.c.status == "active")
            if channel_id is not None:
                active = and_(active, channels.c.id != channel_id)
            other = (await conn.execute(select(channels.c.id).where(active))).scalar_one_or_none()
            if other is not None:
                raise _active_taken(other)

    def _changed_values(self, row: Mapping[Any, Any], changes: ChannelUpdate, given: set[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in ("operator", "app_id", "status"):
            if name in given:
                values[name] = getattr(changes, name)
        if "server_root" in given:
            root = parse_server_root(changes.server_root)
            values["server_root"], values["scheme"] = root.root, root.scheme
        if "chatbot_id" in given and changes.chatbot_id != row["chatbot_id"]:
            values["chatbot_id"] = changes.chatbot_id
            # Another chatbot: the operator has not audited its profile.
            values.update(profile_audit="none", profile_audit_reason=None, profile_audit_ms=None)
        return values

    def _seal(self, tenant_id: str, column: str, channel_id: str, value: SecretStr) -> bytes:
        return self.keyring.seal(tenant_id, _TABLE, column, channel_id, value.get_secret_value().encode())

    def _open(self, tenant_id: str, column: str, channel_id: str, blob: bytes) -> Secret:
        return Secret(self.keyring.open(tenant_id, _TABLE, column, channel_id, blob).decode())

    async def _config(self, row: Mapping[Any, Any]) -> ChannelConfig:
        tenant_id, cid = row["tenant_id"], row["id"]
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        return ChannelConfig(
            id=cid,
            tenant_id=tenant_id,
            operator=row["operator"],
            interface=INTERFACES[row["operator"]],
            server_root=row["server_root"],
            scheme=row["scheme"],
            chatbot_id=row["chatbot_id"],
            app_id=row["app_id"],
            app_key=self._open(tenant_id, "app_key", cid, row["app_key_enc"]),
            callback_token=self._open(tenant_id, "callback_token", cid, row["callback_token_enc"]),
            status=row["status"],
            profile_audit=row["profile_audit"],
            updated_ms=row["updated_ms"],
            public_only=not self.allow_private,
        )

    async def _row(self, tenant_id: str, channel_id: str) -> dict | None:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(channels).where(channels.c.id == channel_id, channels.c.tenant_id == tenant_id)
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    async def _write(self, stmt) -> bool:
        """Run one UPDATE or DELETE through the group writer; whether it touched a row."""
        counts: list[int] = []

        def run(conn: Connection) -> None:
            counts[:] = [conn.execute(stmt).rowcount]

        try:
            await self.writer.write(WriteBatch().run(run))
        except IntegrityError as exc:
            raise _conflict(exc) from None
        return bool(counts and counts[0])

    def _changed(self, tenant_id: str, channel_id: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(tenant_id, channel_id)
            except Exception:
                log.exception("a channel listener failed")

    def _view(self, row: Mapping[Any, Any]) -> dict:
        audit_ms = row["profile_audit_ms"]
        return ChannelView(
            id=row["id"],
            operator=row["operator"],
            server_root=row["server_root"],
            scheme=row["scheme"],
            chatbot_id=row["chatbot_id"],
            app_id=row["app_id"],
            app_key_set=bool(row["app_key_enc"]),
            callback_token_set=bool(row["callback_token_enc"]),
            status=row["status"],
            profile_audit=row["profile_audit"],
            profile_audit_reason=row["profile_audit_reason"],
            profile_audit_at=ms_to_rfc3339(audit_ms) if audit_ms is not None else None,
            notify_url=self.notify_url,
            created_at=ms_to_rfc3339(row["created_ms"]),
            updated_at=ms_to_rfc3339(row["updated_ms"]),
        ).model_dump(mode="json")


def _chatbot_taken() -> Problem:
    return Problem(
        409, "this chatbot is already registered as a channel", [FieldError("/chatbot_id", "already registered")]
    )


def _active_taken(other_id: str | None) -> Problem:
    which = f" ({other_id})" if other_id else ""
    return Problem(
        409,
        f"the tenant already has an active channel{which}: disable it first",
        [FieldError("/status", "another channel is active")],
    )


def _conflict(exc: IntegrityError) -> Problem:
    """The 409 for a unique index that refused a write; anything else is re-raised."""
    text = str(exc.orig).lower()
    if "chatbot_id" in text:
        return _chatbot_taken()
    if "uq_channels_active_tenant" in text or "channels.tenant_id" in text:
        return _active_taken(None)
    raise exc


def _credential_errors(
    operator: str, chatbot_id: str, app_id: str | None, app_key: SecretStr | None, given: set[str]
) -> list[FieldError]:
    """An RBM agent's chatbot id and service-account key go with operator rbm, and only there."""
    errors = []
    rbm = operator == "rbm"
    if {"operator", "chatbot_id"} & given and rbm != chatbot_id.endswith("@" + RBM_AGENT_DOMAIN):
        wanted = "sip:<agent id>@rbm.goog" if rbm else "sip:<digits>@<domain>"
        errors.append(FieldError("/chatbot_id", f"operator {operator} takes a chatbot id {wanted}"))
    if app_key is None or "app_key" not in given:
        return errors
    raw = app_key.get_secret_value()
    if not rbm:
        if len(raw) > MAX_SECRET or raw.startswith("{"):
            errors.append(FieldError("/app_key", f"must be 1 to {MAX_SECRET} characters"))
        return errors
    try:
        account = ServiceAccount.from_json(raw)
    except ValueError as exc:
        errors.append(FieldError("/app_key", str(exc)))
        return errors
    if app_id is not None and app_id != account.client_email:
        errors.append(FieldError("/app_id", "must be the service-account key's client_email"))
    return errors


def _canonical_or_none(chatbot_id: str) -> str | None:
    try:
        return canonical_chatbot_id(chatbot_id)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(root: str) -> str:
    authority = root.split("/", 1)[0]
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    return authority.split(":", 1)[0]
