"""The RCS step: capability, one send per recipient through the RCS channel, and the revoke
when a message's TTL runs out before it was delivered — or, for a message with an SMS fallback,
when the operator stays silent about it for `silence_s` (a lost callback must not hold it until
its TTL: the revoke's answer says whether it was delivered)."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import Connection

from dispatch.channels import Channels
from dispatch.decisions import SOURCE, error_detail, to_fallback
from dispatch.jobs import Job
from dispatch.media import OperatorMedia
from dispatch.observer import QUIET, Observer
from dispatch.retry import RetryPolicy
from dispatch.state import upsert_state
from messages import lifecycle
from messages.lifecycle import KEEP, Change
from messages.status import Status
from rcs.capability import DEFAULT_MAX_ENTRIES, CapabilityCache
from rcs.maap import ContentPart, OutboundMessage, RcsChannel, card_parts, file_parts, location_parts, text_parts
from rcs.results import Capability, MediaFile, Outcome, SendResult
from store import GroupWriter
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch")
# message ids → {message id: (the operator's conversationId, the contributionId it answers)}
ReplyContext = Callable[[list[str]], Awaitable[dict[str, tuple[str | None, str | None]]]]

S = Status
_RETRY = (Outcome.RETRY, Outcome.THROTTLE, Outcome.TOKEN, Outcome.REUPLOAD)
_SENDING = frozenset({S.QUEUED, S.RCS_SENT})
# Numbers of RCS messages awaiting their outcome, kept so a `failed` (code 1/2) teaches the
# capability cache; in memory only, bounded.
MAX_AWAITING = 200_000


def _by_tenant(jobs: list[Job]) -> dict[tuple[str, bool], list[Job]]:
    """Jobs by (tenant, test): a tenant's test messages go out on another channel."""
    out: dict[tuple[str, bool], list[Job]] = {}
    for j in jobs:
        out.setdefault((j.tenant_id, j.test), []).append(j)
    return out


def rcs_traffic_type(traffic_type: str) -> str | None:
    """Our traffic types → the CSP interface's: marketing is `advertisement`; notifications and
    one-time codes are sent without one (the interface has no value for them)."""
    return "advertisement" if traffic_type == "marketing" else None


def message_parts(doc: dict) -> tuple[ContentPart, ...]:
    """The messageList of a composed content document: a text message as `text/plain`, a file
    in the file-transfer form, a location as geo text, a card as a bot message; its chip list
    as a part of its own."""
    message, chips = doc["message"], doc.get("suggestions")
    if set(message) == {"text"} and isinstance(message["text"], str):
        return text_parts(message["text"], chips)
    if set(message) == {"file"}:
        f = message["file"]
        file = MediaFile(f["mediaUrl"], f["mediaContentType"], f["mediaFileSize"], file_name=f.get("fileName"))
        thumbnail = None
        if f.get("thumbnailUrl"):
            thumbnail = MediaFile(f["thumbnailUrl"], f["thumbnailContentType"], f["thumbnailFileSize"])
        return file_parts(file, thumbnail, chips)
    if set(message) == {"location"}:
        loc = message["location"]
        return location_parts(loc["latitude"], loc["longitude"], loc.get("label"), chips, crs=loc.get("crs") or "gcj02")
    return card_parts({"message": message}, chips)


def keyed_capability_cache(max_entries: int = DEFAULT_MAX_ENTRIES) -> CapabilityCache:
    """A capability cache keyed by an HMAC-SM3 of the number under a per-process key: the cache
    holds no numbers, and at most `max_entries` of them."""
    cache_key = secrets.token_bytes(32)

    def capability_key(number: str) -> bytes:
        mac = crypto_hmac.HMAC(cache_key, hashes.SM3())
        mac.update(number.encode())
        return mac.finalize()

    return CapabilityCache(ttl=3600.0, negative_ttl=300.0, key=capability_key, max_entries=max_entries)


@dataclass
class RcsCounts:
    rcs_sent: int = 0
    retries: int = 0
    fallback: int = 0
    revokes: int = 0


class RcsStage:
    """Sends queued jobs over RCS and revokes expired ones; each outcome is one `Change`."""

    def __init__(
        self,
        channels: Channels,
        writer: GroupWriter,
        *,
        now_ms: Callable[[], int],
        retry: RetryPolicy,
        revoke_wait_s: float,
        revoke_give_up_s: float = 3600.0,
        silence_s: float = 300.0,
        capability: CapabilityCache | None = None,
        capability_entries: int = DEFAULT_MAX_ENTRIES,
        media: OperatorMedia | None = None,
        rng: random.Random | None = None,
        observer: Observer = QUIET,
    ):
        self.channels, self.writer = channels, writer
        self.observer = observer
        self.media = media
        self.now_ms = now_ms
        self.retry, self.revoke_wait_s = retry, revoke_wait_s
        self.silence_ms = int(silence_s * 1000)
        self.give_up_ms = int(revoke_give_up_s * 1000)
        self.capability = capability or keyed_capability_cache(capability_entries)
        # What the simulator taught about numbers (by their last digits) must not teach the
        # live cache: test messages have a cache of their own.
        self.test_capability = keyed_capability_cache(capability_entries)
        self.rng = rng or random.Random()
        self.counts = RcsCounts()
        self._awaiting: OrderedDict[str, tuple[str, bool]] = OrderedDict()  # id → (number, test)
        # message ids → (the operator's conversationId, the contributionId answered) of those
        # that reply in a conversation (server.py wires the conversations layer here).
        self.reply_context: ReplyContext | None = None

    async def send(self, jobs: list[Job]) -> list[Change]:
        """Send each job (capable numbers only) and return what became of it."""
        if not jobs:
            return []
        now_ms = self.now_ms()
        live: list[Job] = []
        expired: list[Job] = []
        changes: list[Change] = []
        for j in jobs:
            if j.channel == "sms":  # an SMS-only send: nothing goes over RCS
                changes.append(self._fallback(j, now_ms, "sms_requested"))
            else:
                (expired if now_ms >= j.expires_ms else live).append(j)
        # Expired before an accepted send was recorded: a send may still have reached the MaaP
        # (a crash between its answer and our commit), so revoke first; a MaaP that does not
        # know the message refuses the revoke and the SMS goes.
        changes.extend(await self.expire(expired))
        sendable: list[tuple[Job, RcsChannel]] = []
        for (tenant_id, test), tenant_jobs in _by_tenant(live).items():
            channel = await self.channels.for_tenant(tenant_id, test)
            cache = self.cache_for(test)
            caps = await cache.resolve_many({j.to for j in tenant_jobs}, channel.check_capabilities)
            for j in tenant_jobs:
                if caps.get(j.to) in (Capability.NOT_SUPPORTED, Capability.INVALID):
                    changes.append(self._fallback(j, now_ms, "not_rcs_capable", capability=caps[j.to].value))
                else:
                    sendable.append((j, channel))
        replies = await self._replies([j.id for j, _ in sendable])
        changes.extend(
            await asyncio.gather(*(self._send_one(j, channel, replies.get(j.id)) for j, channel in sendable))
        )
        return changes

    async def _replies(self, message_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        if self.reply_context is None or not message_ids:
            return {}
        try:
            return await self.reply_context(message_ids)
        except Exception:  # a reply still goes, in a conversation of its own
            log.exception("looking up the conversation of %d messages failed", len(message_ids))
            return {}

    async def _send_one(
        self, job: Job, channel: RcsChannel, reply: tuple[str | None, str | None] | None = None
    ) -> Change:
        assert job.card is not None
        conversation_id, in_reply_to = reply if reply is not None else (None, None)
        attempt = job.attempts + 1
        started = time.perf_counter()  # the media upload, when one is needed, is part of the send
        try:
            card = await self.media.localise(job.card, channel) if self.media is not None else job.card
            message = OutboundMessage(
                message_id=job.id,
                to=job.to,
                parts=message_parts(card),
                conversation_id=conversation_id or job.batch_id,
                contribution_id=job.id,
                traffic_type=rcs_traffic_type(job.traffic_type),
                in_reply_to=in_reply_to,
                expires_ms=job.expires_ms,
            )
            result = await channel.send(message)
            self.observer.send("rcs", result.outcome.value, time.perf_counter() - started)
        except Exception as exc:  # connection refused, timeout, an upload that failed…: transient
            result = SendResult(False, Outcome.RETRY, detail=type(exc).__name__)
            self.observer.send("rcs", "error", time.perf_counter() - started)
        if result.outcome is Outcome.REUPLOAD and self.media is not None:
            self.media.forget(channel)
        now_ms = self.now_ms()
        queued = frozenset({S.QUEUED})
        if result.accepted:
            self.counts.rcs_sent += 1
            self._awaiting[job.id] = (job.to, job.test)
            if len(self._awaiting) > MAX_AWAITING:
                self._awaiting.popitem(last=False)
            # Looked at again at the TTL, or after a silence when an SMS could still go (a message
            # without fallback keeps its whole TTL: an early revoke would only end it).
            due = job.expires_ms if job.fallback == "none" else min(job.expires_ms, now_ms + self.silence_ms)
            return Change(
                job.id,
                S.RCS_SENT,
                now_ms,
                SOURCE,
                {"attempts": attempt},
                when=queued,
                due_ms=due,
                attempts=attempt,
                record_anyway=True,
            )
        error = error_detail(result)
        if result.outcome in _RETRY:
            self.counts.retries += 1
            delay_ms = int(self.retry.delay(attempt, result.retry_after, self.rng) * 1000)
            due = min(now_ms + delay_ms, job.expires_ms)
            detail = {"attempt": attempt, "error": error, "retry_at": ms_to_rfc3339(due)}
            return Change(job.id, S.QUEUED, now_ms, SOURCE, detail, when=queued, due_ms=due, attempts=attempt)
        if result.outcome is Outcome.INVALID:
            detail = {"reason": "rejected by the MaaP", "error": error}
            return Change(job.id, S.FAILED, now_ms, SOURCE, detail, when=queued, due_ms=None, attempts=attempt)
        return self._fallback(job, now_ms, "rcs_failed", attempts=attempt, error=error)

    def _fallback(self, job: Job, now_ms: int, reason: str, *, attempts=KEEP, **detail) -> Change:
        if job.fallback != "none":
            self.counts.fallback += 1
        return to_fallback(job.id, job.fallback, now_ms, reason, attempts=attempts, **detail)

    async def expire(self, jobs: list[Job], cancelled: frozenset[str] | set[str] = frozenset()) -> list[Change]:
        """TTL passed, the operator stayed silent (see `silence_s`), or a cancel was asked
        (`cancelled`) while the RCS message is undelivered: ask the channel to revoke it. The
        outcome (revokeOk / revokeFail) arrives as a delivery status; until then the message
        waits, and is asked about again if none comes."""
        if not jobs:
            return []
        results = await asyncio.gather(*(self._revoke(j) for j in jobs))
        changes, waits = [], []
        now_ms = self.now_ms()
        for job, result in zip(jobs, results):
            unanswered = result.accepted or result.outcome in (Outcome.RETRY, Outcome.THROTTLE, Outcome.TOKEN)
            if unanswered and now_ms >= job.expires_ms + self.give_up_ms:
                # Never silence: the operator has had its chance to say what became of it.
                detail = {"reason": "the operator never answered the revoke; no SMS (the RCS message may have arrived)"}
                if not result.accepted:
                    detail["error"] = error_detail(result)
                changes.append(Change(job.id, S.FAILED, now_ms, SOURCE, detail, when=_SENDING, due_ms=None))
            elif result.accepted:
                waits.append((job, now_ms + int(self.revoke_wait_s * 1000)))
            elif result.outcome in (Outcome.RETRY, Outcome.THROTTLE, Outcome.TOKEN):
                delay = self.retry.delay(1, result.retry_after, self.rng)
                waits.append((job, now_ms + int(delay * 1000)))
            elif job.id in cancelled:
                # The operator does not know it: it was never sent, and now never will be.
                detail = {"reason": "cancelled", "error": error_detail(result)}
                changes.append(Change(job.id, S.REVOKED, now_ms, SOURCE, detail, when=_SENDING, due_ms=None))
            else:
                # The MaaP does not know the message (e.g. it lost its state): it cannot deliver it.
                changes.append(self._fallback(job, now_ms, "revoke_refused", error=error_detail(result)))
        if waits:

            def wait(conn: Connection) -> None:
                for job, due in waits:
                    upsert_state(conn, job.id, job.tenant_id, revoke_ms=now_ms)
                    lifecycle.reschedule(conn, job.id, due_ms=due, when=_SENDING)

            await self.writer.write(WriteBatch().run(wait))
        return changes

    async def _revoke(self, job: Job) -> SendResult:
        self.counts.revokes += 1
        try:
            channel = await self.channels.for_tenant(job.tenant_id, job.test)
            return await channel.revoke(job.id, job.to)
        except Exception as exc:
            return SendResult(False, Outcome.RETRY, detail=type(exc).__name__)

    def settled(self, message_id: str, status: str, error_code: int | None) -> None:
        """An RCS message reached an end at the operator: a failure teaches the capability cache."""
        if status in ("delivered", "displayed", "failed", "revokeOk", "revokeFail"):
            awaited = self._awaiting.pop(message_id, None)
            if awaited is None:
                return
            number, test = awaited
            if status == "failed":
                self.cache_for(test).note_failed(number, error_code)
            elif status in ("delivered", "displayed"):
                self.cache_for(test).put(number, Capability.SUPPORTED)

    def cache_for(self, test: bool) -> CapabilityCache:
        """The capability cache of live messages, or of test ones (what the simulator says)."""
        return self.test_capability if test else self.capability
