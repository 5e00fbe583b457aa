"""Triggered journeys: a template sent on a date each contact carries (30 days before a package
renewal, on a birthday, on the bill day), evaluated once a day after the journey's send time in
its time zone, idempotent per contact and occurrence.

The contact's date is an attribute of kind date (`YYYY-MM-DD`). `offset_days` moves the send
before (negative) or after the date; `recurrence` says which dates match: `once` (the date
itself), `yearly` (its month and day; 29 February is served on 28 February in other years) or
`monthly` (its day of month; a day the month lacks is served on the month's last day).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from api.problems import FieldError, Problem
from audiences.contacts import Contacts, attribute_hasher
from audiences.segments import Compiler, Segments
from audiences.tables import contact_attributes, contacts
from campaigns.sending import MAX_PAGE, Content, PageSender, record_messages
from campaigns.spec import ATTRIBUTE, MAX_NAME, check_send_options, check_variable_maps, is_zone, parse_template
from campaigns.tables import journey_sends, journeys
from messages.rules import DEFAULT_ZONE
from security import Keyring
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.bulk import executemany
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch

log = logging.getLogger(__name__)
RECURRENCES = ("once", "yearly", "monthly")
STATUSES = ("active", "paused")
MAX_OFFSET_DAYS = 366
FIELDS = {
    "name",
    "template",
    "date_attribute",
    "offset_days",
    "recurrence",
    "send_time",
    "time_zone",
    "segment_id",
    "traffic_type",
    "ttl",
    "fallback",
    "variables",
    "defaults",
}
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_J = journeys.c
_S = journey_sends.c


def parse_journey(body: Any) -> dict:
    """Check a journey's definition; a 422 lists every problem."""
    if not isinstance(body, dict):
        raise Problem(422, "a journey is a JSON object", [FieldError("", "expected an object")])
    raw = dict(body)
    errors: list[FieldError] = [FieldError(f"/{k}", "unknown field") for k in raw if k not in FIELDS]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors.append(FieldError("/name", f"1 to {MAX_NAME} characters"))
    raw["template"] = parse_template(raw.get("template"), "/template", errors)
    attribute = raw.get("date_attribute")
    if not isinstance(attribute, str) or not ATTRIBUTE.fullmatch(attribute):
        errors.append(FieldError("/date_attribute", "the name of a contact attribute holding a date (YYYY-MM-DD)"))
    raw.setdefault("offset_days", 0)
    offset = raw["offset_days"]
    if not isinstance(offset, int) or isinstance(offset, bool) or abs(offset) > MAX_OFFSET_DAYS:
        errors.append(FieldError("/offset_days", f"whole days from -{MAX_OFFSET_DAYS} (before) to {MAX_OFFSET_DAYS}"))
    raw.setdefault("recurrence", "once")
    if raw["recurrence"] not in RECURRENCES:
        errors.append(FieldError("/recurrence", f"one of {', '.join(RECURRENCES)}"))
    raw.setdefault("send_time", "10:00")
    if not isinstance(raw["send_time"], str) or not _HHMM.fullmatch(raw["send_time"]):
        errors.append(FieldError("/send_time", "HH:MM, local time"))
    raw.setdefault("time_zone", DEFAULT_ZONE)
    if not is_zone(raw["time_zone"]):
        errors.append(FieldError("/time_zone", "an IANA time zone (Asia/Shanghai)"))
    segment = raw.get("segment_id")
    if segment is not None and not (isinstance(segment, str) and re.fullmatch(r"[0-9A-Za-z]{1,32}", segment)):
        errors.append(FieldError("/segment_id", "the id of one of your segments, or null (every contact)"))
    check_send_options(raw, errors, traffic_type="notification")
    check_variable_maps(raw, errors)
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return raw


def _why_not_startable(row) -> tuple[str, str] | None:
    if row is None:
        return "not_found", "none of your journeys has this id"
    if row.spec["offset_days"] < 0:
        return (
            "journey_before_date",
            "this journey sends before its date; a reply can start only a journey that sends on "
            "or after the day it starts (offset_days ≥ 0)",
        )
    return None


def matching_days(target: date, recurrence: str) -> list[str]:
    """The attribute values (or their `MM-DD` / `DD` tails) that fall due on `target`."""
    if recurrence == "once":
        return [target.isoformat()]
    last = calendar.monthrange(target.year, target.month)[1]
    if recurrence == "yearly":
        out = [target.strftime("%m-%d")]
        if target.month == 2 and target.day == 28 and last == 28:
            out.append("02-29")
        return out
    out = [f"{target.day:02d}"]
    if target.day == last:  # the month's last day serves the days it lacks
        out += [f"{d:02d}" for d in range(last + 1, 32)]
    return out


class Journeys:
    """A tenant's journeys and their daily evaluation."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        segments: Segments,
        variables_of: Callable[[str, dict], Awaitable[list[str]]],
        clock: Clock | None = None,
        *,
        id_factory: Callable[[], str] = new_id,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
        contacts: Contacts | None = None,
        wake: Callable[[], None] | None = None,
    ):
        self.db, self.writer, self.keyring, self.segments = db, writer, keyring, segments
        self.contacts = contacts  # for starting a journey for one contact
        self.wake = wake  # the runner's, so a started journey is evaluated now
        self.variables_of = variables_of
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.ensure_keys = ensure_keys

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- definitions -----------------------------------------------------------------------------
    async def _check(self, tenant_id: str, body: Any) -> dict:
        raw = parse_journey(body)
        if raw.get("segment_id") and await self.segments.get(tenant_id, raw["segment_id"]) is None:
            raise Problem(422, "no such segment", [FieldError("/segment_id", "none of your segments has this id")])
        return raw

    @staticmethod
    def view(row, counts: dict | None = None) -> dict:
        out = {
            "id": row.id,
            "status": row.status,
            **row.spec,
            "evaluated_day": row.evaluated_day,
            "created_at": ms_to_rfc3339(row.created_ms),
            "updated_at": ms_to_rfc3339(row.updated_ms),
        }
        if counts is not None:
            out["sends"] = counts
        return out

    async def create(self, tenant_id: str, body: Any) -> dict:
        raw = await self._check(tenant_id, body)
        now_ms, journey_id = self.now_ms(), self.new_id()
        row = {
            "id": journey_id,
            "tenant_id": tenant_id,
            "name": raw["name"],
            "status": "active",
            "spec": raw,
            "created_ms": now_ms,
            "updated_ms": now_ms,
        }
        await self.writer.write(WriteBatch().insert(journeys, row))
        view = await self.get(tenant_id, journey_id)
        assert view is not None
        return view

    async def _row(self, tenant_id: str, journey_id: str):
        async with self.db.read.connect() as conn:
            query = select(journeys).where(_J.tenant_id == tenant_id, _J.id == journey_id)
            return (await conn.execute(query)).first()

    async def get(self, tenant_id: str, journey_id: str) -> dict | None:
        row = await self._row(tenant_id, journey_id)
        if row is None:
            return None
        query = select(_S.state, func.count().label("n")).where(_S.journey_id == journey_id).group_by(_S.state)
        async with self.db.read.connect() as conn:
            counts = {r.state: int(r.n) for r in (await conn.execute(query)).all()}
        return self.view(row, {s: counts.get(s, 0) for s in ("sent", "skipped", "paged")})

    async def page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        query = select(journeys).where(_J.tenant_id == tenant_id)
        if after is not None:
            query = query.where(_J.id > after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(_J.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self.view(r) for r in rows], rows[-1].id if more and rows else None

    async def replace(self, tenant_id: str, journey_id: str, body: Any) -> dict | None:
        if await self._row(tenant_id, journey_id) is None:
            return None
        raw = await self._check(tenant_id, body)
        await self._update(journey_id, name=raw["name"], spec=raw)
        return await self.get(tenant_id, journey_id)

    async def set_status(self, tenant_id: str, journey_id: str, status: str) -> dict | None:
        if await self._row(tenant_id, journey_id) is None:
            return None
        await self._update(journey_id, status=status)
        return await self.get(tenant_id, journey_id)

    async def _update(self, journey_id: str, **values: Any) -> None:
        values["updated_ms"] = self.now_ms()
        stmt = update(journeys).where(_J.id == journey_id).values(**values)
        await self.writer.write(WriteBatch().run(lambda conn: conn.execute(stmt)))

    # -- started by a reply --------------------------------------------------------------------
    async def why_not_startable(self, tenant_id: str, journey_id: str) -> tuple[str, str] | None:
        """Why a reply (a conversation rule) could not start this journey: (code, message), or
        None when it can."""
        return _why_not_startable(await self._row(tenant_id, journey_id))

    async def start(self, tenant_id: str, journey_id: str, contact_id: str) -> str:
        """Start the journey for one contact today: the journey's date attribute on the contact
        becomes today (the journey's local day), so it sends `offset_days` later at its send
        time, and again as its recurrence says. Started twice the same day it still sends once
        (one occurrence); started on a later day, it starts over. A journey with offset 0 already
        evaluated today is evaluated again, for the contacts not yet served. The date set."""
        row = await self._row(tenant_id, journey_id)
        why = _why_not_startable(row)
        if why is not None:
            raise Problem(404 if row is None else 409, why[1])
        assert row is not None
        if row.status != "active":
            raise Problem(409, "the journey is paused")
        if self.contacts is None:
            raise Problem(503, "contacts are not available on this server")
        spec = row.spec
        today, _ = self._today(spec, self.now_ms())
        day = today.isoformat()
        if await self.contacts.patch(tenant_id, contact_id, {"attributes": {spec["date_attribute"]: day}}) is None:
            raise Problem(404, "no such contact")
        if spec["offset_days"] == 0 and row.evaluated_day == day:
            again = update(journeys).where(_J.id == journey_id, _J.evaluated_day == day).values(evaluated_day=None)
            await self.writer.write(WriteBatch().run(lambda conn: conn.execute(again)))
        if self.wake is not None:
            self.wake()
        return day

    # -- evaluation ------------------------------------------------------------------------------
    def _today(self, spec: dict, now_ms: int) -> tuple[date, bool]:
        """The journey's local day now, and whether its send time has come."""
        local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(spec["time_zone"]))
        hour, minute = (int(x) for x in spec["send_time"].split(":"))
        return local.date(), (local.hour, local.minute) >= (hour, minute)

    def _due_query(self, row, segment_filter: dict | None, target: date, occurrence: str, now_ms: int, limit: int):
        """Contacts whose date falls due on `target`, in the segment, not yet served for it."""
        spec = row.spec
        a = contact_attributes.c
        values = matching_days(target, spec["recurrence"])
        text = a.text_value
        tail = {"once": text, "yearly": func.substr(text, 6, 5), "monthly": func.substr(text, 9, 2)}[spec["recurrence"]]
        dated = select(a.contact_id).where(
            a.tenant_id == row.tenant_id, a.name == spec["date_attribute"], a.kind == "d", tail.in_(values)
        )
        served = select(_S.contact_id).where(_S.journey_id == row.id, _S.occurrence == occurrence)
        where = and_(contacts.c.tenant_id == row.tenant_id, contacts.c.id.in_(dated), contacts.c.id.not_in(served))
        if segment_filter is not None:
            hasher = attribute_hasher(self.keyring, row.tenant_id)
            where = and_(where, Compiler(row.tenant_id, now_ms, hasher).where(segment_filter))
        return select(contacts.c.id).where(where).order_by(contacts.c.id).limit(limit)

    async def run(self, sender: PageSender, worker_id: str, lease_s: float) -> int:
        """One pass over every active journey whose send time has come today and whose day is
        not evaluated yet: at most a page of contacts each, then the day is done when none is
        left. Pages marked before a crash are sent again under their keys first."""
        now_ms = self.now_ms()
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(journeys).where(_J.status == "active").order_by(_J.id))).all()
        done = 0
        for row in rows:
            today, time_has_come = self._today(row.spec, now_ms)
            if not time_has_come or row.evaluated_day == today.isoformat():
                continue
            if not await self._lease(row.id, worker_id, now_ms, lease_s):
                continue
            try:
                done += await self._evaluate(row, today, sender, now_ms)
            except Problem as exc:
                log.warning("journey %s: %s (tried again on the next pass)", row.id, exc.detail)
            except Exception:
                log.exception("journey %s: an evaluation failed (tried again on the next pass)", row.id)
        return done

    async def _lease(self, journey_id: str, worker_id: str, now_ms: int, lease_s: float) -> bool:
        got: list[int] = []
        stmt = (
            update(journeys)
            .where(
                _J.id == journey_id,
                or_(_J.lease_until_ms.is_(None), _J.lease_until_ms < now_ms, _J.lease_owner == worker_id),
            )
            .values(lease_owner=worker_id, lease_until_ms=now_ms + int(lease_s * 1000))
        )

        def run(conn: Connection) -> None:
            got.append(conn.execute(stmt).rowcount)

        await self.writer.write(WriteBatch().run(run))
        return bool(got[0])

    async def _content(self, row) -> Content:
        spec = row.spec
        return Content(
            template=spec["template"],
            traffic_type=spec["traffic_type"],
            ttl_s=spec["ttl"],
            fallback=spec["fallback"],
            variable_names=await self.variables_of(row.tenant_id, spec["template"]),
            mapping=spec.get("variables", {}),
            defaults=spec.get("defaults", {}),
        )

    async def _evaluate(self, row, today: date, sender: PageSender, now_ms: int) -> int:
        if self.ensure_keys is not None:
            await self.ensure_keys(row.tenant_id)
        spec = row.spec
        target = today - timedelta(days=spec["offset_days"])
        occurrence = target.isoformat()
        segment = await self.segments.get(row.tenant_id, spec["segment_id"]) if spec.get("segment_id") else None
        content = await self._content(row)
        done = 0
        # A page marked before a crash first, under its own key.
        async with self.db.read.connect() as conn:
            stale = (
                await conn.execute(
                    select(_S.contact_id, _S.occurrence, _S.page)
                    .where(_S.journey_id == row.id, _S.state == "paged")
                    .order_by(_S.page, _S.contact_id)
                )
            ).all()
        pages: dict[tuple[str, str], list[str]] = {}
        for s in stale:
            pages.setdefault((s.page, s.occurrence), []).append(s.contact_id)
        for (key, occ), ids in pages.items():
            await self._send(row, key, occ, ids, content, sender)
            done += len(ids)
        async with self.db.read.connect() as conn:
            ids = list(
                (
                    await conn.execute(
                        self._due_query(
                            row, segment["filter"] if segment else None, target, occurrence, now_ms, MAX_PAGE
                        )
                    )
                ).scalars()
            )
        if not ids:
            await self._update(row.id, evaluated_day=today.isoformat())
            return done
        key = f"journey/{row.id}/{occurrence}/{ids[0]}"
        marks = [
            {
                "journey_id": row.id,
                "contact_id": cid,
                "occurrence": occurrence,
                "tenant_id": row.tenant_id,
                "state": "paged",
                "page": key,
                "at_ms": now_ms,
            }
            for cid in ids
        ]
        await self.writer.write(WriteBatch().run(lambda conn: executemany(conn, journey_sends, marks)))
        await self._send(row, key, occurrence, ids, content, sender)
        return done + len(ids)

    async def _send(self, row, key: str, occurrence: str, ids: list[str], content: Content, sender: PageSender) -> None:
        result = await sender.send(row.tenant_id, key, ids, content)
        now_ms = self.now_ms()
        sent = [{"b_contact": cid, "b_message": s.message_id} for cid, s in result.sent.items()]
        skipped = [
            {"b_contact": cid, "b_reason": result.skipped.get(cid, "refused by the send checks")[:200]}
            for cid in ids
            if cid not in result.sent
        ]
        mine = and_(_S.journey_id == row.id, _S.occurrence == occurrence, _S.contact_id == bindparam("b_contact"))
        mark_sent = update(journey_sends).where(mine).values(state="sent", message_id=bindparam("b_message"))
        mark_skipped = update(journey_sends).where(mine).values(state="skipped", reason=bindparam("b_reason"))

        def run(conn: Connection) -> None:
            if sent:
                conn.execute(mark_sent, sent)
            if skipped:
                conn.execute(mark_skipped, skipped)
            record_messages(
                conn, result, campaign_id=row.id, tenant_id=row.tenant_id, variant="main", kind="journey", at_ms=now_ms
            )

        await self.writer.write(WriteBatch().run(run))
