"""A brand's chatbot information at its operator: the persistent menu and the profile (the
optional information the CN CSP interface lets a chatbot update), published through the brand's
own channel, and the operator's audit of each publish.

Every publish is recorded (what was submitted, when, by which API key) with its state:
`submitted` → `approved` | `rejected` (the operator's audit notice, with its reason), or
`refused` (the operator turned the request down at once) / `failed` (it could not be reached).
The interface's audit notice (`notifyInfoNotification/{chatbotId}/check`, type
`chatbotInformation`) names the chatbot but not the submission, so verdicts are matched to a
channel's waiting publishes oldest first. Each verdict is a `channel.audit` webhook.

Each submitted publish is also an item of the review queue (`kind: chatbot`, its subject the
publish id) waiting in `pending_operator`; the operator's verdict moves it to
`operator_approved` / `operator_rejected` with the operator's reason, chained with the tenant's
review decisions. (The CN CSP interface audits chatbot information — menu and profile — media
and sent messages; templates and signatures are never submitted to it.)

No web stack here: the HTTP edge is `accounts.chatbot_http`; the operator client for a channel
comes from the composition root (one client, so one token holder, per chatbot per process).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from pydantic import AfterValidator, ConfigDict, StringConstraints, ValidationError, WithJsonSchema
from pydantic import Field as PydanticField
from sqlalchemy import Connection, select, update
from sqlmodel import Field, SQLModel

import security
from accounts.channels import ChannelConfig, ChannelService, problem_of
from accounts.tables import chatbot_publishes
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from cards import render_gsma_menu, validate_card
from compliance.reviews import CHATBOT, operator_item_row, record_operator_verdict
from compliance.tables import review_items
from rcs.maap import ChannelError, ManagedRcsChannel, RcsChannel
from rcs.operators.cn_csp import OPTIONAL_INFO_FIELDS
from rcs.results import AUDIT_RESULT, Notice, Outcome, SendResult
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch
from webhooks.outbox import CHANNEL_AUDIT, enqueue

log = logging.getLogger("hongyan.chatbot")

KINDS = ("menu", "profile")
STATES = ("submitted", "approved", "rejected", "refused", "failed")
# The card validator's operator profile (cards.limits) for each channel operator: its menu limits.
CARD_PROFILES = {"ct": "cn_csp", "cu": "cn_csp", "cm": "cn_csp", "sandbox": "cn_csp", "rbm": "rbm"}
# The audit-notice type that covers a chatbot's optional information and menu.
CHATBOT_INFORMATION = "chatbotInformation"
MAX_REASON = 500
DEFAULT_PAGE = 20
MAX_PAGE = 100

# The operator client for a channel (from the composition root).
ClientFor = Callable[[ChannelConfig], Awaitable[RcsChannel]]


# -- the profile: the interface's optional information, in this API's names ------------------
# API name → the interface's field (update/chatBotInfo/optionals request body).
PROFILE_FIELDS = {
    "service_description": "serviceDescription",
    "category": "category",
    "callback_number": "callBackNumber",
    "provider": "provider",
    "longitude": "longitude",
    "latitude": "latitude",
    "theme_colour": "themeColour",
    "service_website": "serviceWebsite",
    "email_address": "emailAddress",
    "background_image": "backgroundImage",
    "address": "address",
    "css_style": "cssStyle",
    "autograph": "autograph",
}
# The interface: "本期暂时只可携带1种分类" — one category for now (15 in the field's definition).
MAX_CATEGORIES = 1
MAX_CATEGORY_BYTES = 50


def _length(field: str) -> int:
    limit = OPTIONAL_INFO_FIELDS[PROFILE_FIELDS[field]]
    assert limit is not None
    return limit


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


def _categories(value: list[str]) -> list[str]:
    for item in value:
        if not 1 <= len(item.encode()) <= MAX_CATEGORY_BYTES:
            raise ValueError(f"each category is 1 to {MAX_CATEGORY_BYTES} bytes")
    return value


def _text(field: str) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=_length(field))


def _url(field: str) -> StringConstraints:
    return StringConstraints(max_length=_length(field), pattern=r"^https?://[^\s]+$")


Description = Annotated[str, _text("service_description")]
Provider = Annotated[str, _text("provider")]
Address = Annotated[str, _text("address")]
Autograph = Annotated[str, _text("autograph")]
CallbackNumber = Annotated[str, StringConstraints(max_length=_length("callback_number"), pattern=r"^\+?[0-9]{3,20}$")]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
Email = Annotated[str, StringConstraints(max_length=_length("email_address"), pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Website = Annotated[str, _url("service_website"), AfterValidator(_web_url)]
BackgroundImage = Annotated[str, _url("background_image"), AfterValidator(_web_url)]
CssStyle = Annotated[str, _url("css_style"), AfterValidator(_web_url)]
Longitude = Annotated[float, PydanticField(ge=-180, le=180)]
Latitude = Annotated[float, PydanticField(ge=-90, le=90)]
Categories = Annotated[
    list[str],
    PydanticField(min_length=1, max_length=MAX_CATEGORIES),
    AfterValidator(_categories),
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CATEGORIES,
            "items": {"type": "string", "minLength": 1},
            "description": f"The chatbot's category, at most {MAX_CATEGORY_BYTES} bytes (the operators take one for now)",
        }
    ),
]


class ProfileUpdate(SQLModel):
    """PUT /v1/channels/{id}/profile: the optional information to submit (fields left out stay
    as the operator has them). Lengths are the interface's."""

    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    # Absent means not submitted (null is refused as a wrong type).
    service_description: Description = Field(default=None)
    category: Categories = Field(default=None)
    callback_number: CallbackNumber = Field(default=None)
    provider: Provider = Field(default=None)
    longitude: Longitude = Field(default=None)
    latitude: Latitude = Field(default=None)
    theme_colour: Colour = Field(default=None)
    service_website: Website = Field(default=None)
    email_address: Email = Field(default=None)
    background_image: BackgroundImage = Field(default=None)
    address: Address = Field(default=None)
    css_style: CssStyle = Field(default=None)
    autograph: Autograph = Field(default=None)


def parse_profile(body: Mapping[str, Any]) -> dict:
    """The profile fields given in a PUT body (this API's names), or a 422 Problem naming each
    wrong field."""
    if not body:
        raise Problem(422, "nothing to submit", [FieldError("", f"give at least one of {', '.join(PROFILE_FIELDS)}")])
    try:
        parsed = ProfileUpdate.model_validate(dict(body))
    except ValidationError as exc:
        raise problem_of(exc) from None
    return parsed.model_dump(exclude_unset=True)


def operator_optionals(profile: Mapping[str, Any]) -> dict:
    """The profile in the interface's field names, as update/chatBotInfo/optionals takes it."""
    return {PROFILE_FIELDS[k]: v for k, v in profile.items()}


def parse_menu(body: Mapping[str, Any], operator: str) -> tuple[dict, list[dict]]:
    """The persistent menu of a PUT body `{"menu": {"entries": […]}}`, checked with the card
    validator against the channel operator's profile (CN: 2 levels, 3 top entries, 5 per
    submenu): (the menu as it goes to the operator, warnings); a 422 Problem otherwise, each
    error a JSON Pointer into the body."""
    unknown = sorted(set(body) - {"menu"})
    if unknown or "menu" not in body:
        errors = [FieldError(f"/{k}", "unknown field") for k in unknown]
        if "menu" not in body:
            errors.append(FieldError("/menu", "required"))
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    if not isinstance(body["menu"], dict):
        raise Problem(422, "1 field(s) are invalid", [FieldError("/menu", "expected an object")])
    document = {"menu": body["menu"]}
    profile = CARD_PROFILES[operator]
    report = validate_card(document, profile)
    if not report.valid:
        raise Problem(422, f"the menu breaks {len(report.errors)} rule(s)", report.errors)
    rendered = render_gsma_menu(document, profile)
    assert rendered is not None
    return orjson.loads(rendered)["menu"], [w.as_dict() for w in report.warnings]


# -- views ---------------------------------------------------------------------------------
def _shown(schema: dict) -> Any:
    return WithJsonSchema(schema, mode="serialization")


class PublishView(SQLModel):
    """One publish of a chatbot's menu or profile and its audit."""

    id: str
    channel_id: str
    chatbot_id: str
    kind: Annotated[str, _shown({"enum": list(KINDS)})]
    body: Annotated[
        dict, _shown({"type": "object", "description": "What was submitted: {menu: …} or the profile fields"})
    ]
    state: Annotated[
        str,
        _shown(
            {
                "enum": list(STATES),
                "description": "submitted: waiting for the operator's audit; approved / rejected: its verdict; "
                "refused: the operator turned the request down; failed: it could not be reached",
            }
        ),
    ]
    reason: Annotated[str | None, _shown({"type": ["string", "null"], "description": "Why rejected or refused"})]
    operator_code: Annotated[int | None, _shown({"type": ["integer", "null"]})]
    api_key_id: Annotated[str | None, _shown({"type": ["string", "null"], "description": "The key that published"})]
    submitted_at: Annotated[str, _shown({"type": "string", "format": "date-time"})]
    audited_at: Annotated[str | None, _shown({"type": ["string", "null"], "format": "date-time"})]


def _view(row: Mapping[Any, Any]) -> dict:
    return PublishView(
        id=row["id"],
        channel_id=row["channel_id"],
        chatbot_id=row["chatbot_id"],
        kind=row["kind"],
        body=row["body"],
        state=row["state"],
        reason=row["reason"],
        operator_code=row["operator_code"],
        api_key_id=row["api_key_id"],
        submitted_at=ms_to_rfc3339(row["submitted_ms"]),
        audited_at=ms_to_rfc3339(row["audited_ms"]) if row["audited_ms"] is not None else None,
    ).model_dump(mode="json")


# Operator error codes that mean "this content is wrong" (the interface's table): a 422.
_CONTENT_CODES = frozenset({20002, 40016, 40017, 40018, 40019, 40020, 40021, 40052, 47001, 47002, 60001})


class ChatbotInfo:
    """Publishes tenants' chatbot menus and profiles through their channels and records each
    publish and its audit."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        channels: ChannelService,
        *,
        clock: Clock | None = None,
        notify: Callable[[], None] = lambda: None,
        id_factory: Callable[[], str] = new_id,
    ):
        self.db, self.writer, self.keyring, self.channels = db, writer, keyring, channels
        self.clock = clock or SystemClock()
        self.notify = notify  # after a commit that queued webhooks
        self.new_id = id_factory

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def _channel(self, tenant_id: str, channel_id: str) -> ChannelConfig:
        config = await self.channels.config_of(tenant_id, channel_id)
        if config is None:
            raise Problem(404, "no such channel")
        return config

    @staticmethod
    async def _client(config: ChannelConfig, client_for: ClientFor | None) -> ManagedRcsChannel:
        if client_for is None:
            raise Problem(503, "publishing needs the operator channels, which this server does not run")
        client = await client_for(config)
        if not isinstance(client, ManagedRcsChannel):
            raise Problem(501, f"the {config.operator} channel's interface cannot manage chatbot information")
        return client

    # -- the API -------------------------------------------------------------------------
    async def operator_info(self, tenant_id: str, channel_id: str, client_for: ClientFor | None) -> dict:
        """What the operator holds about the channel's chatbot (find/chatBotInfo), menu included."""
        config = await self._channel(tenant_id, channel_id)
        client = await self._client(config, client_for)
        try:
            info = await client.chatbot_info()
        except ChannelError as exc:
            raise _operator_problem(exc, "the operator did not give the chatbot's information") from None
        return {k: v for k, v in info.items() if k not in ("errorCode", "errorMessage")}

    async def publish(
        self,
        kind: str,
        tenant_id: str,
        channel_id: str,
        body: Mapping[str, Any],
        api_key_id: str | None,
        client_for: ClientFor | None,
    ) -> dict:
        """Check a menu (against the operator's limits) or profile and submit it: the publish
        (202; a menu's with any warnings); 422 for what the checks or the operator refuse."""
        config = await self._channel(tenant_id, channel_id)
        if kind == "menu":
            menu, warnings = parse_menu(body, config.operator)
            submitted: dict = {"menu": menu}
        else:
            submitted, warnings = parse_profile(body), None
        client = await self._client(config, client_for)

        async def send() -> SendResult:
            if kind == "menu":
                return await client.update_menu(submitted)
            return await client.update_chatbot_optionals(operator_optionals(submitted))

        view = await self._publish(config, kind, submitted, api_key_id, send)
        return view if warnings is None else {**view, "warnings": warnings}

    async def _publish(
        self,
        config: ChannelConfig,
        kind: str,
        body: dict,
        api_key_id: str | None,
        submit: Callable[[], Awaitable[SendResult]],
    ) -> dict:
        result = await submit()
        now_ms = self._now_ms()
        state, reason = "submitted", None
        if not result.accepted:
            unreachable = result.outcome in (Outcome.RETRY, Outcome.THROTTLE) and result.code not in _CONTENT_CODES
            state = "failed" if unreachable else "refused"
            reason = (result.detail or f"operator code {result.code}")[:MAX_REASON]
        row = {
            "id": self.new_id(),
            "tenant_id": config.tenant_id,
            "channel_id": config.id,
            "chatbot_id": config.chatbot_id,
            "kind": kind,
            "body": body,
            "api_key_id": api_key_id,
            "state": state,
            "reason": reason,
            "operator_code": None if result.accepted else result.code,
            "submitted_ms": now_ms,
            "audited_ms": None,
        }
        batch = WriteBatch().insert(chatbot_publishes, row)
        if state == "submitted":  # the operator audits it: the review queue shows its verdict
            detail = {"what": kind, "channel_id": config.id}
            batch.insert(
                review_items,
                operator_item_row(
                    tenant_id=config.tenant_id, kind=CHATBOT, subject=row["id"], detail=detail, now_ms=now_ms
                ),
            )
        await self.writer.write(batch)
        log.info("chatbot %s of channel %s: %s %s", kind, config.id, state, result.code if result.code else "")
        if state == "submitted":
            if kind == "profile":
                await self.channels.set_profile_audit(config.chatbot_id, "in_review")
            return _view(row)
        view = _view(row)
        if state == "failed":
            raise Problem(502, f"the operator could not be reached: {reason}", extra={"publish": view})
        status = 422 if result.code in _CONTENT_CODES else 502
        raise Problem(
            status,
            f"the operator refused the {kind} (code {result.code}): {reason}",
            [FieldError(f"/{kind}" if kind == "menu" else "", reason or "refused")],
            extra={"publish": view},
        )

    async def current(self, tenant_id: str, channel_id: str, kind: str) -> dict:
        """The channel's latest publish of `kind` and the latest approved one (either may be None)."""
        await self._channel(tenant_id, channel_id)
        base = select(chatbot_publishes).where(
            chatbot_publishes.c.tenant_id == tenant_id,
            chatbot_publishes.c.channel_id == channel_id,
            chatbot_publishes.c.kind == kind,
        )
        newest = chatbot_publishes.c.id.desc()
        async with self.db.read.connect() as conn:
            latest = (await conn.execute(base.order_by(newest).limit(1))).first()
            approved = (
                await conn.execute(base.where(chatbot_publishes.c.state == "approved").order_by(newest).limit(1))
            ).first()
        return {
            "latest": _view(latest._mapping) if latest is not None else None,
            "approved": _view(approved._mapping) if approved is not None else None,
        }

    async def list_publishes(
        self,
        tenant_id: str,
        channel_id: str,
        *,
        kind: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> tuple[list[dict], str | None]:
        """The channel's publishes, newest first, and the next page's cursor."""
        await self._channel(tenant_id, channel_id)
        query = select(chatbot_publishes).where(
            chatbot_publishes.c.tenant_id == tenant_id, chatbot_publishes.c.channel_id == channel_id
        )
        if kind is not None:
            if kind not in KINDS:
                raise Problem(422, f"kind must be one of {', '.join(KINDS)}", [FieldError("/kind", "unknown kind")])
            query = query.where(chatbot_publishes.c.kind == kind)
        if cursor is not None:
            query = query.where(chatbot_publishes.c.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(chatbot_publishes.c.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [_view(r._mapping) for r in rows], (encode_cursor(rows[-1].id) if more and rows else None)

    async def get_publish(self, tenant_id: str, channel_id: str, publish_id: str) -> dict | None:
        query = select(chatbot_publishes).where(
            chatbot_publishes.c.tenant_id == tenant_id,
            chatbot_publishes.c.channel_id == channel_id,
            chatbot_publishes.c.id == publish_id,
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return _view(row._mapping) if row is not None else None

    # -- from the operator -----------------------------------------------------------------
    async def review_view(self, item: dict) -> dict | None:
        """What a `chatbot` review item is about: its publish (what was submitted, its state)."""
        detail = item.get("detail") or {}
        return await self.get_publish(item["tenant_id"], detail.get("channel_id", ""), item["subject"])

    async def on_audit(self, chatbot_id: str, notice: Notice) -> None:
        """An audit notice: a `chatbotInformation` verdict settles the channel's oldest waiting
        publish (and shows on the channel as its profile audit); other audits are logged."""
        if notice.kind != AUDIT_RESULT or notice.audit_type != CHATBOT_INFORMATION or notice.passed is None:
            log.info("chatbot audit: %s %s", notice.audit_type, notice.result)
            return
        state = "approved" if notice.passed else "rejected"
        config = await self.channels.by_chatbot_id(chatbot_id)
        if config is None:
            log.info("a chatbot audit for a chatbot without a channel here (the default one?)")
            return
        # The channel's verdict first: whoever sees the publish settled sees the channel's too.
        await self.channels.set_profile_audit(chatbot_id, state, notice.description)
        settled = await self._settle(config, state, notice.description)
        if settled is None:
            log.info("chatbot %s audit with no publish waiting (submitted elsewhere?)", config.id)

    async def _settle(self, config: ChannelConfig, state: str, description: str | None) -> dict | None:
        """Give the verdict to the channel's oldest waiting publish and queue its webhook, in one
        transaction; the publish as settled, or None when none was waiting."""
        now_ms = self._now_ms()
        reason = description[:MAX_REASON] if description and state == "rejected" else None
        settled: list[dict] = []
        oldest = (
            select(chatbot_publishes)
            .where(
                chatbot_publishes.c.channel_id == config.id,
                chatbot_publishes.c.chatbot_id == config.chatbot_id,
                chatbot_publishes.c.state == "submitted",
            )
            .order_by(chatbot_publishes.c.id)
            .limit(1)
        )
        keyring = self.keyring

        def settle(conn: Connection) -> None:
            settled.clear()  # the writer may run a statement again after a failed group
            row = conn.execute(oldest).first()
            if row is None:
                return
            changed = conn.execute(
                update(chatbot_publishes)
                .where(chatbot_publishes.c.id == row.id, chatbot_publishes.c.state == "submitted")
                .values(state=state, reason=reason, audited_ms=now_ms)
            ).rowcount
            if not changed:
                return
            view = _view({**row._mapping, "state": state, "reason": reason, "audited_ms": now_ms})
            settled.append(view)
            record_operator_verdict(
                conn,
                tenant_id=row.tenant_id,
                kind=CHATBOT,
                subject=row.id,
                passed=state == "approved",
                reason=description,
                at_ms=now_ms,
            )
            inner = WriteBatch()
            enqueue(
                inner,
                keyring,
                tenant_id=row.tenant_id,
                message_id=None,
                kind=CHANNEL_AUDIT,
                payload=audit_event(view),
                at_ms=now_ms,
                event_id=f"audit-{row.id}",
            )
            for statement in inner.statements:
                statement(conn)

        if self.channels.ensure_keys is not None:  # the webhook payload is sealed with the tenant's key
            await self.channels.ensure_keys(config.tenant_id)
        await self.writer.write(WriteBatch().run(settle))
        if settled:
            self.notify()
            log.info("chatbot %s of channel %s: %s", settled[0]["kind"], config.id, state)
        return settled[0] if settled else None


def audit_event(view: Mapping[str, Any]) -> dict:
    """The `data` of a channel.audit webhook: which publish, its verdict and reason."""
    return {
        "channel_id": view["channel_id"],
        "chatbot_id": view["chatbot_id"],
        "publish_id": view["id"],
        "kind": view["kind"],
        "state": view["state"],
        "reason": view["reason"],
        "submitted_at": view["submitted_at"],
        "audited_at": view["audited_at"],
    }


def _operator_problem(exc: ChannelError, what: str) -> Problem:
    if exc.http_status is None and exc.code is None:
        return Problem(502, f"{what}: it could not be reached")
    return Problem(502, f"{what} (HTTP {exc.http_status}, code {exc.code})")
