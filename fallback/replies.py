"""Replies to our SMS (mobile-originated messages from the SMSC).

Each tenant's SMS goes out from the platform's sender number followed by the tenant's
extension code (扩展码), so a reply's destination names the brand. An opt-out reply — R, T, TD,
退订 or STOP, as the marketing footer invites — puts the number on that brand's
list. Every reply reaches the brand as a `message.user_event` webhook of the last SMS sent to
that number, as an RCS reply would. A reply carrying one of the brand's consent keywords (Y,
同意 by default) records a marketing consent, the reply and its MO id as proof (`on_consent`).
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable

from fallback.client import InboundSms
from security.logs import mask_phone
from security.numbers import ascii_digits, canonical_number
from store.ids import new_id

log = logging.getLogger("hongyan.sms.replies")

# Only words that mean nothing else: "N" or 取消 ("cancel") could answer a brand's question.
OPT_OUT_WORDS = frozenset({"R", "T", "TD", "STOP", "UNSUBSCRIBE", "退订", "拒收"})


def is_opt_out(text: str) -> bool:
    """True for a reply that asks to stop: the word alone, any case, width or punctuation."""
    folded = unicodedata.normalize("NFKC", text).strip().upper()
    word = "".join(ch for ch in folded if not unicodedata.category(ch).startswith(("P", "Z")))
    return word in OPT_OUT_WORDS


class SmsReplies:
    """Routes replies by extension code: `tenant_of(ext)` → tenant id or None;
    `on_opt_out(tenant_id, number)` records the opt-out."""

    def __init__(
        self,
        sender_number: str,
        *,
        tenant_of: Callable[[str], Awaitable[str | None]],
        on_opt_out: Callable[[str, str], Awaitable[None]],
        on_reply: Callable[..., Awaitable[bool]] | None = None,
        on_consent: Callable[[str, str, str, str], Awaitable[bool]] | None = None,
    ):
        self.sender_number = sender_number
        self.tenant_of = tenant_of
        self.on_opt_out = on_opt_out
        # (tenant id, number, text, opt_out=…) → whether it reached the brand (as a user event)
        self.on_reply = on_reply
        # (tenant id, number, text, MO id) → whether the reply granted a consent
        self.on_consent = on_consent
        self.counts = {"opt_outs": 0, "consents": 0, "other": 0, "unrouted": 0, "forwarded": 0}
        # One at a time, in arrival order: a conversation's replies reach the brand in order.
        self._in_order = asyncio.Lock()

    def extension(self, destination: str) -> str | None:
        """The extension code in a reply's destination (E.164 or national digits)."""
        digits = destination.lstrip("+")
        at = digits.find(self.sender_number)
        ext = digits[at + len(self.sender_number) :] if at >= 0 else ""
        return ext if ascii_digits(ext) else None

    async def handle(self, sms: InboundSms) -> None:
        async with self._in_order:
            await self._handle(sms)

    async def _handle(self, sms: InboundSms) -> None:
        ext = self.extension(sms.destination)
        tenant_id = await self.tenant_of(ext) if ext else None
        # SMSCs write the source as they like (8613…, 13…, +86 …): the opt-out list and the
        # conversation match only the canonical E.164 form the messages were stored under.
        source = canonical_number(sms.source)
        if tenant_id is None or source is None:
            self.counts["unrouted"] += 1
            why = "to an unknown extension" if tenant_id is None else "from an unreadable number"
            log.info("reply from %s %s dropped", mask_phone(sms.source), why)
            return
        opt_out = is_opt_out(sms.text)
        if opt_out:
            await self.on_opt_out(tenant_id, source)
            self.counts["opt_outs"] += 1
            log.info("%s opted out of tenant %s's marketing by SMS reply", mask_phone(source), tenant_id)
        elif self.on_consent is not None and await self.on_consent(
            tenant_id, source, sms.text, sms.message_id or new_id()
        ):
            self.counts["consents"] += 1
            log.info("%s consented to tenant %s's marketing by SMS reply", mask_phone(source), tenant_id)
        else:
            self.counts["other"] += 1
        # Every reply, an opt-out too, goes to the brand as a user event of its last SMS there.
        if self.on_reply is not None and await self.on_reply(tenant_id, source, sms.text, opt_out=opt_out):
            self.counts["forwarded"] += 1
