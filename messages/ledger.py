"""Accepting messages durably and reading them back, sealed at rest."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.exc import IntegrityError

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from cards.model import kind_of
from compliance.consent import CONSENT_REQUIRED, CONSENT_REQUIRED_REASON, ConsentPolicies
from compliance.screen import COMPLIANCE_PROBLEM
from compliance.tables import review_items
from messages.evidence import event_content
from messages.lifecycle import Lifecycle
from messages.optouts import OPTED_OUT_REASON, add_opt_out
from messages.optouts import opted_out as opted_out_of
from messages.request import SendRequest
from messages.rules import (
    DEFAULT_RULES,
    DEFAULT_ZONE,
    SendRules,
    Window,
    format_period,
    next_allowed_ms,
    zones_of,
)
from messages.screening import Hold
from messages.send_rules import CapLedger, CapRefusal, RulesStore, VolumeCounter
from messages.status import Status
from messages.tables import batches, idempotency_keys, message_events, messages, opt_outs
from security.numbers import ascii_digits
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.bulk import AnyOf, fetch
from store.clock import rfc3339
from store.writer import WriteBatch
from webhooks.outbox import TENANT_DAILY_VOLUME, enqueue

log = logging.getLogger("hongyan.messages")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# The head of the 202 body `accept` makes: its batch id and its first message's id.
_ANSWER_HEAD = re.compile(rb'\{"batch_id":"([^"\\]*)","messages":\[\{"id":"([^"\\]*)"')


def answer_ids(answer: bytes) -> tuple[str, str]:
    """The batch id and the first message id of a 202 body `MessageLedger.accept` made, read
    off its head (a 1,000-recipient answer need not be parsed again for its Location)."""
    head = _ANSWER_HEAD.match(answer)
    if head is not None:
        return head[1].decode(), head[2].decode()
    body = orjson.loads(answer)  # an id with characters JSON escapes (an injected id factory's)
    return body["batch_id"], body["messages"][0]["id"]


CardCheck = Callable[[SendRequest, str], Awaitable[list[FieldError]]]
# Asked before a send is accepted (tenant id, the request): raises a Problem (e.g. billing's
# 402) to refuse it. Injected by the composition root: messages never imports billing.
CreditCheck = Callable[[str, SendRequest], Awaitable[None]]


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
        **({"segment": refusal.cap.segment} if refusal.cap.segment else {}),
    }


def _window_detail(window: Window | None, to: str) -> dict:
    assert window is not None
    return {"reason": "send_window", "rule": "send_window", "window": window.to_json(), "time_zone": zones_of(to)[0]}


@dataclass
class Replay:
    """A stored answer to an earlier request with the same Idempotency-Key."""

    status: int
    body: bytes


def _cap_problem(traffic_type: str, refusal: CapRefusal, now_ms: int) -> Problem:
    """The 429 of a single recipient over a frequency cap."""
    wait_s = max(1, -(-(refusal.free_at_ms - now_ms) // 1000))
    whose = f"frequency cap for segment {refusal.cap.segment}" if refusal.cap.segment else "frequency cap"
    return Problem(
        429,
        f"this recipient already had {refusal.cap.limit} {traffic_type} message(s) within "
        f"{format_period(refusal.cap.period_s)}: the tenant's {whose}",
        [
            FieldError(
                "/to",
                f"over the {traffic_type} frequency cap {refusal.cap.name}",
                code="frequency_cap",
                params={"limit": refusal.cap.limit, "period": format_period(refusal.cap.period_s), "retry_s": wait_s},
            )
        ],
        headers={"Retry-After": str(wait_s)},
        extra=_cap_detail(traffic_type, refusal),
    )


# Built once: on the accept path a statement built per call costs more than running it.
_OPTED_OUT_AMONG = select(opt_outs.c.to_bidx).where(
    and_(opt_outs.c.tenant_id == bindparam("tenant_id"), AnyOf(opt_outs.c.to_bidx, "bidxs"))
)


def opted_out_in(conn: Connection, tenant_id: str, bidxs: list[bytes]) -> set[bytes]:
    """Which of these recipients are on the tenant's opt-out list (inside the caller's transaction)."""
    found: set[bytes] = set()
    for i in range(0, len(bidxs), 500):
        rows = fetch(conn, _OPTED_OUT_AMONG, {"tenant_id": tenant_id, "bidxs": bidxs[i : i + 500]})
        found.update(bytes(r[0]) for r in rows)
    return found


@dataclass(eq=False)
class _Controlled:
    """One accept's part in its group's controls: what to look at, and what they found."""

    tenant_id: str
    req: SendRequest
    rules: SendRules
    mids: list[str]
    bidxs: list[bytes]
    dues: list[int]
    now_ms: int
    local: datetime
    day: str  # the tenant's calendar day (China's) the daily volume counts in
    unconsented: set[bytes]
    check_opt_outs: bool
    count_caps: bool
    count_volume: bool
    build: Callable[[set[bytes], dict[str, CapRefusal], dict | None], tuple[WriteBatch, bytes]]
    opted: set[bytes] = field(default_factory=set)
    capped: dict[str, CapRefusal] = field(default_factory=dict)
    alert: dict | None = None
    refused: Problem | None = None
    body: bytes | None = None

    def reset(self) -> None:
        self.opted, self.capped, self.alert, self.refused, self.body = set(), {}, None, None, None

    def sends(self) -> list[tuple[str, bytes, int, Sequence]]:
        """The sends the caps count: every recipient neither opted out nor without consent."""
        return [
            (m, b, d, self.rules.caps_for(self.req.traffic_type, r.segment))
            for m, b, d, r in zip(self.mids, self.bidxs, self.dues, self.req.recipients)
            if b not in self.opted and b not in self.unconsented
        ]

    def going(self) -> list[str]:
        """The messages that will be sent (the daily volume counts them)."""
        if self.refused is not None:
            return []
        return [
            m
            for m, b in zip(self.mids, self.bidxs)
            if b not in self.opted and b not in self.unconsented and m not in self.capped
        ]

    def volume_refusal(self, going: int, count: int) -> Problem:
        limit = self.rules.daily_volume.limit
        tomorrow = datetime.combine(self.local.date() + timedelta(days=1), time(0), self.local.tzinfo)
        return Problem(
            429,
            f"{going} more recipient(s) would pass this tenant's daily volume limit of {limit}",
            headers={"Retry-After": str(max(1, int((tomorrow - self.local).total_seconds())))},
            extra={"rule": "daily_volume", "limit": limit, "day": self.day, "count": count},
        )


def _control_group(conn: Connection, group: list[_Controlled]) -> list[WriteBatch]:
    """The controls of a writer group's accepts, set-based: one opt-out look-up per tenant, one
    cap reservation per tenant and traffic type, one volume upsert per tenant and day; then
    each accept's rows as its controls decided (an empty batch for a refused one)."""
    for c in group:
        c.reset()
    by_tenant: dict[str, list[_Controlled]] = defaultdict(list)
    for c in group:
        if c.check_opt_outs:
            by_tenant[c.tenant_id].append(c)
    for tenant_id, cs in by_tenant.items():
        found = opted_out_in(conn, tenant_id, sorted({b for c in cs for b in c.bidxs}))
        for c in cs:
            c.opted = found.intersection(c.bidxs)

    by_kind: dict[tuple[str, str], list[_Controlled]] = defaultdict(list)
    for c in group:
        if c.count_caps:
            by_kind[(c.tenant_id, c.req.traffic_type)].append(c)
    for (tenant_id, traffic_type), cs in sorted(by_kind.items()):  # one lock order everywhere
        sends = [s for c in cs for s in c.sends()]
        capped = CapLedger.reserve_in(conn, tenant_id, traffic_type, sends, max(c.now_ms for c in cs))
        for c in cs:
            c.capped = {m: capped[m] for m in c.mids if m in capped}
            if c.capped and not c.req.batch:  # a single `to` over a cap: a 429, nothing reserved
                c.refused = _cap_problem(traffic_type, next(iter(c.capped.values())), c.now_ms)

    by_day: dict[tuple[str, str], list[_Controlled]] = defaultdict(list)
    for c in group:
        if c.count_volume and c.refused is None:
            by_day[(c.tenant_id, c.day)].append(c)
    for (tenant_id, day), cs in sorted(by_day.items()):
        goings = [c.going() for c in cs]
        total = sum(len(g) for g in goings)
        if total == 0:
            continue
        count = VolumeCounter.add_in(conn, tenant_id, day, total) - total
        given_back: list[str] = []
        for c, going in zip(cs, goings):
            if not going:
                continue
            volume = c.rules.daily_volume
            if volume.limit is not None and count + len(going) > volume.limit:
                c.refused = c.volume_refusal(len(going), count)
                given_back += going
                continue
            if volume.alert_at is not None and count < volume.alert_at <= count + len(going):
                c.alert = {"day": day, "count": count + len(going), "alert_at": volume.alert_at, "limit": volume.limit}
            count += len(going)
        if given_back:
            VolumeCounter.add_in(conn, tenant_id, day, -len(given_back))
            CapLedger.release_in(conn, given_back)

    out = []
    for c in group:
        if c.refused is not None:
            out.append(WriteBatch())  # nothing of this request is written
            continue
        write, c.body = c.build(c.opted, c.capped, c.alert)
        out.append(write)
    return out


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
        consent_policies: ConsentPolicies | None = None,
        credit_check: CreditCheck | None = None,
    ):
        self.db = db
        self.credit_check = credit_check
        self.rules, self.caps, self.volumes = rules, caps, volumes
        # Called once an accept committed (server.py wakes this process's dispatcher with it).
        self.on_accepted: Callable[[], None] = lambda: None
        self.consent_policies = consent_policies or ConsentPolicies(db)
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
                [FieldError("", "Idempotency-Key reused with another body", code="idempotency_key_reused")],
            )
        body = self.keyring.open(tenant_id, "idempotency_keys", "response", key_bidx.hex(), row.response_enc)
        return Replay(row.status, body)

    async def remember(self, tenant_id: str, key: str, raw_body: bytes, status: int, body: bytes) -> Replay:
        """Keep the answer to a request sent with this Idempotency-Key (another operation than a
        send: a send keeps its answer with its rows), for `replay`. When a concurrent request
        with the key was first, its answer (or the 409 of another body)."""
        key_bidx, body_hmac = self._idem_keys(tenant_id, key, raw_body)
        row = {
            "tenant_id": tenant_id,
            "key_bidx": key_bidx,
            "body_hmac": body_hmac,
            "status": status,
            "response_enc": self.keyring.seal(tenant_id, "idempotency_keys", "response", key_bidx.hex(), body),
            "created_ms": _ms(self.clock.now()),
        }
        try:
            await self.writer.write(WriteBatch().insert(idempotency_keys, row))
        except IntegrityError:
            first = await self.replay(tenant_id, key, raw_body)
            if first is None:
                raise
            return first
        return Replay(status, body)

    # -- accept ------------------------------------------------------------------------
    async def accept(
        self,
        tenant_id: str,
        req: SendRequest,
        *,
        idempotency: tuple[str, bytes] | None = None,
        hold: Hold | None = None,
        with_rows: Callable[[WriteBatch, list[str]], None] | None = None,
        test: bool = False,
    ) -> bytes:
        """Commit the batch, its messages and their first events; return the 202 body.

        The tenant's sending rules act here: a message due outside its traffic type's send
        window in the recipient's local time is `scheduled` for the window's next opening; a
        recipient over a frequency cap is refused (`rejected`, or a 429 for a single `to`).
        `hold` (from messages.screening) holds recipients for a reviewer, queued in the same
        transaction. `with_rows(write, message_ids)` adds rows of the caller's to the same
        transaction (a conversation's thread records its reply with the message). `test`: sent
        with a test key — its messages are marked test (the dispatcher sends them only to the
        simulators, billing skips them), and neither the credit check, the daily volume nor the
        frequency caps count them (they reach nobody)."""
        if self.credit_check is not None and not test:
            await self.credit_check(tenant_id, req)
        now = self.clock.now()
        now_ms = _ms(now)
        batch_id = self.new_id()
        seal = self.keyring.seal
        card = req.card if req.card is not None else req.resolved_card
        send_at_ms = _ms(req.send_at) if req.send_at else None
        base_due_ms = send_at_ms if send_at_ms is not None and send_at_ms > now_ms else now_ms
        rules = await self.rules.get(tenant_id) if self.rules is not None else DEFAULT_RULES
        window = rules.windows.get(req.traffic_type)

        card_json = orjson.dumps(card) if card else None
        batch_row = {
            "id": batch_id,
            "tenant_id": tenant_id,
            "created_ms": now_ms,
            "card_enc": seal(tenant_id, "batches", "card", batch_id, card_json) if card_json else None,
            "template_ref": orjson.dumps(req.template).decode() if req.template else None,
            "traffic_type": req.traffic_type,
            "ttl_s": req.ttl_s,
            "send_at_ms": send_at_ms,
            "client_ref_enc": seal(tenant_id, "batches", "client_ref", batch_id, req.client_ref.encode())
            if req.client_ref is not None
            else None,
            "recipient_count": len(req.recipients),
            "fallback": req.fallback,
            "channel": req.channel,
            "kind": kind_of(card),
        }
        bidxs = [self.keyring.blind_index(tenant_id, r.to) for r in req.recipients]
        mids = [self.new_id() for _ in req.recipients]
        dues = self._dues(window, req.recipients, base_due_ms)
        life = self.lifecycle
        # Sealed here, not in `build`: with controls on, `build` runs in the writer's thread,
        # where every microsecond holds up the whole group's commit.
        variables_jsons = [orjson.dumps(r.variables) if r.variables else None for r in req.recipients]
        sealed = [
            life.seal_recipient(tenant_id, mid, r.to, r.variables, vj)
            for mid, r, vj in zip(mids, req.recipients, variables_jsons)
        ]
        # The evidence log's commitment to each acceptance, made while the content is in hand
        # (the appender would otherwise open the sealed card and variables again).
        commit = self.keyring.content_commitment
        card_part = card_json or b""
        content_macs = [
            commit(tenant_id, event_content(Status.ACCEPTED, card_part, vj or b"", None)) for vj in variables_jsons
        ]
        idem_keys = self._idem_keys(tenant_id, *idempotency) if idempotency is not None else None
        # Consent (where the tenant's policy asks for it) is a look-up, not a counter: read before
        # the write. A single `to` without it is refused outright, unless it opted out (rejected).
        unconsented = await self.consent_policies.without_consent(tenant_id, bidxs, req.traffic_type)
        if unconsented and not req.batch and not await opted_out_of(self.db, tenant_id, bidxs):
            raise Problem(
                422,
                "this tenant's policy requires the recipient's consent to marketing, and none is recorded",
                [
                    FieldError(
                        "/to",
                        f"no active consent covering marketing: the `{CONSENT_REQUIRED}` rule",
                        code="consent_required",
                    )
                ],
                type=COMPLIANCE_PROBLEM,
                extra={"rule": CONSENT_REQUIRED},
            )

        def build(opted_out: set[bytes], capped: dict[str, CapRefusal], alert: dict | None) -> tuple[WriteBatch, bytes]:
            """The request's rows, given what the controls found, and the 202 body."""
            msg_rows, event_rows, answer = [], [], []
            for seq, r in enumerate(req.recipients):
                mid, due_ms = mids[seq], dues[seq]
                # Opt-outs are honoured before every marketing send; OTP and notices still go.
                reason = OPTED_OUT_REASON if bidxs[seq] in opted_out else None
                no_consent = reason is None and bidxs[seq] in unconsented
                refusal = capped.get(mid)
                scheduled = due_ms > now_ms
                first = (
                    Status.REJECTED
                    if reason or no_consent or refusal
                    else Status.SCHEDULED
                    if scheduled
                    else Status.ACCEPTED
                )
                msg_rows.append(
                    life.message_row(
                        message_id=mid,
                        tenant_id=tenant_id,
                        batch_id=batch_id,
                        seq=seq,
                        to=r.to,
                        to_bidx=bidxs[seq],
                        variables=r.variables,
                        variables_json=variables_jsons[seq],
                        status=first,
                        now_ms=now_ms,
                        expires_ms=due_ms + req.ttl_s * 1000,
                        due_ms=None if first is Status.REJECTED else due_ms,
                        test=test,
                        sealed=sealed[seq],
                    )
                )
                item = {"id": mid, "to": r.to, "status": first}
                if reason:
                    event_rows.append(
                        life.event_row(mid, tenant_id, Status.REJECTED, now_ms, "api", {"reason": reason})
                    )
                    item["reason"] = reason
                elif no_consent:
                    detail = {"reason": CONSENT_REQUIRED, "rule": CONSENT_REQUIRED, "detail": CONSENT_REQUIRED_REASON}
                    event_rows.append(life.event_row(mid, tenant_id, Status.REJECTED, now_ms, "api", detail))
                    item["reason"] = CONSENT_REQUIRED
                elif refusal is not None:
                    detail = _cap_detail(req.traffic_type, refusal)
                    event_rows.append(life.event_row(mid, tenant_id, Status.REJECTED, now_ms, "api", detail))
                    item["reason"] = "frequency_cap"
                else:
                    event_rows.append(
                        life.event_row(mid, tenant_id, Status.ACCEPTED, now_ms, "api", None, content_macs[seq])
                    )
                    if scheduled:
                        detail = {"send_at": _at(due_ms)}
                        if due_ms != base_due_ms:
                            detail.update(_window_detail(window, r.to))
                        event_rows.append(life.event_row(mid, tenant_id, Status.SCHEDULED, now_ms, "api", detail))
                answer.append(item)
            review = self._hold(hold, tenant_id, batch_id, now_ms, msg_rows, event_rows, answer)
            body = orjson.dumps({"batch_id": batch_id, "messages": answer})
            write = (
                WriteBatch().insert(batches, batch_row).insert(messages, msg_rows).insert(message_events, event_rows)
            )
            if review is not None:
                write.insert(review_items, review)
            if with_rows is not None:
                with_rows(write, mids)
            if idem_keys is not None:
                key_bidx, body_hmac = idem_keys
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
            return write, body

        controls = self._controls(tenant_id, req, rules, mids, bidxs, dues, now, unconsented, build, test=test)
        if controls is None:  # nothing to look up first: the rows go as they are
            write, body = build(set(), {}, None)
            await self.writer.write(write)
            self.on_accepted()
            return body
        # The controls' look-ups and counters decide the rows in the writer's group commit, for
        # every request of the group at once (_control_group): exact, and a few statements per
        # group rather than per request.
        await self.writer.write(WriteBatch().check(_control_group, controls))
        if controls.refused is not None:
            raise controls.refused
        if controls.alert is not None:
            log.warning(
                "tenant %s reached its daily volume alert threshold (%s)", tenant_id, controls.alert["alert_at"]
            )
        assert controls.body is not None
        self.on_accepted()
        return controls.body

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

    @staticmethod
    def _due_ms(window: Window | None, to: str, due_ms: int) -> int:
        if window is None:
            return due_ms
        return next_allowed_ms(window, zones_of(to), due_ms)

    @staticmethod
    def _dues(window: Window | None, recipients: Sequence, due_ms: int) -> list[int]:
        """Each recipient's due time in its send window: worked out once per time zone set (a
        batch is mostly numbers of one country)."""
        if window is None:
            return [due_ms] * len(recipients)
        by_zones: dict[tuple[str, ...], int] = {}
        out = []
        for r in recipients:
            zones = zones_of(r.to)
            due = by_zones.get(zones)
            if due is None:
                due = by_zones[zones] = next_allowed_ms(window, zones, due_ms)
            out.append(due)
        return out

    def _controls(
        self,
        tenant_id: str,
        req: SendRequest,
        rules: SendRules,
        mids: list[str],
        bidxs: list[bytes],
        dues: list[int],
        now: datetime,
        unconsented: set[bytes],
        build: Callable[[set[bytes], dict[str, CapRefusal], dict | None], tuple[WriteBatch, bytes]],
        *,
        test: bool = False,
    ) -> _Controlled | None:
        """What the opt-out list (marketing), the frequency caps and the daily volume must look
        at for this request (None: none applies). A test send is not counted: only opt-outs."""
        volume = rules.daily_volume
        check_opt_outs = req.traffic_type == "marketing"
        count_caps = self.caps is not None and rules.counts(req.traffic_type) and not test
        count_volume = (
            self.volumes is not None and (volume.alert_at is not None or volume.limit is not None) and not test
        )
        if not (check_opt_outs or count_caps or count_volume):
            return None
        local = now.astimezone(ZoneInfo(DEFAULT_ZONE))
        return _Controlled(
            tenant_id=tenant_id,
            req=req,
            rules=rules,
            mids=mids,
            bidxs=bidxs,
            dues=dues,
            now_ms=_ms(now),
            local=local,
            day=local.date().isoformat(),
            unconsented=unconsented,
            check_opt_outs=check_opt_outs,
            count_caps=count_caps,
            count_volume=count_volume,
            build=build,
        )

    async def opt_out(self, tenant_id: str, message_id: str, *, source: str) -> bool:
        """Put the recipient of a message on the tenant's marketing opt-out list."""
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(messages.c.to_bidx, messages.c.to_enc).where(
                        and_(messages.c.id == message_id, messages.c.tenant_id == tenant_id)
                    )
                )
            ).first()
        if row is None:
            return False
        to = self.keyring.open(tenant_id, "messages", "to", message_id, row.to_enc).decode()
        now_ms = _ms(self.clock.now())
        await add_opt_out(
            self.writer, tenant_id, row.to_bidx, source=source, now_ms=now_ms, keyring=self.keyring, to=to
        )
        return True

    # -- read --------------------------------------------------------------------------
    def _message_view(self, row, events: Sequence | None) -> dict:
        out = {
            "id": row.id,
            "batch_id": row.batch_id,
            "to": self.keyring.open(row.tenant_id, "messages", "to", row.id, row.to_enc).decode(),
            "status": row.status,
            "test": bool(row.test),
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
