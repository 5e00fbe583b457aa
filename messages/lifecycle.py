"""The one writer of a message's life: new messages, status changes, their events and webhooks.

A change is decided inside the write transaction, against the status the row has then and the
transition table (`messages.status`), so the dispatcher and the operators' callbacks never
overwrite each other's newer state. A status change, its event row and its `message.status`
webhook commit together. Everything else that moves a message (claims, leases, new due times)
asks this module too, so the `messages` table has one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

import security
from messages.send_rules import cap_sends
from messages.status import INITIAL, TRANSITIONS, Status
from messages.tables import message_events, message_interactions, messages
from security.numbers import carrier_of
from store import new_id
from store.bulk import AnyOf, execute, executemany, fetch, fetch_named
from store.writer import WriteBatch
from webhooks.outbox import MESSAGE_STATUS, MESSAGE_USER_EVENT, enqueue, status_data
from webhooks.tables import webhook_endpoints


class TooLateToCancel(Exception):
    """The message was already delivered or sent: it can no longer be cancelled."""

    def __init__(self, status: Status):
        super().__init__(f"the message is {status}: too late to cancel")
        self.status = status


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # "leave this column as it is"


@dataclass
class Change:
    """One status change of one message, applied when the transition table allows it from the
    status the message has then (and, if `when` is given, that status is one of `when`);
    otherwise the event is still recorded if `record_anyway`."""

    message_id: str
    status: Status
    at_ms: int
    source: str
    detail: dict | None = None
    when: frozenset[Status] | None = None
    due_ms: Any = None  # int, None (nothing to do until a callback) or KEEP
    attempts: Any = KEEP  # int or KEEP
    record_anyway: bool = False
    then: list[Change] = field(default_factory=list)  # applied after this one, if it applied


@dataclass
class Applied:
    """What a group of changes did: (message id, status) of each applied and skipped change."""

    applied: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# A change into these statuses with a due time says when the message is to go (approved by a
# reviewer, an RCS retry, the SMS fallback, a deferral): its frequency-cap reservation follows it
# there, so accepts meanwhile count it at that time. The dispatcher checks the caps again (under
# the ledger's lock rows) when it really goes.
_SENDS_AT_DUE = frozenset({Status.ACCEPTED, Status.QUEUED, Status.SCHEDULED, Status.FALLBACK_PENDING})

_FOLLOW = cap_sends.update().where(cap_sends.c.message_id == bindparam("b_id")).values(at_ms=bindparam("b_at"))

# The evidence chain holds a message's accept/send/deliver history; `queued` is the
# dispatcher's own bookkeeping (claims and retry schedules), so its events go into the ledger
# already marked as needing no chaining.
NOT_EVIDENCE = frozenset({Status.QUEUED})

_ROWS = select(
    messages.c.id,
    messages.c.tenant_id,
    messages.c.batch_id,
    messages.c.to_enc,
    messages.c.status,
    messages.c.due_ms,
    messages.c.attempts,
    messages.c.test,
).where(AnyOf(messages.c.id, "ids"))
# Locked (PostgreSQL; SQLite has one writer) in one order everywhere: another process's change
# to the same message waits for this transaction and then decides on what it committed —
# without the lock, a dispatcher's `rcs_sent` and an API process's `fallback_pending` from the
# operator's callback both read `queued`, and the later commit silently undid the other.
_ROWS_LOCKED = _ROWS.order_by(messages.c.id).with_for_update()

_HOOKED = (
    select(webhook_endpoints.c.tenant_id)
    .where(
        AnyOf(webhook_endpoints.c.tenant_id, "tenants"),
        webhook_endpoints.c.deleted_ms.is_(None),
    )
    .distinct()
)

_UPDATE = (
    messages.update()
    .where(messages.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        updated_ms=bindparam("b_at"),
        due_ms=bindparam("b_due"),
        attempts=bindparam("b_attempts"),
        lease_owner=None,
        lease_until_ms=None,
    )
)


class Lifecycle:
    """Builds the statements that create messages and move them along their life."""

    def __init__(self, keyring: security.Keyring, id_factory: Callable[[], str] = new_id):
        self.keyring = keyring
        self.new_id = id_factory

    # -- birth ---------------------------------------------------------------------------
    def seal_recipient(
        self, tenant_id: str, message_id: str, to: str, variables: dict | None, variables_json: bytes | None
    ) -> tuple[bytes, bytes | None]:
        """A message's number and variables sealed for its row (None: no variables)."""
        seal = self.keyring.seal
        to_enc = seal(tenant_id, "messages", "to", message_id, to.encode())
        if not variables or variables_json is None:
            return to_enc, None
        return to_enc, seal(tenant_id, "messages", "variables", message_id, variables_json)

    def message_row(
        self,
        *,
        message_id: str,
        tenant_id: str,
        batch_id: str,
        seq: int,
        to: str,
        to_bidx: bytes,
        variables: dict | None,
        variables_json: bytes | None,
        status: Status,
        now_ms: int,
        expires_ms: int,
        due_ms: int | None,
        test: bool = False,
        sealed: tuple[bytes, bytes | None] | None = None,
    ) -> dict:
        """A new `messages` row, its number and variables sealed (`variables_json` is their JSON;
        `sealed`: both already sealed by `seal_recipient`); `test`: accepted with a test key
        (simulators only, never billed)."""
        if status not in INITIAL:
            raise ValueError(f"a message cannot start as {status}")
        to_enc, variables_enc = sealed or self.seal_recipient(tenant_id, message_id, to, variables, variables_json)
        return {
            "id": message_id,
            "tenant_id": tenant_id,
            "batch_id": batch_id,
            "seq": seq,
            "to_enc": to_enc,
            "to_bidx": to_bidx,
            "variables_enc": variables_enc,
            "status": status,
            "created_ms": now_ms,
            "updated_ms": now_ms,
            "expires_ms": expires_ms,
            "due_ms": due_ms,
            "attempts": 0,
            "lease_owner": None,
            "lease_until_ms": None,
            "test": test,
            "carrier": carrier_of(to),
        }

    def event_row(
        self,
        message_id: str,
        tenant_id: str,
        status: Status,
        at_ms: int,
        source: str,
        detail: dict | None,
        content_mac: bytes | None = None,
    ) -> dict:
        """The event of a message's first status (later ones come from `apply`); an acceptance
        carries its content commitment when the caller has the content in hand."""
        return {
            "id": self.new_id(),
            "message_id": message_id,
            "tenant_id": tenant_id,
            "type": status,
            "at_ms": at_ms,
            "source": source,
            "detail": detail,
            "content_mac": content_mac,
        }

    # -- changes -------------------------------------------------------------------------
    def add(self, batch: WriteBatch, changes: list[Change]) -> Applied:
        """Add `changes` to `batch`; the returned `Applied` is filled when the batch commits."""
        result = Applied()
        if changes:
            batch.run(lambda conn: self.apply(conn, changes, result))
        return result

    def apply(self, conn: Connection, changes: list[Change], result: Applied | None = None) -> Applied:
        """Apply `changes` on `conn` (inside a write transaction) and queue their webhooks."""
        result = result if result is not None else Applied()
        ids = sorted({c.message_id for c in _flatten(changes)})
        rows = {r.id: r for r in fetch_named(conn, _ROWS_LOCKED, {"ids": ids})}
        # Opening the number and building the payload is wasted on a tenant without endpoints.
        tenants = sorted({r.tenant_id for r in rows.values()})
        hooked = {tenant_id for (tenant_id,) in fetch(conn, _HOOKED, {"tenants": tenants})}
        state = {mid: [r.status, r.due_ms, r.attempts] for mid, r in rows.items()}
        updates, events = [], []
        follow: dict[str, int] = {}  # message id → when it is to go now
        hooks = WriteBatch()
        todo = list(changes)
        while todo:
            c = todo.pop(0)
            row = rows.get(c.message_id)
            if row is None:
                continue
            current = state[c.message_id]
            applies = c.status in TRANSITIONS[current[0]] and (c.when is None or current[0] in c.when)
            if applies:
                current[0] = Status(c.status)
                if c.due_ms is not KEEP:
                    current[1] = c.due_ms
                if c.attempts is not KEEP:
                    current[2] = c.attempts
                updates.append(
                    {
                        "b_id": c.message_id,
                        "b_status": c.status,
                        "b_at": c.at_ms,
                        "b_due": current[1],
                        "b_attempts": current[2],
                    }
                )
                result.applied.append((c.message_id, c.status))
                if c.status in _SENDS_AT_DUE and isinstance(c.due_ms, int):
                    follow[c.message_id] = c.due_ms
                todo[0:0] = c.then
            else:
                result.skipped.append((c.message_id, c.status))
                if not c.record_anyway or current[0] == c.status:
                    continue
            event_id = self.new_id()
            events.append(
                {
                    "id": event_id,
                    "message_id": c.message_id,
                    "tenant_id": row.tenant_id,
                    "type": c.status,
                    "at_ms": c.at_ms,
                    "source": c.source,
                    "detail": c.detail,
                    "chained": c.status in NOT_EVIDENCE,
                }
            )
            if row.tenant_id not in hooked:
                continue
            to = self.keyring.open(row.tenant_id, "messages", "to", row.id, row.to_enc).decode()
            payload = status_data(
                message_id=row.id,
                batch_id=row.batch_id,
                to=to,
                status=c.status,
                at_ms=c.at_ms,
                source=c.source,
                detail=c.detail,
                test=bool(row.test),
            )
            enqueue(
                hooks,
                self.keyring,
                tenant_id=row.tenant_id,
                message_id=row.id,
                kind=MESSAGE_STATUS,
                payload=payload,
                at_ms=c.at_ms,
                event_id=event_id,
            )
        if updates:
            # Several changes of one message in one group: the last one is the row's state.
            executemany(conn, _UPDATE, updates)
        if events:
            executemany(conn, message_events, events)
        if follow:
            executemany(conn, _FOLLOW, [{"b_id": m, "b_at": at} for m, at in sorted(follow.items())])
        for statement in hooks.statements:
            statement(conn)
        return result

    # -- user events ---------------------------------------------------------------------
    def user_event(self, message_id: str, event: dict, at_ms: int, tenant_id: str | None = None):
        """A statement recording a recipient's reply or tap as a `message.user_event` webhook
        of `message_id`, and as an interaction (its kind, source and time, for segments and
        funnels); ignored when the message does not exist, or is not `tenant_id`'s."""
        keyring, event_id = self.keyring, self.new_id()

        def record(conn: Connection) -> None:
            query = select(
                messages.c.tenant_id, messages.c.batch_id, messages.c.to_enc, messages.c.to_bidx, messages.c.test
            ).where(messages.c.id == message_id)
            row = conn.execute(query).first()
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                return
            conn.execute(
                message_interactions.insert().values(
                    id=event_id,
                    tenant_id=row.tenant_id,
                    message_id=message_id,
                    batch_id=row.batch_id,
                    to_bidx=row.to_bidx,
                    # A TD/R reply is an opt-out, not an answer: funnels count it as a complaint.
                    kind="opt_out" if event.get("opt_out") else str(event.get("kind") or "unknown")[:32],
                    source=str(event.get("source") or "rcs")[:16],
                    at_ms=at_ms,
                )
            )
            to = keyring.open(row.tenant_id, "messages", "to", message_id, row.to_enc).decode()
            hooks = WriteBatch()
            enqueue(
                hooks,
                keyring,
                tenant_id=row.tenant_id,
                message_id=message_id,
                kind=MESSAGE_USER_EVENT,
                payload={
                    "message_id": message_id,
                    "batch_id": row.batch_id,
                    "to": to,
                    "test": bool(row.test),
                    "event": event,
                },
                at_ms=at_ms,
                event_id=event_id,
            )
            for statement in hooks.statements:
                statement(conn)

        return record


# -- scheduling: which messages are due, and who is working on them ----------------------
def claim_query(statuses: frozenset[Status], now_ms: int, limit: int):
    """Due messages in `statuses` that no live worker holds, oldest due first, locked for update
    (PostgreSQL skips rows another worker has locked)."""
    return (
        select(
            messages.c.id,
            messages.c.tenant_id,
            messages.c.batch_id,
            messages.c.to_enc,
            messages.c.to_bidx,
            messages.c.variables_enc,
            messages.c.status,
            messages.c.attempts,
            messages.c.expires_ms,
            messages.c.test,
        )
        .where(
            messages.c.due_ms <= now_ms,
            messages.c.status.in_(statuses),
            or_(messages.c.lease_until_ms.is_(None), messages.c.lease_until_ms < now_ms),
        )
        .order_by(messages.c.due_ms)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def status_query(tenant_id: str, message_id: str):
    """The status of one of a tenant's messages."""
    return select(messages.c.status).where(messages.c.id == message_id, messages.c.tenant_id == tenant_id)


def in_status(conn: Connection, message_ids: Sequence[str], status: Status) -> set[str]:
    """Those of `message_ids` in `status` now (read inside the caller's write transaction)."""
    if not message_ids:
        return set()
    return {r.id for r in conn.execute(_IN_STATUS, {"ids": list(message_ids), "status": status})}


def next_due_query(now_ms: int):
    """A cheap probe (ix_messages_due): the earliest due time of a message nobody holds — due
    now when it is at most `now_ms`, else how long a dispatcher may sleep."""
    return (
        select(messages.c.due_ms)
        .where(
            messages.c.due_ms.is_not(None),
            or_(messages.c.lease_until_ms.is_(None), messages.c.lease_until_ms < now_ms),
        )
        .order_by(messages.c.due_ms)
        .limit(1)
    )


_IN_STATUS = select(messages.c.id).where(AnyOf(messages.c.id, "ids"), messages.c.status == bindparam("status"))
_LEASE = (
    messages.update()
    .where(AnyOf(messages.c.id, "ids"))
    .values(lease_owner=bindparam("owner"), lease_until_ms=bindparam("until_ms"))
)
_RENEW = (
    messages.update()
    .where(AnyOf(messages.c.id, "ids"), messages.c.lease_owner == bindparam("owner"))
    .values(lease_until_ms=bindparam("until_ms"))
)


def lease(conn: Connection, message_ids: Sequence[str], owner: str, until_ms: int) -> None:
    """Mark `message_ids` as being worked on by `owner` until `until_ms`."""
    conn.execute(_LEASE, {"ids": list(message_ids), "owner": owner, "until_ms": until_ms})


def renew_leases(conn: Connection, message_ids: Sequence[str], owner: str, until_ms: int) -> None:
    """Extend `owner`'s leases on those of `message_ids` it still holds (a status change since
    let go of the others)."""
    ids = sorted(message_ids)
    for i in range(0, len(ids), 1000):
        conn.execute(_RENEW, {"ids": ids[i : i + 1000], "owner": owner, "until_ms": until_ms})


def release_all_leases(conn: Connection) -> None:
    """Free every held message (a single dispatching process starting: the holders are dead)."""
    conn.execute(
        messages.update().where(messages.c.lease_owner.is_not(None)).values(lease_owner=None, lease_until_ms=None)
    )


def reschedule(
    conn: Connection,
    message_id: str,
    *,
    due_ms: int,
    when: frozenset[Status],
    attempts: int | None = None,
    send: bool = False,
) -> None:
    """Look at a message again at `due_ms` without changing its status (if it is still in `when`),
    and free it for any worker. `send`: it is to go then (a retry), so its frequency-cap
    reservation follows it."""
    values: dict[str, Any] = {"due_ms": due_ms, "lease_owner": None, "lease_until_ms": None}
    if attempts is not None:
        values["attempts"] = attempts
    conn.execute(messages.update().where(messages.c.id == message_id, messages.c.status.in_(when)).values(**values))
    if send:
        conn.execute(_FOLLOW, {"b_id": message_id, "b_at": due_ms})


_MARK_CHAINED = message_events.update().where(AnyOf(message_events.c.id, "ids")).values(chained=True)


def mark_chained(conn: Connection, event_ids: Sequence[str]) -> None:
    """Note that these events are in the evidence chain now."""
    execute(conn, _MARK_CHAINED, {"ids": list(event_ids)})


def _flatten(changes: list[Change]) -> Iterator[Change]:
    for c in changes:
        yield c
        yield from _flatten(c.then)
