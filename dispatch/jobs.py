"""Claimed messages opened for sending: the recipient's number and variables unsealed, the
batch's card compiled once and composed for each recipient."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import orjson
from sqlalchemy import bindparam, select

import cards
import security
from messages.status import Status
from messages.tables import batches
from store import Database


@dataclass
class Job:
    """A claimed message, opened for sending (lives only in memory)."""

    id: str
    tenant_id: str
    batch_id: str
    status: Status
    attempts: int
    expires_ms: int
    to: str
    variables: dict
    card: dict | None = None
    traffic_type: str = "notification"
    to_bidx: bytes = b""
    fallback: str = "sms"  # the batch's policy: "sms", or "none" (fail / expire instead)
    channel: str = "rcs"  # "rcs" first, or "sms" only (messages.request.CHANNELS)
    test: bool = False  # sent with a test key: only to the simulators (dispatch.channels)


@dataclass(frozen=True)
class BatchCard:
    """What every message of a batch shares: its compiled card (None with `error`), traffic
    type and fallback policy."""

    compiled: cards.CompiledCard | None
    traffic_type: str
    fallback: str
    error: str | None = None
    channel: str = "rcs"


_BATCH = select(batches).where(batches.c.id == bindparam("batch_id"))


class CardSource:
    """Each batch's card, opened and compiled once; LRU-cached by batch id."""

    def __init__(self, db: Database, keyring: security.Keyring, max_batches: int = 2048):
        self.db, self.keyring, self.max_batches = db, keyring, max_batches
        self._cache: OrderedDict[str, BatchCard] = OrderedDict()
        self._compiled: dict[bytes, cards.CompiledCard] = {}

    async def get(self, batch_id: str, tenant_id: str) -> BatchCard:
        """The batch's card, traffic type and fallback policy."""
        hit = self._cache.get(batch_id)
        if hit is not None:
            self._cache.move_to_end(batch_id)
            return hit
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_BATCH, {"batch_id": batch_id})).first()
        if row is None:
            return BatchCard(None, "notification", "sms", "batch not found")
        if row.card_enc is not None:
            card = orjson.loads(self.keyring.open(tenant_id, "batches", "card", batch_id, row.card_enc))
        else:
            template = cards.load_library().get(orjson.loads(row.template_ref)["name"])
            card = template.card if template is not None else None
        entry = replace(self._compile(card, row.traffic_type, row.fallback), channel=row.channel)
        self._cache[batch_id] = entry
        if len(self._cache) > self.max_batches:
            self._cache.popitem(last=False)
            if len(self._compiled) > self.max_batches:
                self._compiled.clear()
        return entry

    def _compile(self, card: dict | None, traffic_type: str, fallback: str) -> BatchCard:
        if card is None:
            return BatchCard(None, traffic_type, fallback, "template not found")
        key = orjson.dumps(card, option=orjson.OPT_SORT_KEYS)
        try:
            compiled = self._compiled.get(key) or cards.compile_template(card)
        except cards.CardInvalid as exc:
            first = exc.errors[0].message if exc.errors else ""
            return BatchCard(None, traffic_type, fallback, f"card invalid: {first}")
        self._compiled[key] = compiled
        return BatchCard(compiled, traffic_type, fallback)

    async def open(self, keyring: security.Keyring, row) -> tuple[Job, str | None]:
        """A claimed `messages` row as a Job with its card composed; the error that stops it, if any."""
        to = keyring.open(row.tenant_id, "messages", "to", row.id, row.to_enc).decode()
        variables = (
            orjson.loads(keyring.open(row.tenant_id, "messages", "variables", row.id, row.variables_enc))
            if row.variables_enc
            else {}
        )
        batch = await self.get(row.batch_id, row.tenant_id)
        status = Status.QUEUED if row.status in (Status.ACCEPTED, Status.SCHEDULED) else Status(row.status)
        job = Job(
            row.id,
            row.tenant_id,
            row.batch_id,
            status,
            row.attempts,
            row.expires_ms,
            to,
            variables,
            traffic_type=batch.traffic_type,
            fallback=batch.fallback,
            channel=batch.channel,
            to_bidx=row.to_bidx,
            test=bool(row.test),
        )
        error = batch.error
        if batch.compiled is not None:
            try:
                # A heavy template is composed in the compose pool, off the event loop.
                job.card = await batch.compiled.compose_async(variables)
            except (cards.CardInvalid, cards.MissingVariable) as exc:
                error = f"card cannot be composed: {exc}"
        return job, error
