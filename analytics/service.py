"""Conversions (recorded through the API) and the funnel of a tenant's sends: accepted →
delivered → read → clicked → replied → converted, per batch, channel (RCS or SMS) or hour of
day, each stage counted in the database as messages that reached it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, or_, select
from sqlalchemy.exc import IntegrityError

from analytics.tables import conversions
from api.problems import FieldError, Problem
from fallback.shortlinks.tables import link_clicks, short_links
from messages.tables import COMPLAINT_KINDS, REPLY_KINDS, message_events, message_interactions, messages
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import rfc3339
from store.money import MoneyError, format_money, parse_money
from store.writer import WriteBatch

STAGES = ("accepted", "delivered", "read", "clicked", "replied", "converted")
GROUPS = ("none", "batch", "channel", "hour", "day")
MAX_BATCHES = 100
MAX_RANGE_DAYS = 92
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
TOKEN_IN_URL = re.compile(r"(?:^|/s/)([A-Za-z0-9_-]{6,64})/?$")
FUTURE_SKEW_MS = 5 * 60 * 1000
# The complaint (opt-out) rate a sender should stay under: above it, carriers throttle or close
# a sender's port (0.5 % of what was delivered).
COMPLAINT_LIMIT = 0.005
# Hours of day are counted in China's time (UTC+8, no daylight saving).
CHINA_OFFSET_MS = 8 * 3600 * 1000


@dataclass(frozen=True)
class FunnelScope:
    """Which of a tenant's messages a funnel counts: some batches, those made in a period, or
    those a sub-query names (a campaign's: `message_ids` selects message ids)."""

    batch_ids: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    message_ids: Any = None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


def parse_time(value: object, path: str) -> int:
    """An RFC 3339 time with its offset, as Unix ms; 422 naming `path` otherwise."""
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            return _ms(at)
    raise Problem(422, "a time is RFC 3339 with its offset", [FieldError(path, "e.g. 2026-12-03T08:00:00+08:00")])


class Analytics:
    """Conversions and funnels of one database."""

    def __init__(
        self, db: Database, writer: GroupWriter, clock: Clock | None = None, id_factory: Callable[[], str] = new_id
    ):
        self.db, self.writer = db, writer
        self.clock = clock or SystemClock()
        self.new_id = id_factory

    def now_ms(self) -> int:
        return _ms(self.clock.now())

    # -- conversions ---------------------------------------------------------------------------
    async def record_conversion(self, tenant_id: str, body: dict) -> tuple[dict, bool]:
        """Record one conversion; (its view, True when new). The same `id` again answers the
        first record (False); with another message it is a 409."""
        now_ms = self.now_ms()
        fields = self._parse_conversion(body, now_ms)
        message_id, batch_id = await self._message_of(tenant_id, fields.pop("message"), fields.pop("token"))
        row = {
            "id": self.new_id(),
            "tenant_id": tenant_id,
            "message_id": message_id,
            "batch_id": batch_id,
            "created_ms": now_ms,
            **fields,
        }
        try:
            await self.writer.write(WriteBatch().insert(conversions, row))
        except IntegrityError:
            first = await self._by_external_id(tenant_id, row["external_id"]) if row["external_id"] else None
            if first is None:
                raise
            if first["message_id"] != message_id:
                raise Problem(
                    409,
                    "this conversion id was already recorded for another message",
                    [FieldError("/id", "used already with another message")],
                ) from None
            return first, False
        return _view(row), True

    def _parse_conversion(self, body: dict, now_ms: int) -> dict[str, Any]:
        errors: list[FieldError] = []
        known = {"message_id", "short_link", "name", "value", "currency", "occurred_at", "id"}
        errors += [FieldError(f"/{k}", "unknown field") for k in body if k not in known]
        message, link = body.get("message_id"), body.get("short_link")
        token = None
        if (message is None) == (link is None):
            errors.append(FieldError("/message_id", "give message_id or short_link (one of them)"))
        elif message is not None and not (isinstance(message, str) and re.fullmatch(r"[0-9A-Za-z]{1,32}", message)):
            errors.append(FieldError("/message_id", "a message id"))
        elif link is not None:
            found = TOKEN_IN_URL.search(link) if isinstance(link, str) and len(link) <= 300 else None
            if found is None:
                errors.append(FieldError("/short_link", "the short link (https://…/s/TOKEN) or its token"))
            else:
                token = found.group(1)
        name = body.get("name", "conversion")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors.append(FieldError("/name", "1 to 64 letters, digits or _ . : -"))
        value, currency = body.get("value"), body.get("currency")
        units: int | None = None
        if value is not None:
            try:
                # A whole number is exact too; a float never is.
                text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
                units = parse_money(text)
            except MoneyError as exc:
                errors.append(FieldError("/value", f"an exact amount ≥ 0 (a decimal string or whole number): {exc}"))
        if currency is not None and (
            value is None or not isinstance(currency, str) or not CURRENCY.fullmatch(currency)
        ):
            errors.append(FieldError("/currency", "an ISO 4217 code (CNY) beside a value"))
        external = body.get("id")
        if external is not None and not (isinstance(external, str) and 1 <= len(external) <= 64):
            errors.append(FieldError("/id", "your id for it: 1 to 64 characters"))
        at_ms = now_ms
        if "occurred_at" in body:
            try:
                at_ms = parse_time(body["occurred_at"], "/occurred_at")
            except Problem as exc:
                errors += exc.errors
            else:
                if at_ms > now_ms + FUTURE_SKEW_MS:
                    errors.append(FieldError("/occurred_at", "in the future"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        return {
            "message": message,
            "token": token,
            "external_id": external,
            "name": name,
            "value_units": units,
            "currency": None if units is None else (currency or "CNY"),
            "source": "link" if token else "api",
            "at_ms": at_ms,
        }

    async def _message_of(self, tenant_id: str, message_id: str | None, token: str | None) -> tuple[str, str]:
        async with self.db.read.connect() as conn:
            if token is not None:
                row = (
                    await conn.execute(
                        select(short_links.c.message_id, short_links.c.batch_id).where(
                            short_links.c.token == token, short_links.c.tenant_id == tenant_id
                        )
                    )
                ).first()
                where = FieldError("/short_link", "no short link of yours has this token")
            else:
                row = (
                    await conn.execute(
                        select(messages.c.id, messages.c.batch_id).where(
                            messages.c.id == message_id, messages.c.tenant_id == tenant_id
                        )
                    )
                ).first()
                where = FieldError("/message_id", "no message of yours has this id")
        if row is None:
            raise Problem(422, "the conversion names no message of yours", [where])
        return row[0], row[1]

    async def _by_external_id(self, tenant_id: str, external_id: str) -> dict | None:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(conversions).where(
                        conversions.c.tenant_id == tenant_id, conversions.c.external_id == external_id
                    )
                )
            ).first()
        return _view(row._mapping) if row is not None else None

    async def conversions_of(self, tenant_id: str, message_id: str) -> list[dict]:
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(conversions)
                    .where(conversions.c.tenant_id == tenant_id, conversions.c.message_id == message_id)
                    .order_by(conversions.c.at_ms, conversions.c.id)
                )
            ).all()
        return [_view(r._mapping) for r in rows]

    # -- funnels -------------------------------------------------------------------------------
    async def funnel(
        self, tenant_id: str, scope: FunnelScope, group_by: str = "none", *, key: ColumnElement | None = None
    ) -> list[dict]:
        """Per group, how many of the scope's messages reached each stage (and how many
        ended rejected or failed), with the conversions' count and summed value per currency.
        `key` groups by an expression of the message row a layer above knows (a campaign's
        variant), instead of `group_by`."""
        m = messages
        if key is not None:
            group_by = "key"
        key = (key if key is not None else _group_key(group_by)).label("key")
        stages = [func.count().label("accepted")] + [
            func.sum(case((cond, 1), else_=0)).label(name) for name, cond in _stage_conditions(tenant_id).items()
        ]
        where = _scope_where(tenant_id, scope)
        query = select(key, *stages).select_from(m).where(where).group_by(key).order_by(key)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
            amounts = await self._amounts(conn, tenant_id, scope, key)
        out = []
        for r in rows:
            item: dict[str, Any] = {"group": _group_label(group_by, r.key)}
            for name in (*STAGES, "opted_out", "rejected", "failed"):
                item[name] = int(getattr(r, name) or 0)
            item["rates"] = _rates(item)
            item["complaint_rate"] = round(item["opted_out"] / item["delivered"], 4) if item["delivered"] else None
            item["complaint_rate_over_limit"] = (item["complaint_rate"] or 0) > COMPLAINT_LIMIT
            item["conversion_value"] = amounts.get(r.key, {})
            out.append(item)
        return out

    async def _amounts(self, conn, tenant_id: str, scope: FunnelScope, key: Any) -> dict[Any, dict[str, str]]:
        """Conversion values summed exactly (integer units, in SQL) per group and currency."""
        m, c = messages, conversions
        query = (
            select(key, c.c.currency, func.sum(c.c.value_units).label("units"))
            .select_from(c.join(m, m.c.id == c.c.message_id))
            .where(_scope_where(tenant_id, scope), c.c.tenant_id == tenant_id, c.c.value_units.is_not(None))
            .group_by(key, c.c.currency)
        )
        sums: dict[Any, dict[str, str]] = {}
        for r in (await conn.execute(query)).all():
            sums.setdefault(r.key, {})[r.currency] = format_money(int(r.units)) or "0.0000"
        return sums


def _stage_conditions(tenant_id: str) -> dict[str, ColumnElement[bool]]:
    m, e, mi, lc, c = messages, message_events, message_interactions, link_clicks, conversions

    def has_event(*types: str) -> ColumnElement[bool]:
        return exists().where(e.c.message_id == m.c.id, e.c.type.in_(types))

    return {
        "delivered": has_event("rcs_delivered", "sms_delivered"),
        "read": has_event("rcs_read"),
        # A person opening the SMS's page or tapping on it; link previews, robots and HEADs are not.
        "clicked": exists().where(
            lc.c.message_id == m.c.id,
            lc.c.tenant_id == tenant_id,
            lc.c.bot == false(),
            lc.c.preview == false(),
            lc.c.head == false(),
            lc.c.kind != "expired",
        ),
        "replied": exists().where(mi.c.message_id == m.c.id, mi.c.kind.in_(REPLY_KINDS)),
        "converted": exists().where(c.c.message_id == m.c.id, c.c.tenant_id == tenant_id),
        # A complaint: an opt-out (a TD/R reply, the page's form) or a spam report that named it.
        "opted_out": or_(
            exists().where(mi.c.message_id == m.c.id, mi.c.kind.in_(COMPLAINT_KINDS)),
            exists().where(
                lc.c.message_id == m.c.id, lc.c.tenant_id == tenant_id, lc.c.kind == "opt_out", lc.c.bot == false()
            ),
        ),
        "rejected": m.c.status == "rejected",
        "failed": m.c.status.in_(("failed", "sms_failed", "expired")),
    }


def _group_key(group_by: str) -> ColumnElement:
    m = messages
    if group_by == "batch":
        return m.c.batch_id
    if group_by == "channel":
        sms = exists().where(message_events.c.message_id == m.c.id, message_events.c.type == "sms_sent")
        return case((sms, literal("sms")), else_=literal("rcs"))
    if group_by == "hour":
        # Integer arithmetic on both databases: the hour of day (0–23) in China of the accept.
        local_ms = (m.c.created_ms + CHINA_OFFSET_MS).self_group()
        return local_ms.op("%")(86_400_000).self_group().op("/")(3_600_000)
    if group_by == "day":
        # The day (in China) as days since 1970-01-01: integer arithmetic again.
        return (m.c.created_ms + CHINA_OFFSET_MS).self_group().op("/")(86_400_000)
    return literal("all")


def _group_label(group_by: str, key: Any) -> Any:
    if group_by == "hour":
        return int(key)
    if group_by == "day":
        return (date(1970, 1, 1) + timedelta(days=int(key))).isoformat()
    return key


def _scope_where(tenant_id: str, scope: FunnelScope) -> ColumnElement[bool]:
    m = messages
    parts: list[ColumnElement[bool]] = [m.c.tenant_id == tenant_id]
    if scope.batch_ids:
        parts.append(m.c.batch_id.in_(list(scope.batch_ids)))
    else:  # a tenant's figures are its live traffic; a test batch asked for by id still counts
        parts.append(m.c.test.is_(false()))
    if scope.since_ms is not None:
        parts.append(m.c.created_ms >= scope.since_ms)
    if scope.until_ms is not None:
        parts.append(m.c.created_ms < scope.until_ms)
    if scope.message_ids is not None:
        parts.append(m.c.id.in_(scope.message_ids))
    return and_(*parts)


def _rates(item: dict) -> dict[str, float | None]:
    """Each stage as a share of the one before it, and of accepted (None when nothing reached
    the stage before)."""
    out: dict[str, float | None] = {}
    for before, stage in zip(STAGES, STAGES[1:]):
        out[f"{stage}_of_{before}"] = round(item[stage] / item[before], 4) if item[before] else None
    for stage in STAGES[1:]:
        out[f"{stage}_of_accepted"] = round(item[stage] / item["accepted"], 4) if item["accepted"] else None
    return out


def _view(row: Any) -> dict:
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "message_id": row["message_id"],
        "batch_id": row["batch_id"],
        "name": row["name"],
        "value": format_money(row["value_units"]),
        "currency": row["currency"],
        "source": row["source"],
        "occurred_at": _at(row["at_ms"]),
        "recorded_at": _at(row["created_ms"]),
    }


def parse_scope(query: Any, now_ms: int) -> FunnelScope:
    """The funnel's scope from query parameters: `batch_id` (repeated, up to 100) and/or
    `since` and `until` (RFC 3339; at most 92 days apart, `until` defaulting to now)."""
    errors: list[FieldError] = []
    batch_ids: Sequence[str] = query.getall("batch_id", [])
    if len(batch_ids) > MAX_BATCHES or not all(re.fullmatch(r"[0-9A-Za-z]{1,32}", b) for b in batch_ids):
        errors.append(FieldError("/batch_id", f"1 to {MAX_BATCHES} batch ids"))
    since = until = None
    for name in ("since", "until"):
        if name in query:
            try:
                value = parse_time(query[name], f"/{name}")
            except Problem as exc:
                errors += exc.errors
                continue
            since, until = (value, until) if name == "since" else (since, value)
    if "since" not in query and not batch_ids:
        errors.append(FieldError("/since", "give batch_id or since"))
    if since is not None:
        end = until if until is not None else now_ms
        if end <= since or end - since > MAX_RANGE_DAYS * 86_400_000:
            errors.append(FieldError("/until", f"after since, at most {MAX_RANGE_DAYS} days later"))
    if errors:
        raise Problem(422, f"{len(errors)} query parameter(s) are invalid", errors)
    return FunnelScope(tuple(batch_ids), since, until)
