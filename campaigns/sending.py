"""One page of a campaign's (or a journey's) recipients sent through the same door as the API:
the send request built from the contacts (their numbers and the template's variables from their
attributes), checked (`messages.submit.SendChecks`) and accepted by the message ledger under an
idempotency key of the page — so a page retried after a crash is answered from the first accept,
never sent twice."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from api.problems import Problem
from audiences.contacts import open_attributes
from audiences.tables import contacts
from billing.prices import carrier_of
from campaigns.tables import campaign_messages
from messages.ledger import MessageLedger
from messages.request import parse_send_request
from messages.submit import SendChecks
from security import Keyring
from store import Database
from store.bulk import executemany

log = logging.getLogger(__name__)
MAX_PAGE = 1000
_RECIPIENT_ERROR = re.compile(r"^/recipients/(\d+)(/|$)")
MAX_RETRIES = 5


@dataclass
class Content:
    """What a page sends: the template, how variables come from attributes, the send's options."""

    template: dict
    traffic_type: str
    ttl_s: int
    fallback: str = "sms"
    channel: str = "rcs"
    variable_names: Sequence[str] = ()
    mapping: dict[str, str] = field(default_factory=dict)  # variable → attribute
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    message_id: str
    status: str
    carrier: str


@dataclass
class PageResult:
    sent: dict[str, Sent] = field(default_factory=dict)  # contact id → its message
    skipped: dict[str, str] = field(default_factory=dict)  # contact id → why


def record_messages(
    conn: Connection, result: PageResult, *, campaign_id: str, tenant_id: str, variant: str, kind: str, at_ms: int
) -> None:
    """Insert a page's messages into `campaign_messages` (inside the caller's transaction), but
    those already there: a page answered again after a crash may have been recorded before."""
    rows = [
        {
            "message_id": s.message_id,
            "campaign_id": campaign_id,
            "tenant_id": tenant_id,
            "variant": variant,
            "kind": kind,
            "carrier": s.carrier,
            "at_ms": at_ms,
        }
        for s in result.sent.values()
    ]
    if not rows:
        return
    ids = [r["message_id"] for r in rows]
    have = set(
        conn.execute(select(campaign_messages.c.message_id).where(campaign_messages.c.message_id.in_(ids))).scalars()
    )
    fresh = [r for r in rows if r["message_id"] not in have]
    if fresh:
        executemany(conn, campaign_messages, fresh)


class PageSender:
    """Sends pages of contacts; `ensure_keys` loads a tenant's data keys before opening."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        ledger: MessageLedger,
        checks: SendChecks,
        *,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
    ):
        self.db, self.keyring, self.ledger, self.checks = db, keyring, ledger, checks
        self.ensure_keys = ensure_keys

    async def _open(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, tuple[str, dict]]:
        """contact id → (number, attributes), for the contacts that still exist."""
        c = contacts.c
        query = select(c.id, c.number_bidx, c.number_enc, c.attributes_enc).where(
            c.tenant_id == tenant_id, c.id.in_(list(contact_ids))
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = {}
        for r in rows:
            number = self.keyring.open(tenant_id, "contacts", "number", r.id, r.number_enc).decode()
            out[r.id] = (number, open_attributes(self.keyring, tenant_id, r.number_bidx, r.attributes_enc))
        return out

    def _variables(self, content: Content, attributes: dict) -> tuple[dict, str | None]:
        """The recipient's variables, or the first variable no attribute or default gives."""
        out: dict[str, Any] = {}
        for name in content.variable_names:
            attribute = content.mapping.get(name, name)
            if attribute in attributes:
                out[name] = attributes[attribute]  # a string, a number, or a date as YYYY-MM-DD
            elif name in content.defaults:
                out[name] = content.defaults[name]
            else:
                return out, name
        return out, None

    async def send(self, tenant_id: str, key: str, contact_ids: Sequence[str], content: Content) -> PageResult:
        """Send one page (at most MAX_PAGE contacts, in the order given). A Problem other than a
        recipient's own (credit spent, a template no longer sendable, a daily volume limit)
        is raised: nothing of the page was accepted."""
        assert len(contact_ids) <= MAX_PAGE
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        result = PageResult()
        raw = key.encode()
        opened = await self._open(tenant_id, contact_ids)
        recipients: list[tuple[str, str, dict]] = []  # contact id, number, variables
        for cid in contact_ids:
            if cid not in opened:
                result.skipped[cid] = "the contact was deleted"
                continue
            number, attributes = opened[cid]
            variables, missing = self._variables(content, attributes)
            if missing is not None:
                result.skipped[cid] = f"no attribute or default for the variable {missing!r}"
                continue
            recipients.append((cid, number, variables))
        replay = await self.ledger.replay(tenant_id, key, raw)
        if replay is not None:
            return self._answered(result, replay.body, recipients)
        for _ in range(MAX_RETRIES):
            if not recipients:
                return result
            body = {
                "recipients": [{"to": n, **({"variables": v} if v else {})} for _, n, v in recipients],
                "template": content.template,
                "traffic_type": content.traffic_type,
                "ttl": content.ttl_s,
                "fallback": content.fallback,
                "channel": content.channel,
            }
            req = parse_send_request(body)
            try:
                hold = await self.checks.prepare(req, tenant_id)
            except Problem as exc:
                bad = self._recipient_errors(exc, recipients)
                if not bad:
                    raise
                for i, message in bad.items():
                    result.skipped[recipients[i][0]] = message
                recipients = [r for i, r in enumerate(recipients) if i not in bad]
                continue
            try:
                answer = await self.ledger.accept(tenant_id, req, idempotency=(key, raw), hold=hold)
            except IntegrityError:
                # Another process accepted this page first (the key is taken): answer as it did.
                again = await self.ledger.replay(tenant_id, key, raw)
                if again is None:
                    raise
                answer = again.body
            return self._answered(result, answer, recipients)
        raise Problem(422, "a page kept failing its checks", [])

    @staticmethod
    def _recipient_errors(exc: Problem, recipients: list) -> dict[int, str]:
        """The recipients a 422 names (index → message); empty when it names anything else."""
        if exc.status != 422 or not exc.errors:
            return {}
        out: dict[int, str] = {}
        for e in exc.errors:
            m = _RECIPIENT_ERROR.match(e.path)
            if m is None or int(m.group(1)) >= len(recipients):
                return {}
            out.setdefault(int(m.group(1)), e.message[:200])
        return out

    @staticmethod
    def _answered(result: PageResult, body: bytes, recipients: list[tuple[str, str, dict]]) -> PageResult:
        by_number = {n: cid for cid, n, _ in recipients}
        for item in orjson.loads(body)["messages"]:
            cid = by_number.get(item["to"])
            if cid is not None:
                result.sent[cid] = Sent(item["id"], item["status"], carrier_of(item["to"]))
        return result
