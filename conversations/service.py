"""Conversations: every inbound of a recipient (an RCS reply, tap, location or file; an SMS reply
by the brand's extension code; a tap on the SMS link page) lands in the conversation of that
brand and number, with the thread both ways. While the bot holds a conversation the rules and
the answerer reply (conversations.pipeline); once handed off, a person answers from the inbox and
the bot stays silent. Replies go out through the message ledger like any API send (checked,
durable before the 202), the thread row in the same transaction as the message."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from accounts.users_tables import memberships
from api.problems import FieldError, Problem
from audiences.contacts import Contacts
from audiences.tables import contacts
from campaigns.journeys import Journeys
from conversations.pipeline import AnswererFor, Outcome, QuestionType, Reply, decide
from conversations.rules import DEFAULT_SETTINGS, Inbound, RuleSet, load_rules, parse_rules
from conversations.stream import Hub, PgRelay
from conversations.tables import conversation_messages, conversation_rules, conversations
from dispatch.inbound import InboundMessage
from messages.ledger import MessageLedger
from messages.request import parse_send_request
from messages.submit import SendChecks
from messages.tables import messages
from security import Keyring
from security.logs import mask_phone
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import ms_to_rfc3339
from store.ids import is_id
from store.writer import WriteBatch
from webhooks.outbox import CONVERSATION_MESSAGE, CONVERSATION_STATE, enqueue, fan_out

log = logging.getLogger(__name__)
STATES = ("bot", "queued", "assigned", "closed")
HELD = ("queued", "assigned")  # a person holds it: the bot is silent
MAX_PAGE = 100
MAX_THREAD = 500  # messages a conversation view carries (the newest)
MAX_HISTORY = 6  # turns an answerer sees
MAX_REPLY_TEXT = 2000
MAX_STATS_SAMPLES = 10_000
MAX_STATS_HOURS = 24 * 31
_RULE_CACHE = 1000  # tenants whose parsed rules are kept
_KINDS = {"text": "text", "suggestion_response": "suggestion", "location": "location", "file": "file"}
_C = conversations.c
_M = conversation_messages.c
_REPLY_FIELDS = {"text", "card", "template_id", "template_version", "variables", "suggestions"}


def _thread_message(r: Any, body: dict) -> dict:
    """A thread message as the API and the webhooks show it: its row (a mapping; `status` is the
    sent message's, when joined) and its opened body."""
    out: dict = {"id": r["id"], "direction": r["direction"], "author": r["author"], "kind": r["kind"]}
    out["channel"] = r["channel"]
    if r.get("agent_id") is not None:
        out["agent_id"] = r["agent_id"]
    out.update(body)
    if r.get("message_id") is not None:
        out["message_id"] = r["message_id"]
        if "status" in r:
            out["status"] = r["status"]
    if r.get("matched"):
        out["matched"] = r["matched"]
    out["at"] = ms_to_rfc3339(r["at_ms"])
    return out


def _at(ms: int | None) -> str | None:
    return ms_to_rfc3339(ms) if ms is not None else None


@dataclass(frozen=True)
class Actor:
    """Who acts through the API: a person (`user_id`) or an API key (None)."""

    user_id: str | None = None


class Conversations:
    """A tenant's conversations: inbound handling, the bot, replies, hand-off, stats, rules."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        ledger: MessageLedger,
        checks: SendChecks,
        *,
        clock: Clock | None = None,
        id_factory: Callable[[], str] = new_id,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
        hub: Hub | None = None,
        contacts: Contacts | None = None,
        answerer_for: AnswererFor | None = None,
        question: QuestionType | None = None,
        journeys: Journeys | None = None,
        notify_webhooks: Callable[[], None] = lambda: None,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        self.journeys = journeys
        self.notify_webhooks = notify_webhooks  # after a commit that may have queued webhooks
        self.relay: PgRelay | None = None  # set by server.py on PostgreSQL
        self.ledger, self.checks = ledger, checks
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.ensure_keys = ensure_keys
        self.hub = hub or Hub()
        self.contacts = contacts
        self.answerer_for = answerer_for
        self.question = question
        # One inbound or reply at a time per conversation (in this process): its thread and
        # counters stay in order. Entries go when nobody waits on them.
        self._locks: dict[tuple[str, bytes], tuple[asyncio.Lock, int]] = {}
        self._rules: OrderedDict[str, tuple[int, RuleSet]] = OrderedDict()

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def _keys(self, tenant_id: str) -> None:
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)

    # -- one conversation at a time ------------------------------------------------------------
    async def _locked(self, key: tuple[str, bytes], work: Callable[[], Awaitable[Any]]) -> Any:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await work()
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    # -- inbound ---------------------------------------------------------------------------------
    async def on_inbound(self, message: InboundMessage) -> None:
        """Put `message` in its conversation; let the bot answer when it holds it (never an
        opt-out reply)."""
        if not message.tenant_id or not message.number:
            return
        await self._keys(message.tenant_id)
        bidx = self.keyring.blind_index(message.tenant_id, message.number)
        await self._locked((message.tenant_id, bidx), lambda: self._inbound(message, bidx))

    async def _open(self, message: InboundMessage, bidx: bytes, now_ms: int):
        """The conversation of this brand and number, opened at its first inbound."""
        tenant_id = message.tenant_id
        query = select(conversations).where(_C.tenant_id == tenant_id, _C.number_bidx == bidx)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is not None:
            return row
        conversation_id = self.new_id()
        contact_id = None
        async with self.db.read.connect() as conn:
            contact_id = (
                await conn.execute(
                    select(contacts.c.id).where(contacts.c.tenant_id == tenant_id, contacts.c.number_bidx == bidx)
                )
            ).scalar()
        values = {
            "id": conversation_id,
            "tenant_id": tenant_id,
            "number_bidx": bidx,
            "number_enc": self.keyring.seal(
                tenant_id, "conversations", "number", conversation_id, message.number.encode()
            ),
            "contact_id": contact_id,
            "state": "bot",
            "channel": message.channel,
            "misses": 0,
            "unanswered": 0,
            "opened_ms": now_ms,
            "updated_ms": now_ms,
        }
        try:
            await self.writer.write(WriteBatch().insert(conversations, values))
        except IntegrityError:  # another process opened it first
            pass
        async with self.db.read.connect() as conn:
            return (await conn.execute(query)).one()

    async def _inbound(self, message: InboundMessage, bidx: bytes) -> None:
        now_ms = self.now_ms()
        tenant_id = message.tenant_id
        conv = await self._open(message, bidx, now_ms)
        reopened = conv.state == "closed"
        state = "bot" if reopened else conv.state
        body = {
            k: v
            for k, v in (
                ("text", message.text),
                ("postback", message.postback),
                ("display_text", message.display_text),
                ("location", message.location),
                ("file", message.file),
            )
            if v is not None
        }
        row_id = self.new_id()
        row = {
            "id": row_id,
            "conversation_id": conv.id,
            "tenant_id": tenant_id,
            "direction": "in",
            "author": "user",
            "kind": _KINDS.get(message.kind, "text"),
            "body_enc": self._seal_body(tenant_id, row_id, body),
            "message_id": None,
            "channel": message.channel,
            # What became of it: filled in once the bot decided (an opt-out and a message to a
            # person are settled here).
            "matched": {"outcome": "opt_out"} if message.opt_out else {"outcome": "held"} if state in HELD else None,
            "contribution_id": message.contribution_id,
            "operator_conversation_id": message.operator_conversation_id,
            "at_ms": message.at_ms,
        }
        values: dict = {
            "state": state,
            "channel": message.channel,
            "updated_ms": now_ms,
            "last_inbound_ms": message.at_ms,
            "unanswered": _C.unanswered + 1,
        }
        if reopened:
            values.update(assignee=None, closed_ms=None, waiting_since_ms=None, misses=0, menu=None)
        if message.channel == "rcs" and message.source == "rcs":
            values.update(
                operator_conversation_id=message.operator_conversation_id or conv.operator_conversation_id,
                last_contribution_id=message.contribution_id or conv.last_contribution_id,
            )
        write = WriteBatch().insert(conversation_messages, row)
        stmt = update(conversations).where(_C.id == conv.id).values(values)
        write.run(self._state_change(stmt, tenant_id, conv.id, message.number, conv.state, values))
        self._message_event(write, conv.id, message.number, row, body)
        await self.writer.write(write)
        self.notify_webhooks()
        await self._publish(tenant_id, conv.id, row_id)
        if message.opt_out or state != "bot":
            return  # an unsubscribe is not a question; a person holds the conversation
        rules = await self.rule_set(tenant_id)
        # Only a text message is text to match (a location may come as its geo URI's text).
        text = message.text if message.kind == "text" else None
        inbound = Inbound(message.channel, text, message.postback, None if reopened else conv.menu)
        answerer = self.answerer_for(tenant_id) if self.answerer_for is not None else None
        history = await self._history(tenant_id, conv.id) if answerer is not None else []
        outcome = await decide(
            rules,
            inbound,
            misses=0 if reopened else conv.misses,
            answerer=answerer,
            question=self.question,
            tenant_id=tenant_id,
            conversation_id=conv.id,
            history=history,
        )
        await self._carry_out(tenant_id, conv.id, row_id, bidx, message.number, outcome)

    async def _carry_out(
        self, tenant_id: str, conversation_id: str, row_id: str, bidx: bytes, number: str, outcome: Outcome
    ) -> None:
        """Do what the bot decided: tag the contact or start its journey, send the reply, hand off."""
        if outcome.tag is not None and self.contacts is not None:
            await self._tag(tenant_id, number, bidx, outcome.tag)
        if outcome.journey_id is not None and self.contacts is not None and self.journeys is not None:
            await self._start_journey(tenant_id, number, bidx, outcome.journey_id)
        if outcome.reply is not None:
            try:
                await self._send(tenant_id, conversation_id, outcome.reply, author="bot", matched=outcome.matched)
            except Problem as exc:  # blocked words, no credit, a template gone: the inbox shows it
                log.warning("the bot's reply in conversation %s was refused: %s", conversation_id, exc)
        now_ms = self.now_ms()
        values: dict = {"misses": outcome.misses, "menu": outcome.menu, "updated_ms": now_ms}
        if outcome.handoff:
            values.update(state="queued", waiting_since_ms=now_ms, handoff_ms=now_ms)
        decided = {"outcome": outcome.kind, **outcome.matched}
        stmt = update(conversations).where(_C.id == conversation_id, _C.state == "bot").values(values)
        await self.writer.write(
            WriteBatch()
            .run(self._state_change(stmt, tenant_id, conversation_id, number, "bot", values))
            .run(_execute(update(conversation_messages).where(_M.id == row_id).values(matched=decided)))
        )
        self.notify_webhooks()
        await self._publish(tenant_id, conversation_id, row_id)

    async def _contact(self, tenant_id: str, number: str, bidx: bytes, tag: str | None = None) -> tuple[str, list[str]]:
        """The id and tags of the contact of this number, made (with `tag`) when there is none
        and linked to the number's conversations."""
        assert self.contacts is not None
        async with self.db.read.connect() as conn:
            found = (
                await conn.execute(
                    select(contacts.c.id, contacts.c.tags).where(
                        contacts.c.tenant_id == tenant_id, contacts.c.number_bidx == bidx
                    )
                )
            ).first()
        if found is not None:
            return found.id, list(found.tags or [])
        view, _ = await self.contacts.upsert(tenant_id, {"phone": number, **({"tags": [tag]} if tag else {})})
        link = update(conversations).where(_C.tenant_id == tenant_id, _C.number_bidx == bidx)
        await self.writer.write(WriteBatch().run(_execute(link.values(contact_id=view["id"]))))
        return view["id"], list(view.get("tags") or [])

    async def _tag(self, tenant_id: str, number: str, bidx: bytes, tag: str) -> None:
        """Add `tag` to the contact of this number (made when there is none)."""
        assert self.contacts is not None
        try:
            contact_id, tags = await self._contact(tenant_id, number, bidx, tag)
            if tag not in tags:
                await self.contacts.patch(tenant_id, contact_id, {"tags": [*tags, tag]})
        except Problem as exc:  # too many tags
            log.warning("tagging a contact of tenant %s failed: %s", tenant_id, exc)

    async def _start_journey(self, tenant_id: str, number: str, bidx: bytes, journey_id: str) -> None:
        """Start `journey_id` for the contact of this number (made when there is none); not for
        a test handset (a journey sends as live traffic)."""
        assert self.journeys is not None
        if await self._talks_to_test(tenant_id, bidx):
            log.info("a test handset of tenant %s asked for journey %s: not started", tenant_id, journey_id)
            return
        try:
            contact_id, _ = await self._contact(tenant_id, number, bidx)
            await self.journeys.start(tenant_id, journey_id, contact_id)
        except Problem as exc:  # the journey was deleted or paused since the rule was saved
            log.warning("starting journey %s for a contact of tenant %s failed: %s", journey_id, tenant_id, exc.detail)

    # -- webhooks ---------------------------------------------------------------------------
    def _message_event(self, write: WriteBatch, conversation_id: str, number: str, row: dict, body: dict) -> None:
        """Queue the `conversation.message` webhook of a thread row in the batch that writes it."""
        data = {"conversation_id": conversation_id, "number": number, "message": _thread_message(row, body)}
        enqueue(
            write,
            self.keyring,
            tenant_id=row["tenant_id"],
            message_id=row.get("message_id"),
            kind=CONVERSATION_MESSAGE,
            payload=data,
            at_ms=row["at_ms"],
            event_id=self.new_id(),
        )

    def _state_change(self, statement, tenant_id: str, conversation_id: str, number: str, previous: str, values: dict):
        """Run `statement` (an update of the conversation to `values`); when it changed the row's
        state, queue the `conversation.state` webhook in the same transaction."""
        now_ms, event_id = self.now_ms(), self.new_id()  # ordered before the events queued after it

        def run(conn) -> None:
            if not conn.execute(statement).rowcount or values.get("state", previous) == previous:
                return
            data = {
                "conversation_id": conversation_id,
                "number": number,
                "state": values["state"],
                "previous_state": previous,
                "assignee": values.get("assignee"),
                "at": ms_to_rfc3339(now_ms),
            }
            fan_out(
                conn,
                self.keyring,
                tenant_id=tenant_id,
                kind=CONVERSATION_STATE,
                payload=data,
                at_ms=now_ms,
                event_id=event_id,
            )

        return run

    async def _history(self, tenant_id: str, conversation_id: str) -> list[tuple[str, str]]:
        """The last turns with text, oldest first, for the answerer."""
        query = (
            select(_M.id, _M.direction, _M.body_enc)
            .where(_M.conversation_id == conversation_id)
            .order_by(_M.id.desc())
            .limit(MAX_HISTORY + 1)
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for r in reversed(rows[1:]):  # the newest is the question itself
            text = self._open_body(tenant_id, r.id, r.body_enc).get("text")
            if isinstance(text, str):
                out.append(("user" if r.direction == "in" else "assistant", text))
        return out

    # -- sealing ---------------------------------------------------------------------------------
    def _seal_body(self, tenant_id: str, row_id: str, body: dict) -> bytes | None:
        if not body:
            return None
        return self.keyring.seal(tenant_id, "conversation_messages", "body", row_id, orjson.dumps(body))

    def _open_body(self, tenant_id: str, row_id: str, sealed: bytes | None) -> dict:
        if sealed is None:
            return {}
        return orjson.loads(self.keyring.open(tenant_id, "conversation_messages", "body", row_id, sealed))

    def _number(self, tenant_id: str, row) -> str:
        return self.keyring.open(tenant_id, "conversations", "number", row.id, row.number_enc).decode()

    # -- sending ---------------------------------------------------------------------------------
    async def _send(
        self,
        tenant_id: str,
        conversation_id: str,
        reply: Reply,
        *,
        author: str,
        agent_id: str | None = None,
        matched: dict | None = None,
    ) -> dict:
        """Send `reply` in the conversation (durable before this returns); its thread row."""
        async with self.db.read.connect() as conn:
            conv = (
                await conn.execute(select(conversations).where(_C.id == conversation_id, _C.tenant_id == tenant_id))
            ).one()
        number = self._number(tenant_id, conv)
        body: dict = {"to": number, "traffic_type": "notification"}
        if conv.channel == "sms":
            body["channel"] = "sms"
        if reply.template is not None:
            body["template"] = reply.template
            if reply.variables:
                body["variables"] = reply.variables
        elif reply.card is not None:
            body["card"] = reply.card
        else:
            body["text"] = reply.text
            if reply.suggestions and conv.channel == "rcs":
                body["suggestions"] = reply.suggestions
        req = parse_send_request(body)
        try:
            hold = await self.checks.prepare(req, tenant_id)
        except Problem as exc:  # name the reply's fields, not the send request's
            exc.errors = [replace(e, path=_reply_path(e.path)) for e in exc.errors]
            raise
        now_ms = self.now_ms()
        row_id = self.new_id()
        content = reply.view()
        content.pop("kind")
        rcs = conv.channel == "rcs"
        row = {
            "id": row_id,
            "conversation_id": conversation_id,
            "tenant_id": tenant_id,
            "direction": "out",
            "author": author,
            "agent_id": agent_id,
            "kind": reply.kind,
            "body_enc": self._seal_body(tenant_id, row_id, content),
            "channel": conv.channel,
            "matched": matched or None,
            "operator_conversation_id": conv.operator_conversation_id if rcs else None,
            "in_reply_to": conv.last_contribution_id if rcs else None,
            "at_ms": now_ms,
        }
        values: dict = {"unanswered": 0, "updated_ms": now_ms}
        if author in ("agent", "api") and conv.waiting_since_ms is not None:
            row["response_ms"] = max(0, now_ms - conv.waiting_since_ms)
            values["waiting_since_ms"] = None

        def with_rows(write: WriteBatch, message_ids: list[str]) -> None:
            written = {**row, "message_id": message_ids[0]}
            write.insert(conversation_messages, written)
            write.run(_execute(update(conversations).where(_C.id == conversation_id).values(values)))
            self._message_event(write, conversation_id, number, written, content)

        test = await self._talks_to_test(tenant_id, conv.number_bidx)
        answer = orjson.loads(await self.ledger.accept(tenant_id, req, hold=hold, with_rows=with_rows, test=test))
        self.notify_webhooks()
        await self._publish(tenant_id, conversation_id, row_id)
        view = await self.message(tenant_id, row_id)
        assert view is not None
        if view.get("status") is None:
            view["status"] = answer["messages"][0]["status"]
        return view

    async def _talks_to_test(self, tenant_id: str, number_bidx: bytes) -> bool:
        """Whether the brand's latest message to this number was a test key's: the handset that
        answers is then a simulator's, and so is where a reply goes (never a real channel)."""
        query = (
            select(messages.c.test)
            .where(messages.c.tenant_id == tenant_id, messages.c.to_bidx == number_bidx)
            .order_by(messages.c.created_ms.desc())
            .limit(1)
        )
        async with self.db.read.connect() as conn:
            return bool((await conn.execute(query)).scalar())

    async def reply_context(self, message_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """For dispatch: of `message_ids`, those replying in a conversation → (the operator's
        conversationId, the contributionId answered)."""
        query = select(_M.message_id, _M.operator_conversation_id, _M.in_reply_to).where(
            _M.message_id.in_(message_ids), _M.direction == "out", _M.operator_conversation_id.is_not(None)
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.message_id: (r.operator_conversation_id, r.in_reply_to) for r in rows}

    # -- the API ---------------------------------------------------------------------------------
    async def _row(self, tenant_id: str, conversation_id: str):
        if not is_id(conversation_id):
            return None
        async with self.db.read.connect() as conn:
            return (
                await conn.execute(select(conversations).where(_C.id == conversation_id, _C.tenant_id == tenant_id))
            ).first()

    def _message_view(self, tenant_id: str, r) -> dict:
        return _thread_message(r._mapping, self._open_body(tenant_id, r.id, r.body_enc))

    def _thread_query(self):
        return select(conversation_messages, messages.c.status).outerjoin(messages, messages.c.id == _M.message_id)

    async def message(self, tenant_id: str, row_id: str) -> dict | None:
        async with self.db.read.connect() as conn:
            r = (await conn.execute(self._thread_query().where(_M.id == row_id, _M.tenant_id == tenant_id))).first()
        return self._message_view(tenant_id, r) if r is not None else None

    def view(self, tenant_id: str, row, last: dict | None) -> dict:
        contact: dict = {"number_masked": mask_phone(self._number(tenant_id, row))}
        if row.contact_id is not None:
            contact["contact_id"] = row.contact_id
        return {
            "id": row.id,
            "state": row.state,
            "channel": row.channel,
            "contact": contact,
            "assignee": row.assignee,
            "opened_at": ms_to_rfc3339(row.opened_ms),
            "updated_at": ms_to_rfc3339(row.updated_ms),
            "last_message": last,
            "waiting_since": _at(row.waiting_since_ms),
            "unanswered": row.unanswered,
        }

    async def _last_messages(self, tenant_id: str, conversation_ids: list[str]) -> dict[str, dict]:
        if not conversation_ids:
            return {}
        newest = (
            select(func.max(_M.id))
            .where(_M.conversation_id.in_(conversation_ids))
            .group_by(_M.conversation_id)
            .scalar_subquery()
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(self._thread_query().where(_M.id.in_(newest)))).all()
        return {r.conversation_id: self._message_view(tenant_id, r) for r in rows}

    async def page(
        self,
        tenant_id: str,
        *,
        state: str | None = None,
        assignee: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[list[dict], str | None]:
        """Conversations, the most recently active first; the cursor is the last one's
        (updated_ms, id)."""
        query = select(conversations).where(_C.tenant_id == tenant_id)
        if state is not None:
            query = query.where(_C.state == state)
        if assignee is not None:
            query = query.where(_C.assignee == assignee)
        if after is not None:
            at, _, last_id = after.partition(":")
            if not at.isdigit() or not last_id:
                raise Problem(422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor")])
            query = query.where(
                or_(_C.updated_ms < int(at), and_(_C.updated_ms == int(at), _C.id < last_id)),
            )
        query = query.order_by(_C.updated_ms.desc(), _C.id.desc()).limit(limit + 1)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        await self._keys(tenant_id)
        last = await self._last_messages(tenant_id, [r.id for r in rows])
        items = [self.view(tenant_id, r, last.get(r.id)) for r in rows]
        cursor = f"{rows[-1].updated_ms}:{rows[-1].id}" if more and rows else None
        return items, cursor

    async def get(self, tenant_id: str, conversation_id: str) -> dict | None:
        """The conversation with its thread (the newest MAX_THREAD messages, oldest first)."""
        if not is_id(conversation_id):
            return None
        await self._keys(tenant_id)
        query = (
            self._thread_query()
            .where(_M.conversation_id == conversation_id, _M.tenant_id == tenant_id)
            .order_by(_M.id.desc())
            .limit(MAX_THREAD)
        )
        async with self.db.read.connect() as conn:
            thread = [self._message_view(tenant_id, r) for r in reversed((await conn.execute(query)).all())]
        # The conversation after its thread: its state is at least as new as the last message
        # read (the bot's decision and the state it leads to commit together).
        row = await self._row(tenant_id, conversation_id)
        if row is None:
            return None
        view = self.view(tenant_id, row, thread[-1] if thread else None)
        view["messages"] = thread
        return view

    async def _summary(self, tenant_id: str, conversation_id: str) -> dict | None:
        row = await self._row(tenant_id, conversation_id)
        if row is None:
            return None
        last = await self._last_messages(tenant_id, [row.id])
        return self.view(tenant_id, row, last.get(row.id))

    async def _publish(self, tenant_id: str, conversation_id: str, message_row_id: str | None = None) -> None:
        """Tell the inbox, here and (on PostgreSQL) in the other processes."""
        if self.relay is not None:
            try:
                async with self.db.read.begin() as conn:  # a NOTIFY goes out when this commits
                    await self.relay.announce(conn, tenant_id, conversation_id, message_row_id)
            except Exception:  # the other processes' inboxes lag; nothing is lost
                log.exception("telling the other processes about conversation %s failed", conversation_id)
        await self.publish_local(tenant_id, conversation_id, message_row_id)

    async def publish_local(self, tenant_id: str, conversation_id: str, message_row_id: str | None = None) -> None:
        """Tell this process's inbox streams: the message (when given), then the conversation as
        it now is (read back from the database)."""
        if not self.hub.has(tenant_id):
            return
        if message_row_id is not None:
            message = await self.message(tenant_id, message_row_id)
            if message is not None:
                self.hub.publish(tenant_id, "message", {"conversation_id": conversation_id, "message": message})
        summary = await self._summary(tenant_id, conversation_id)
        if summary is not None:
            self.hub.publish(tenant_id, "conversation", summary)

    async def reply(self, tenant_id: str, conversation_id: str, body: Any, actor: Actor) -> dict | None:
        """A person's (or an integrator's) reply; None when there is no such conversation."""
        reply = parse_reply(body)
        row = await self._row(tenant_id, conversation_id)
        if row is None:
            return None
        await self._keys(tenant_id)
        author = "agent" if actor.user_id is not None else "api"
        return await self._locked(
            (tenant_id, row.number_bidx),
            lambda: self._send(tenant_id, row.id, reply, author=author, agent_id=actor.user_id),
        )

    async def _set(self, tenant_id: str, conversation_id: str, values: dict, *, when: tuple[str, ...] = STATES):
        row = await self._row(tenant_id, conversation_id)
        if row is None:
            return None
        if row.state in when:
            values = {**values, "updated_ms": self.now_ms()}
            stmt = update(conversations).where(_C.id == row.id, _C.state.in_(when)).values(values)
            number = self._number(tenant_id, row)
            await self.writer.write(
                WriteBatch().run(self._state_change(stmt, tenant_id, row.id, number, row.state, values))
            )
            self.notify_webhooks()
            await self._publish(tenant_id, row.id)
        await self._keys(tenant_id)
        return await self._summary(tenant_id, row.id)

    async def assign(self, tenant_id: str, conversation_id: str, body: Any, actor: Actor) -> dict | None:
        """Give the conversation to a person (`"me"`, a user id) or back to the queue (null)."""
        if not isinstance(body, dict) or set(body) - {"assignee"} or "assignee" not in body:
            raise Problem(422, "1 field(s) are invalid", [FieldError("/assignee", 'required: a user id, "me" or null')])
        assignee = body["assignee"]
        if assignee == "me":
            if actor.user_id is None:
                raise Problem(422, "an API key is nobody", [FieldError("/assignee", '"me" needs a signed-in person')])
            assignee = actor.user_id
        elif assignee is not None and not (isinstance(assignee, str) and is_id(assignee)):
            raise Problem(422, "1 field(s) are invalid", [FieldError("/assignee", 'a user id, "me" or null')])
        if assignee is not None and not await self._is_member(tenant_id, assignee):
            raise Problem(422, "1 field(s) are invalid", [FieldError("/assignee", "no such person in this tenant")])
        now_ms = self.now_ms()
        if assignee is None:
            return await self._set(tenant_id, conversation_id, {"state": "queued", "assignee": None}, when=HELD)
        row = await self._row(tenant_id, conversation_id)
        if row is None:
            return None
        values: dict = {"state": "assigned", "assignee": assignee, "closed_ms": None}
        if row.state in ("bot", "closed"):  # taken straight from the bot: a hand-off too
            values.update(handoff_ms=now_ms, waiting_since_ms=now_ms)
        return await self._set(tenant_id, conversation_id, values)

    async def _is_member(self, tenant_id: str, user_id: str) -> bool:
        async with self.db.read.connect() as conn:
            found = (
                await conn.execute(
                    select(memberships.c.user_id).where(
                        memberships.c.tenant_id == tenant_id, memberships.c.user_id == user_id
                    )
                )
            ).first()
        return found is not None

    async def handoff(self, tenant_id: str, conversation_id: str) -> dict | None:
        """From the bot to the queue (a person's conversation stays as it is)."""
        now_ms = self.now_ms()
        values = {"state": "queued", "handoff_ms": now_ms, "waiting_since_ms": now_ms, "closed_ms": None}
        return await self._set(tenant_id, conversation_id, values, when=("bot", "closed"))

    async def close(self, tenant_id: str, conversation_id: str) -> dict | None:
        """Closed; the next inbound opens it again with the bot."""
        values = {"state": "closed", "closed_ms": self.now_ms(), "waiting_since_ms": None, "menu": None}
        return await self._set(tenant_id, conversation_id, values, when=("bot", "queued", "assigned"))

    async def stats(self, tenant_id: str, hours: int) -> dict:
        """Queue figures now, and response times and the bot's share over the last `hours`."""
        now_ms = self.now_ms()
        since = now_ms - hours * 3_600_000
        async with self.db.read.connect() as conn:
            states: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(_C.state, func.count()).where(_C.tenant_id == tenant_id).group_by(_C.state)
                    )
                ).all()
            )
            oldest = (
                await conn.execute(
                    select(func.min(_C.waiting_since_ms)).where(
                        _C.tenant_id == tenant_id, _C.state.in_(HELD), _C.waiting_since_ms.is_not(None)
                    )
                )
            ).scalar()
            waits = (
                (
                    await conn.execute(
                        select(_M.response_ms)
                        .where(_M.tenant_id == tenant_id, _M.at_ms >= since, _M.response_ms.is_not(None))
                        .order_by(_M.at_ms.desc())
                        .limit(MAX_STATS_SAMPLES)
                    )
                )
                .scalars()
                .all()
            )
            active = select(_C.handoff_ms).where(_C.tenant_id == tenant_id, _C.last_inbound_ms >= since).subquery()
            total, handed = (
                await conn.execute(
                    select(
                        func.count(),
                        func.count(active.c.handoff_ms).filter(active.c.handoff_ms >= since),
                    ).select_from(active)
                )
            ).one()
        return {
            "window_hours": hours,
            "queued": int(states.get("queued", 0)),
            "assigned": int(states.get("assigned", 0)),
            "open": int(sum(n for s, n in states.items() if s != "closed")),
            "oldest_waiting_s": round((now_ms - oldest) / 1000, 1) if oldest is not None else None,
            "first_response_s": {"p50": _percentile(waits, 50), "p90": _percentile(waits, 90), "count": len(waits)},
            "handled_by_bot_pct": round(100 * (total - handed) / total, 1) if total else None,
        }

    # -- rules -----------------------------------------------------------------------------------
    async def rule_set(self, tenant_id: str) -> RuleSet:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(conversation_rules).where(conversation_rules.c.tenant_id == tenant_id))
            ).first()
        if row is None:
            return load_rules([], DEFAULT_SETTINGS)
        cached = self._rules.get(tenant_id)
        if cached is not None and cached[0] == row.updated_ms:
            self._rules.move_to_end(tenant_id)
            return cached[1]
        parsed = load_rules(row.rules, row.settings)
        self._rules[tenant_id] = (row.updated_ms, parsed)
        if len(self._rules) > _RULE_CACHE:
            self._rules.popitem(last=False)
        return parsed

    async def threshold(self, tenant_id: str) -> float:
        """The confidence an FAQ or AI answer needs to be sent (the rules document's)."""
        return (await self.rule_set(tenant_id)).threshold

    async def put_rules(self, tenant_id: str, body: Any) -> dict:
        parsed = parse_rules(body)
        await self._check_journeys(tenant_id, parsed)
        view = parsed.view()
        values = {
            "tenant_id": tenant_id,
            "rules": view["rules"],
            "settings": {"threshold": parsed.threshold, "on_miss": parsed.on_miss},
            "updated_ms": self.now_ms(),
        }
        table = conversation_rules

        def run(conn) -> None:
            conn.execute(table.delete().where(table.c.tenant_id == tenant_id))
            conn.execute(table.insert().values(values))

        await self.writer.write(WriteBatch().run(run))
        return view

    async def _check_journeys(self, tenant_id: str, parsed: RuleSet) -> None:
        """Every journey a rule starts exists and can be started by a reply."""
        errors = []
        for i, rule in enumerate(parsed.rules):
            if rule.action["kind"] != "journey":
                continue
            at = f"/rules/{i}/action/journey_id"
            if self.journeys is None:
                errors.append(FieldError(at, "journeys are not available on this server", code="unavailable"))
                continue
            why = await self.journeys.why_not_startable(tenant_id, rule.action["journey_id"])
            if why is not None:
                errors.append(FieldError(at, why[1], code=why[0]))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)

    async def test_rules(self, tenant_id: str, body: Any) -> dict:
        """What the bot would do with an inbound (nothing is sent or recorded)."""
        if not isinstance(body, dict):
            raise Problem(422, "1 field(s) are invalid", [FieldError("", 'expected {"text" | "postback", "channel"}')])
        errors = [
            FieldError(f"/{k}", "unknown field")
            for k in body
            if k not in ("text", "postback", "channel", "menu", "misses")
        ]
        text, postback = body.get("text"), body.get("postback")
        if (text is None) == (postback is None):
            errors.append(FieldError("/text", "give exactly one of `text` or `postback`"))
        for name, value in (("text", text), ("postback", postback)):
            if value is not None and (not isinstance(value, str) or len(value) > MAX_REPLY_TEXT):
                errors.append(FieldError(f"/{name}", f"a string of at most {MAX_REPLY_TEXT} characters"))
        channel = body.get("channel", "rcs")
        if channel not in ("rcs", "sms"):
            errors.append(FieldError("/channel", 'one of "rcs", "sms"'))
        menu = body.get("menu")
        if menu is not None and not isinstance(menu, str):
            errors.append(FieldError("/menu", "the id of the menu rule shown last"))
        misses = body.get("misses", 0)
        if not isinstance(misses, int) or isinstance(misses, bool) or not 0 <= misses <= 1:
            errors.append(FieldError("/misses", "0 or 1: answerer misses before this message"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        rules = await self.rule_set(tenant_id)
        answerer = self.answerer_for(tenant_id) if self.answerer_for is not None else None
        outcome = await decide(
            rules,
            Inbound(channel, text, postback, menu),
            misses=misses,
            answerer=answerer,
            question=self.question,
            tenant_id=tenant_id,
        )
        return {"outcome": outcome.view()}


def _reply_path(path: str) -> str:
    """A send request's JSON Pointer as one into the reply body."""
    return "/template_id" if path == "/template" or path.startswith("/template/") else path


def _execute(statement) -> Callable[[Any], None]:
    """A statement for WriteBatch.run (which takes a function of the connection)."""
    return lambda conn: conn.execute(statement)


def _percentile(values: Sequence[int], p: int) -> float | None:
    """The nearest-rank percentile of waits in ms, in seconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return round(ordered[rank - 1] / 1000, 1)


def parse_reply(body: Any) -> Reply:
    """A POST …/messages body: `{"text", "suggestions"?}`, `{"card"}` or `{"template_id",
    "template_version"?, "variables"?}` → Reply; a 422 naming the bad field."""
    if not isinstance(body, dict):
        raise Problem(422, "1 field(s) are invalid", [FieldError("", 'expected {"text": …} or {"card": …}')])
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in _REPLY_FIELDS]
    given = [k for k in ("text", "card", "template_id") if body.get(k) is not None]
    if len(given) != 1:
        errors.append(FieldError("/text", "give exactly one of `text`, `card` or `template_id`"))
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    reply = Reply()
    if given[0] == "text":
        text = body["text"]
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_REPLY_TEXT:
            errors.append(FieldError("/text", f"a non-empty string of at most {MAX_REPLY_TEXT} characters"))
        reply = Reply(text=text)
        chips = body.get("suggestions")
        if chips is not None:
            if not isinstance(chips, list):
                errors.append(FieldError("/suggestions", "a chip list"))
            else:
                reply.suggestions = chips
    elif given[0] == "card":
        card = body["card"]
        if not isinstance(card, dict) or not isinstance(card.get("message"), dict):
            errors.append(FieldError("/card", "a GSMA bot-message object with `message`"))
        reply = Reply(card=card, kind="card")
    else:
        name, version = body["template_id"], body.get("template_version")
        if not isinstance(name, str) or not name:
            errors.append(FieldError("/template_id", "a template name"))
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            errors.append(FieldError("/template_version", "a positive integer"))
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            errors.append(FieldError("/variables", "an object"))
        template = {"name": name, **({"version": version} if version is not None else {})}
        reply = Reply(template=template, variables=variables, kind="template")
    if given[0] != "text" and body.get("suggestions") is not None:
        errors.append(FieldError("/suggestions", "chips go with `text` (a card brings its own)"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return reply
