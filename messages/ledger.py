"""Accepting messages durably and reading them back, sealed at rest."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson
from cryptography.hazmat.primitives import hashes
from sqlalchemy import and_, select

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from compliance.tables import review_items
from messages.lifecycle import Lifecycle
from messages.optouts import OPTED_OUT_REASON, add_opt_out
from messages.optouts import opted_out as opted_out_of
from messages.request import SendRequest
from messages.rules import (
    DEFAULT_RULES,
    DEFAULT_ZONE,
    DailyVolume,
    SendRules,
    Window,
    format_period,
    next_allowed,
    zones_of,
)
from messages.screening import Hold
from messages.send_rules import CapLedger, CapRefusal, RulesStore, VolumeCounter
from messages.status import Status
from messages.tables import batches, idempotency_keys, message_events, messages
from security.numbers import ascii_digits
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import rfc3339
from store.writer import WriteBatch
from webhooks.outbox import TENANT_DAILY_VOLUME, enqueue

log = logging.getLogger("hongyan.messages")

MAX_PAGE = 1000
DEFAULT_PAGE = 100

CardCheck = Callable[[SendRequest, str], Awaitable[list[FieldError]]]


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


def canonical_body(raw: bytes) -> bytes:
    """The form a request body is compared in for idempotency: JSON re-serialised with sorted
    keys and no spacing, so the same request sent with other spacing, key order or escapes is
    the same request. Bytes that are not JSON are compared as they are (they are never accepted,
    so they only ever meet a key used before with a real body)."""
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON; or nested past orjson's dump depth
        return raw


def _cap_detail(traffic_type: str, refusal: CapRefusal) -> dict:
    return {
        "reason": "frequency_cap",
        "rule": "frequency_cap",
        "traffic_type": traffic_type,
        "cap": refusal.cap.to_json(),
        "retry_at": _at(refusal.free_at_ms),
    }


def _window_detail(window: Window | None, to: str) -> dict:
    assert window is not None
    return {"reason": "send_window", "rule": "send_window", "window": window.to_json(), "time_zone": zones_of(to)[0]}


@dataclass
class Replay:
    """A stored answer to an earlier request with the same Idempotency-Key."""

    status: int
    body: bytes


class MessageLedger:
    """The message store: accept (group-committed), look up, list."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        clock: Clock | None = None,
        id_factory: Callable[[], str] = new_id,
        *,
        rules: RulesStore | None = None,
        caps: CapLedger | None = None,
        volumes: VolumeCounter | None = None,
    ):
        self.db = db
        self.rules, self.caps, self.volumes = rules, caps, volumes
        self.writer = writer
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.lifecycle = Lifecycle(keyring, id_factory)

    # -- idempotency -------------------------------------------------------------------
    def _idem_keys(self, tenant_id: str, key: str, raw_body: bytes) -> tuple[bytes, bytes]:
        key_bidx = self.keyring.blind_index(tenant_id, key, purpose="idempotency-key")
        return key_bidx, self._body_hmac(tenant_id, canonical_body(raw_body))

    def _body_hmac(self, tenant_id: str, body: bytes) -> bytes:
        return self.keyring.blind_index(tenant_id, _sm3(body).hex(), purpose="idempotency-body")

    async def replay(self, tenant_id: str, key: str, raw_body: bytes) -> Replay | None:
        """The stored answer for this key, None if unseen; 409 if the key came with another body."""
        key_bidx, body_hmac = self._idem_keys(tenant_id, key, raw_body)
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(idempotency_keys).where(
                        and_(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key_bidx == key_bidx)
                    )
                )
            ).first()
        if row is None:
            return None
        # A key stored before bodies were compared canonically kept the HMAC of the raw bytes.
        if row.body_hmac != body_hmac and row.body_hmac != self._body_hmac(tenant_id, raw_body):
            raise Problem(
                409,
                "this Idempotency-Key was already used with a different request body",
                [FieldError("", "Idempotency-Key reused with another body")],
            )
        body = self.keyring.open(tenant_id, "idempotency_keys", "response", key_bidx.hex(), row.response_enc)
        return Replay(row.status, body)

    # -- accept ------------------------------------------------------------------------
    async def accept(
        self,
        tenant_id: str,
        req: SendRequest,
        *,
        idempotency: tuple[str, bytes] | None = None,
        hold: Hold | None = None,
    ) -> bytes:
        """Commit the batch, its messages and their first events; return the 202 body.

        The tenant's sending rules act here: a message due outside its traffic type's send
        window in the recipient's local time is `scheduled` for the window's next opening; a
        recipient over a frequency cap is refused (`rejected`, or a 429 for a single `to`).
        `hold` (from messages.screening) holds recipients for a reviewer, queued in the same
        transaction."""
        now = self.clock.now()
        now_ms = _ms(now)
        batch_id = self.new_id()
        seal = self.keyring.seal
        card = req.card if req.card is not None else req.resolved_card
        send_at_ms = _ms(req.send_at) if req.send_at else None
        base_due_ms = send_at_ms if send_at_ms is not None and send_at_ms > now_ms else now_ms
        rules = await self.rules.get(tenant_id) if self.rules is not None else DEFAULT_RULES
        window = rules.windows.get(req.traffic_type)

        batch_row = {
            "id": batch_id,
            "tenant_id": tenant_id,
            "created_ms": now_ms,
            "card_enc": seal(tenant_id, "batches", "card", batch_id, orjson.dumps(card)) if card else None,
            "template_ref": orjson.dumps(req.template).decode() if req.template else None,
            "traffic_type": req.traffic_type,
            "ttl_s": req.ttl_s,
            "send_at_ms": send_at_ms,
            "client_ref_enc": seal(tenant_id, "batches", "client_ref", batch_id, req.client_ref.encode())
            if req.client_ref is not None
            else None,
            "recipient_count": len(req.recipients),
            "fallback": req.fallback,
        }
        bidxs = [self.keyring.blind_index(tenant_id, r.to) for r in req.recipients]
        opted_out = await opted_out_of(self.db, tenant_id, bidxs) if req.traffic_type == "marketing" else set()
        mids = [self.new_id() for _ in req.recipients]
        dues = [self._due_ms(window, r.to, base_due_ms) for r in req.recipients]
        capped = await self._reserve(tenant_id, req, rules, mids, bidxs, dues, opted_out, now_ms)
        going = sum(1 for m, b in zip(mids, bidxs) if b not in opted_out and m not in capped)
        alert = await self._count_volume(tenant_id, rules.daily_volume, going, now, mids, capped)
        msg_rows, event_rows, answer = [], [], []
        life = self.lifecycle
        for seq, r in enumerate(req.recipients):
            mid, due_ms = mids[seq], dues[seq]
            # Opt-outs are honoured before every marketing send; OTP and notices still go.
            reason = OPTED_OUT_REASON if bidxs[seq] in opted_out else None
            refusal = capped.get(mid)
            scheduled = due_ms > now_ms
            first = Status.REJECTED if reason or refusal else Status.SCHEDULED if scheduled else Status.ACCEPTED
            variables_json = orjson.dumps(r.variables) if r.variables else None
            msg_rows.append(
                life.message_row(
                    message_id=mid,
                    tenant_id=tenant_id,
                    batch_id=batch_id,
                    seq=seq,
                    to=r.to,
                    to_bidx=bidxs[seq],
                    variables=r.variables,
                    variables_json=variables_json,
                    status=first,
                    now_ms=now_ms,
                    expires_ms=due_ms + req.ttl_s * 1000,
                    due_ms=None if first is Status.REJECTED else due_ms,
                )
            )
            item = {"id": mid, "to": r.to, "status": first}
            if reason:
                event_rows.append(life.event_row(mid, tenant_id, Status.REJECTED, now_ms, "api", {"reason": reason}))
                item["reason"] = reason
            elif refusal is not None:
                detail = _cap_detail(req.traffic_type, refusal)
                event_rows.append(life.event_row(mid, tenant_id, Status.REJECTED, now_ms, "api", detail))
                item["reason"] = "frequency_cap"
            else:
                event_rows.append(life.event_row(mid, tenant_id, Status.ACCEPTED, now_ms, "api", None))
                if scheduled:
                    detail = {"send_at": _at(due_ms)}
                    if due_ms != base_due_ms:
                        detail.update(_window_detail(window, r.to))
                    event_rows.append(life.event_row(mid, tenant_id, Status.SCHEDULED, now_ms, "api", detail))
            answer.append(item)
        review = self._hold(hold, tenant_id, batch_id, now_ms, msg_rows, event_rows, answer)
        body = orjson.dumps({"batch_id": batch_id, "messages": answer})

        write = WriteBatch().insert(batches, batch_row).insert(messages, msg_rows).insert(message_events, event_rows)
        if review is not None:
            write.insert(review_items, review)
        if idempotency is not None:
            key, raw = idempotency
            key_bidx, body_hmac = self._idem_keys(tenant_id, key, raw)
            write.insert(
                idempotency_keys,
                {
                    "tenant_id": tenant_id,
                    "key_bidx": key_bidx,
                    "body_hmac": body_hmac,
                    "status": 202,
                    "response_enc": seal(tenant_id, "idempotency_keys", "response", key_bidx.hex(), body),
                    "created_ms": now_ms,
                },
            )
        if alert is not None:
            enqueue(
                write,
                self.keyring,
                tenant_id=tenant_id,
                message_id=None,
                kind=TENANT_DAILY_VOLUME,
                payload=alert,
                at_ms=now_ms,
                event_id=self.new_id(),
            )
            log.warning("tenant %s reached its daily volume alert threshold (%s)", tenant_id, alert["alert_at"])
        try:
            await self.writer.write(write)
        except BaseException:
            if self.caps is not None:
                await self.caps.release([m for m in mids if m not in capped])
            raise
        return body

    async def due_after_review(self, tenant_id: str, batch_id: str, held: dict, now_ms: int) -> dict[str, int]:
        """When each held message (id → the due time it had at accept) may go once approved at
        `now_ms`: its due time, or now if that passed, moved into its send window."""
        async with self.db.read.connect() as conn:
            traffic = (
                await conn.execute(
                    select(batches.c.traffic_type).where(batches.c.id == batch_id, batches.c.tenant_id == tenant_id)
                )
            ).scalar()
            rows = (
                await conn.execute(select(messages.c.id, messages.c.to_enc).where(messages.c.id.in_(list(held))))
            ).all()
        rules = await self.rules.get(tenant_id) if self.rules is not None else DEFAULT_RULES
        window = rules.windows.get(traffic) if traffic else None
        out = {}
        for r in rows:
            base = max(held[r.id] or now_ms, now_ms)
            to = self.keyring.open(tenant_id, "messages", "to", r.id, r.to_enc).decode() if window else ""
            out[r.id] = self._due_ms(window, to, base)
        return out

    def _hold(self, hold: Hold | None, tenant_id: str, batch_id: str, now_ms: int, msg_rows, event_rows, answer):
        """The held recipients' rows turned `held`; the review item's row (None: nothing held)."""
        if hold is None:
            return None
        return hold.apply(
            self.lifecycle,
            self.keyring,
            tenant_id=tenant_id,
            batch_id=batch_id,
            now_ms=now_ms,
            msg_rows=msg_rows,
            event_rows=event_rows,
            answer=answer,
        )

    async def _count_volume(
        self,
        tenant_id: str,
        volume: DailyVolume,
        n: int,
        now: datetime,
        mids: list[str],
        capped: dict[str, CapRefusal],
    ) -> dict | None:
        """Count the day's recipients: past a hard `limit` the request is a 429 (nothing counted
        for it); crossing `alert_at` returns the alert to queue."""
        if self.volumes is None or n == 0 or (volume.alert_at is None and volume.limit is None):
            return None
        local = now.astimezone(ZoneInfo(DEFAULT_ZONE))
        day = local.date().isoformat()
        after = await self.volumes.add(tenant_id, day, n)
        if volume.limit is not None and after > volume.limit:
            await self.volumes.add(tenant_id, day, -n)
            if self.caps is not None:
                await self.caps.release([m for m in mids if m not in capped])
            tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), local.tzinfo)
            raise Problem(
                429,
                f"{n} more recipient(s) would pass this tenant's daily volume limit of {volume.limit}",
                headers={"Retry-After": str(max(1, int((tomorrow - local).total_seconds())))},
                extra={"rule": "daily_volume", "limit": volume.limit, "day": day, "count": after - n},
            )
        if volume.alert_at is not None and after - n < volume.alert_at <= after:
            return {"day": day, "count": after, "alert_at": volume.alert_at, "limit": volume.limit}
        return None

    @staticmethod
    def _due_ms(window: Window | None, to: str, due_ms: int) -> int:
        if window is None:
            return due_ms
        at = datetime.fromtimestamp(due_ms / 1000, UTC)
        return _ms(next_allowed(window, zones_of(to), at))

    async def _reserve(
        self,
        tenant_id: str,
        req: SendRequest,
        rules: SendRules,
        mids: list[str],
        bidxs: list[bytes],
        dues: list[int],
        opted_out: set[bytes],
        now_ms: int,
    ) -> dict[str, CapRefusal]:
        """Frequency caps: reserve every recipient's send; a single `to` over a cap is a 429."""
        caps = rules.caps.get(req.traffic_type, ())
        if not caps or self.caps is None:
            return {}
        sends = [(m, b, d) for m, b, d in zip(mids, bidxs, dues) if b not in opted_out]
        refused = await self.caps.reserve(tenant_id, req.traffic_type, caps, sends, now_ms)
        if refused and not req.batch:
            refusal = next(iter(refused.values()))
            wait_s = max(1, -(-(refusal.free_at_ms - now_ms) // 1000))
            raise Problem(
                429,
                f"this recipient already had {refusal.cap.limit} {req.traffic_type} message(s) within "
                f"{format_period(refusal.cap.period_s)}: the tenant's frequency cap",
                [FieldError("/to", f"over the {req.traffic_type} frequency cap {refusal.cap.name}")],
                headers={"Retry-After": str(wait_s)},
                extra=_cap_detail(req.traffic_type, refusal),
            )
        return refused

    async def opt_out(self, tenant_id: str, message_id: str, *, source: str) -> bool:
        """Put the recipient of a message on the tenant's marketing opt-out list."""
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(messages.c.to_bidx).where(
                        and_(messages.c.id == message_id, messages.c.tenant_id == tenant_id)
                    )
                )
            ).first()
        if row is None:
            return False
        await add_opt_out(self.writer, tenant_id, row.to_bidx, source=source, now_ms=_ms(self.clock.now()))
        return True

    # -- read --------------------------------------------------------------------------
    def _message_view(self, row, events: Sequence | None) -> dict:
        out = {
            "id": row.id,
            "batch_id": row.batch_id,
            "to": self.keyring.open(row.tenant_id, "messages", "to", row.id, row.to_enc).decode(),
            "status": row.status,
            "created_at": _at(row.created_ms),
            "expires_at": _at(row.expires_ms),
        }
        if events is not None:
            out["events"] = [
                {"type": e.type, "at": _at(e.at_ms), "source": e.source, "detail": e.detail or {}} for e in events
            ]
            # The SMS fallback's link to the card page, once the SMS is composed and sent.
            link = next(
                (
                    e.detail["short_link"]
                    for e in events
                    if e.type == Status.SMS_SENT and e.detail and e.detail.get("short_link")
                ),
                None,
            )
            if link is not None:
                out["short_link"] = link
        return out

    async def get(self, tenant_id: str, message_id: str) -> dict | None:
        """One message with its events, or None if it does not exist for this tenant."""
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(messages).where(and_(messages.c.id == message_id, messages.c.tenant_id == tenant_id))
                )
            ).first()
            if row is None:
                return None
            events = (
                await conn.execute(
                    select(message_events)
                    .where(message_events.c.message_id == message_id)
                    .order_by(message_events.c.at_ms, message_events.c.id)
                )
            ).all()
        return self._message_view(row, events)

    async def list(
        self, tenant_id: str, *, batch_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        """A page of messages (in recipient order within a batch, newest first otherwise)."""
        query = select(messages).where(messages.c.tenant_id == tenant_id)
        after = decode_cursor(cursor) if cursor else None
        if batch_id is not None:
            query = query.where(messages.c.batch_id == batch_id)
            if after is not None:
                if not ascii_digits(after):
                    raise Problem(422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor")])
                query = query.where(messages.c.seq > int(after))
            query = query.order_by(messages.c.seq)
        else:
            if after is not None:
                query = query.where(messages.c.id < after)
            query = query.order_by(messages.c.id.desc())
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [self._message_view(r, None) for r in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = encode_cursor(str(last.seq) if batch_id is not None else last.id)
        return items, next_cursor
