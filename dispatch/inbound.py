"""What comes back from recipients and operators: RCS delivery statuses, replies and taps over
RCS, taps on the SMS link page, SMS replies (opt-outs among them). Statuses become lifecycle
changes; everything a recipient does becomes a `message.user_event` webhook of its message."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select

import security
from dispatch.decisions import delivery_change
from dispatch.state import cancels_pending, dispatch_state
from messages.lifecycle import Change, Lifecycle
from messages.optouts import add_opt_out
from messages.status import SMS_STATUSES
from messages.tables import batches, messages
from rcs.results import AUDIT_RESULT, SPAM_REPORT, DeliveryEvent, Notice, UserEvent
from store import Database, GroupWriter
from store.clock import ms_to_rfc3339, rfc3339
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch")

# The newest message that reached a number by SMS (ids are time-ordered).
_LAST_SMS = (
    select(messages.c.id)
    .where(
        messages.c.tenant_id == bindparam("tenant_id"),
        messages.c.to_bidx == bindparam("to_bidx"),
        messages.c.status.in_(SMS_STATUSES),
    )
    .order_by(messages.c.id.desc())
    .limit(1)
)


_MESSAGE = select(messages.c.id).where(messages.c.id == bindparam("message_id"))
_TENANT_OF = select(messages.c.tenant_id).where(messages.c.id == bindparam("message_id"))
_RECIPIENT = select(messages.c.tenant_id, messages.c.to_bidx, messages.c.to_enc).where(
    messages.c.id == bindparam("message_id")
)
_BATCH_TENANT = select(batches.c.tenant_id).where(batches.c.id == bindparam("batch_id"))
_IN_CONVERSATION = (
    select(messages.c.id)
    .where(messages.c.batch_id == bindparam("batch_id"), messages.c.to_bidx == bindparam("to_bidx"))
    .order_by(messages.c.id.desc())
    .limit(1)
)


@dataclass(frozen=True)
class InboundMessage:
    """What a recipient sent, for the conversations layer (`Inbound(on_inbound=…)`): the number
    in the clear (in memory only), where it came from and what it answers."""

    tenant_id: str
    number: str  # E.164
    channel: str  # "rcs" | "sms" (an SMS reply, or a tap on the SMS link page)
    kind: str  # text | suggestion_response | location | file | device_specifics
    at_ms: int
    text: str | None = None
    postback: str | None = None
    display_text: str | None = None
    location: dict | None = None
    file: dict | None = None
    message_id: str | None = None  # our message it answers, when known
    operator_conversation_id: str | None = None  # RCS conversationId
    contribution_id: str | None = None  # RCS contributionId of this message
    opt_out: bool = False  # an unsubscribe reply (TD, 退订…): never answered by a bot
    source: str = "rcs"  # rcs | sms | sms_link


class Inbound:
    """The sink of operator callbacks, link-page taps and SMS replies."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        lifecycle: Lifecycle,
        *,
        now_ms: Callable[[], int],
        commit: Callable[[list[Change]], Awaitable[None]],
        ensure_keys: Callable[[str], Awaitable[None]],
        notify: Callable[[], None] = lambda: None,
        settled: Callable[[str, str, int | None], None] = lambda message_id, status, code: None,
        on_audit: Callable[[str, Notice], Awaitable[None]] | None = None,
        on_inbound: Callable[[InboundMessage], Awaitable[None]] | None = None,
        tenant_of_chatbot: Callable[[str], Awaitable[str | None]] | None = None,
    ):
        self.db, self.writer, self.keyring, self.lifecycle = db, writer, keyring, lifecycle
        self.now_ms = now_ms
        self.commit = commit
        self.ensure_keys = ensure_keys
        self.notify = notify
        self.settled = settled
        self.on_audit = on_audit or _log_audit
        # Every recipient's message, after its user event is recorded (server.py wires the
        # conversations here; dispatch knows nothing of them).
        self.on_inbound = on_inbound
        # The brand whose own chatbot it is (None for a chatbot shared by several): where a
        # message that answers none of ours goes.
        self.tenant_of_chatbot = tenant_of_chatbot

    # -- from the operator ---------------------------------------------------------------------
    async def on_delivery(self, chatbot_id: str, events: list[DeliveryEvent]) -> None:
        """Delivery statuses from the operator → lifecycle changes."""
        # Only a revoke or a failure asks for the fallback policy (delivered/displayed do not).
        deciding = {e.message_id for e in events if e.status in ("revokeOk", "revokeFail", "failed")}
        no_fallback, silent = await self._decision_facts(deciding) if deciding else (set(), set())
        revoked = [e.message_id for e in events if e.status in ("revokeOk", "revokeFail")]
        cancelled = await cancels_pending(self.db, revoked)
        now_ms = self.now_ms()
        changes = []
        for e in events:
            self.settled(e.message_id, e.status, e.error_code)
            change = delivery_change(
                e,
                now_ms,
                e.message_id in no_fallback,
                cancelled=e.message_id in cancelled,
                silent=e.message_id in silent and e.message_id not in cancelled,
            )
            if change is not None:
                changes.append(change)
        if changes:
            await self.commit(changes)

    async def _decision_facts(self, message_ids: set[str]) -> tuple[set[str], set[str]]:
        """Of `message_ids`: those whose batch asked for no SMS fallback, and those whose revoke
        was asked before their TTL (the operator had been silent about them)."""
        query = (
            select(messages.c.id, batches.c.fallback, messages.c.expires_ms, dispatch_state.c.revoke_ms)
            .join(batches, batches.c.id == messages.c.batch_id)
            .outerjoin(dispatch_state, dispatch_state.c.message_id == messages.c.id)
            .where(messages.c.id.in_(sorted(message_ids)))
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        no_fallback = {r.id for r in rows if r.fallback == "none"}
        silent = {r.id for r in rows if r.revoke_ms is not None and r.revoke_ms < r.expires_ms}
        return no_fallback, silent

    async def on_user(self, chatbot_id: str, event: UserEvent) -> None:
        """A user's reply / suggestion tap / location → `message.user_event` webhook."""
        message_id = await self._answered(event)
        tenant_id = None
        if message_id is None:
            # Someone who writes first (found the chatbot in the directory, scanned its code):
            # the brand is known by its own chatbot; a shared chatbot cannot say whose it is.
            tenant_id = await self.tenant_of_chatbot(chatbot_id) if self.tenant_of_chatbot is not None else None
            if tenant_id is None or self.on_inbound is None or event.kind == "device_specifics":
                log.info("a user message (%s) answers no message of ours; dropped", event.kind)
                return
        data: dict = {
            "kind": event.kind,
            "at": rfc3339(event.at),
            "source": "rcs",
            "text": event.text,
            "postback": event.postback,
            "display_text": event.display_text,
        }
        if event.location is not None:
            data["location"] = {
                "latitude": event.location.latitude,
                "longitude": event.location.longitude,
                "label": event.location.label,
                # The datum the handset used: China's maps share GCJ-02 ("gcj02"), not WGS-84.
                "crs": event.location.crs,
            }
        at_ms = int(event.at.timestamp() * 1000)
        if message_id is not None:
            await self.user_event(message_id, data, at_ms)
        if self.on_inbound is not None and event.kind != "device_specifics":
            if tenant_id is None:
                async with self.db.read.connect() as conn:
                    tenant_id = (await conn.execute(_TENANT_OF, {"message_id": message_id})).scalar_one()
            file = None
            if event.file is not None:
                file = {k: getattr(event.file, k, None) for k in ("file_name", "content_type", "file_size", "url")}
            await self._hand_on(
                InboundMessage(
                    tenant_id=tenant_id,
                    number=event.from_number,
                    channel="rcs",
                    kind=event.kind,
                    at_ms=at_ms,
                    text=event.text,
                    postback=event.postback,
                    display_text=event.display_text,
                    location=data.get("location"),
                    file=file,
                    message_id=message_id,
                    operator_conversation_id=event.conversation_id,
                    contribution_id=event.contribution_id,
                )
            )

    async def _hand_on(self, message: InboundMessage) -> None:
        """Give `message` to `on_inbound`; its failure never loses the recorded user event."""
        assert self.on_inbound is not None
        try:
            await self.on_inbound(message)
        except Exception:
            log.exception("the conversations layer failed on an inbound %s message", message.kind)

    async def _answered(self, event: UserEvent) -> str | None:
        """The message a user's reply or tap answers: the one named by `inReplyTo` (we send our
        message id as the contributionId), else the newest one sent to that number in the
        conversation (we send the batch id as the conversationId)."""
        async with self.db.read.connect() as conn:
            if event.in_reply_to:
                row = (await conn.execute(_MESSAGE, {"message_id": event.in_reply_to})).first()
                if row is not None:
                    return row.id
            if not event.conversation_id or not event.from_number:
                return None
            batch = (await conn.execute(_BATCH_TENANT, {"batch_id": event.conversation_id})).first()
            if batch is None:
                return None
            await self.ensure_keys(batch.tenant_id)
            bidx = self.keyring.blind_index(batch.tenant_id, event.from_number)
            row = (await conn.execute(_IN_CONVERSATION, {"batch_id": event.conversation_id, "to_bidx": bidx})).first()
        return row.id if row is not None else None

    async def on_notice(self, chatbot_id: str, notice: Notice) -> None:
        """A spam report puts the reported recipient on the brand's marketing opt-out list and
        reaches the integrator as a user event of the message; audit results go to `on_audit`
        (a chatbot profile's state), the rest is logged."""
        if notice.kind == SPAM_REPORT:
            for message_id in notice.message_ids:
                await self._spam_report(message_id, notice)
            if not notice.message_ids:
                log.warning("a user reported chatbot %s itself as spam (%s)", chatbot_id, notice.spam_type)
        elif notice.kind == AUDIT_RESULT:
            await self.on_audit(chatbot_id, notice)
        else:
            log.info("chatbot %s: %s notice", chatbot_id, notice.kind)

    async def _spam_report(self, message_id: str, notice: Notice) -> None:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_RECIPIENT, {"message_id": message_id})).first()
        if row is None:
            log.info("a spam report names no message of ours; dropped")
            return
        now_ms = self.now_ms()
        to = self.keyring.open(row.tenant_id, "messages", "to", message_id, row.to_enc).decode()
        await add_opt_out(
            self.writer, row.tenant_id, row.to_bidx, source="spam_report", now_ms=now_ms, keyring=self.keyring, to=to
        )
        event = {
            "kind": "spam_report",
            "at": rfc3339(notice.at),
            "source": "rcs",
            "spam_type": notice.spam_type,
            "text": notice.free_text,
            "postback": None,
            "display_text": None,
        }
        await self.user_event(message_id, event, int(notice.at.timestamp() * 1000))

    # -- from the SMS link page and SMS replies --------------------------------------------------
    async def on_postback(self, tenant_id: str, message_id: str, display_text: str, postback: str | None) -> None:
        """A suggestion tapped on the SMS short-link page: the same user event as over RCS."""
        now_ms = self.now_ms()
        event = {
            "kind": "suggestion_response",
            "at": ms_to_rfc3339(now_ms),
            "source": "sms_link",
            "text": None,
            "postback": postback,
            "display_text": display_text,
        }
        await self.user_event(message_id, event, now_ms, tenant_id=tenant_id)
        if self.on_inbound is not None:
            async with self.db.read.connect() as conn:
                row = (await conn.execute(_RECIPIENT, {"message_id": message_id})).first()
            if row is None:
                return
            number = self.keyring.open(row.tenant_id, "messages", "to", message_id, row.to_enc).decode()
            await self._hand_on(
                InboundMessage(
                    tenant_id=tenant_id,
                    number=number,
                    channel="sms",
                    kind="suggestion_response",
                    at_ms=now_ms,
                    postback=postback,
                    display_text=display_text,
                    message_id=message_id,
                    source="sms_link",
                )
            )

    async def on_sms_reply(self, tenant_id: str, number: str, text: str, *, opt_out: bool) -> bool:
        """A reply to a brand's SMS → a `message.user_event` of the last SMS sent to that number
        (the same event an RCS reply gives, `source` "sms"); False when no SMS went to it.
        Either way the reply goes on to `on_inbound` (the brand is known by the extension)."""
        await self.ensure_keys(tenant_id)
        bidx = self.keyring.blind_index(tenant_id, number)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_LAST_SMS, {"tenant_id": tenant_id, "to_bidx": bidx})).first()
        now_ms = self.now_ms()
        if self.on_inbound is not None:
            message = InboundMessage(
                tenant_id=tenant_id,
                number=number,
                channel="sms",
                kind="text",
                at_ms=now_ms,
                text=text,
                message_id=row.id if row is not None else None,
                opt_out=opt_out,
                source="sms",
            )
        if row is None:
            if self.on_inbound is not None:
                await self._hand_on(message)
            return False
        event = {
            "kind": "text",
            "at": ms_to_rfc3339(now_ms),
            "source": "sms",
            "text": text,
            "postback": None,
            "display_text": None,
            "opt_out": opt_out,
        }
        await self.user_event(row.id, event, now_ms, tenant_id=tenant_id)
        if self.on_inbound is not None:
            await self._hand_on(message)
        return True

    async def opt_out_by_reply(self, tenant_id: str, number: str) -> None:
        """A TD/R/退订/STOP reply: the number goes on that brand's marketing opt-out list."""
        await self.ensure_keys(tenant_id)
        bidx = self.keyring.blind_index(tenant_id, number)
        await add_opt_out(
            self.writer, tenant_id, bidx, source="sms_reply", now_ms=self.now_ms(), keyring=self.keyring, to=number
        )

    async def user_event(self, message_id: str, event: dict, at_ms: int, tenant_id: str | None = None) -> None:
        """Record a recipient's action as a `message.user_event` webhook of `message_id`."""
        await self.writer.write(WriteBatch().run(self.lifecycle.user_event(message_id, event, at_ms, tenant_id)))
        self.notify()


async def _log_audit(chatbot_id: str, notice: Notice) -> None:
    log.info("chatbot %s: %s audit %s", chatbot_id, notice.audit_type, notice.result)
