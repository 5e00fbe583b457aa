"""Short links: creating them with the SMS, resolving them fast, recording every hit.

A link's row is added to the caller's WriteBatch so it commits together with the status
change that sends the SMS. Resolving a token is cached in memory for a short time (a
redirect usually costs no database read), and hits are buffered and written through the
GroupWriter in batches so recording them never slows the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import and_, distinct, func, select, update

import security
from fallback.shortlinks.agents import Agent, classify
from fallback.shortlinks.tables import link_clicks, short_links
from store import Clock, Database, GroupWriter, new_id
from store.background import wait_event
from store.writer import WriteBatch

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 30 * 24 * 3600  # a link lives 30 days from the SMS send
CACHE_TTL_S = 30.0  # how long a resolved token is trusted without asking the database
NEGATIVE_CACHE_TTL_S = 5.0  # unknown tokens: short, so a link committed a moment later resolves
CACHE_MAX = 10_000  # opened cards (and their rendered pages) held in memory
FLUSH_INTERVAL_S = 0.5
PURGE_INTERVAL_S = 3600.0  # how often expired links' cards are erased
FLUSH_ROWS = 2_000  # flush early when this many hits are waiting
MAX_BUFFER = 200_000  # while the database is unreachable, keep at most this many hits

# secrets.token_urlsafe(12) is 16 characters; longer tokens are accepted.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
MIN_TOKEN_CHARS = 16

# What a hit was: the card page, a suggestion (tracked redirect, reply form, .ics, map), the
# opt-out form, or a hit on an expired link. Dial buttons are plain tel: links (the page has
# no script to report a tap), so they are not counted.
KINDS = ("page", "action", "postback", "ics", "map", "opt_out", "expired")

PostbackCallback = Callable[[str, str, str, "str | None"], Awaitable[None]]
OptOutCallback = Callable[[str, str], Awaitable[None]]
KeysLoader = Callable[[str], Awaitable[None]]
SignatureLookup = Callable[[str], Awaitable[str]]  # tenant id → its SMS signature, e.g. 【鸿雁】


@dataclass
class Link:
    """A resolved short link, as cached (the card is opened, so it lives only in memory)."""

    token: str
    tenant_id: str
    message_id: str
    batch_id: str
    created_ms: int
    expires_ms: int
    card: dict
    signature: str
    # Rendered once per cached link by the HTTP layer (pages are reloaded and previewed).
    rendered: dict = field(default_factory=dict, repr=False)


class ShortLinks:
    """Per-recipient short links, their lookup cache and the click recorder."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        clock: Clock,
        *,
        base_url: str,
        token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(12),
        id_factory: Callable[[], str] = new_id,
        ttl_s: int = DEFAULT_TTL_S,
        signature_of: SignatureLookup,
        on_postback: PostbackCallback | None = None,
        on_opt_out: OptOutCallback | None = None,
        load_keys: KeysLoader | None = None,
        cache_ttl_s: float = CACHE_TTL_S,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.new_token = token_factory
        self.new_id = id_factory
        self.ttl_ms = int(ttl_s * 1000)
        self.signature_of = signature_of
        self.on_postback = on_postback
        self.on_opt_out = on_opt_out
        self.load_keys = load_keys
        self.cache_ttl_s = cache_ttl_s
        self.flush_interval_s = flush_interval_s
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Link | None]] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        self._buffer: list[dict] = []
        self._wake = asyncio.Event()
        self._idle = False  # the flusher sleeps until a hit
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # -- creating links ----------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def url_for(self, token: str) -> str:
        """The absolute short link: `<base_url>/s/<token>` (no query, no trailing slash)."""
        return f"{self.base_url}/s/{token}"

    def add_link(
        self,
        batch: WriteBatch,
        *,
        tenant_id: str,
        message_id: str,
        batch_id: str,
        card: dict,
        expires_ms: int | None = None,
    ) -> str:
        """Add a link for one recipient's composed card to `batch`; return its URL.

        `expires_ms` defaults to now + the link lifetime (call this when the SMS is sent).
        """
        token = self.new_token()
        if not TOKEN_RE.fullmatch(token) or len(token) < MIN_TOKEN_CHARS:
            raise ValueError("a token is at least 16 base64url characters (96 bits)")
        now_ms = self.now_ms()
        batch.insert(
            short_links,
            {
                "token": token,
                "tenant_id": tenant_id,
                "message_id": message_id,
                "batch_id": batch_id,
                "created_ms": now_ms,
                "expires_ms": now_ms + self.ttl_ms if expires_ms is None else expires_ms,
                "card_enc": self.keyring.seal(tenant_id, "short_links", "card", token, orjson.dumps(card)),
            },
        )
        return self.url_for(token)

    # -- resolving ---------------------------------------------------------------------
    async def lookup(self, token: str) -> Link | None:
        """The link for `token` (expired ones included), None when there is none."""
        hit = self._cache.get(token)
        if hit is not None and hit[0] > self._monotonic():
            return hit[1]
        if not TOKEN_RE.fullmatch(token):
            return None
        pending = self._inflight.get(token)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[token] = future
        try:
            link = await self._load(token)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._inflight.pop(token, None)
        future.set_result(link)
        self._remember(token, link)
        return link

    def forget(self, token: str) -> None:
        """Drop a cached token (e.g. after the link was changed)."""
        self._cache.pop(token, None)

    def _remember(self, token: str, link: Link | None) -> None:
        if len(self._cache) >= CACHE_MAX:
            # Dicts keep insertion order: drop the oldest tenth in one go.
            for old in list(self._cache)[: CACHE_MAX // 10]:
                del self._cache[old]
        ttl = self.cache_ttl_s if link is not None else min(self.cache_ttl_s, NEGATIVE_CACHE_TTL_S)
        self._cache[token] = (self._monotonic() + ttl, link)

    async def _load(self, token: str) -> Link | None:
        query = select(short_links).where(short_links.c.token == token)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        card = {}  # purged after expiry: only the 410 page is left to show
        if row.card_enc is not None:
            try:
                plain = self.keyring.open(row.tenant_id, "short_links", "card", token, row.card_enc)
            except security.UnknownTenant:
                if self.load_keys is None:
                    raise
                # A tenant created by another process since this one loaded its keys.
                await self.load_keys(row.tenant_id)
                plain = self.keyring.open(row.tenant_id, "short_links", "card", token, row.card_enc)
            card = orjson.loads(plain)
        return Link(
            token=token,
            tenant_id=row.tenant_id,
            message_id=row.message_id,
            batch_id=row.batch_id,
            created_ms=row.created_ms,
            expires_ms=row.expires_ms,
            card=card,
            signature=await self.signature_of(row.tenant_id),
        )

    async def purge_expired(self, now_ms: int | None = None) -> int:
        """Erase the sealed cards of links expired by `now_ms`; returns how many were erased.

        An expired link only ever shows its 410 page, so the recipient's personal text is not
        kept past the link's life; the link row stays for the click reports.
        """
        cutoff = self.now_ms() if now_ms is None else now_ms
        erased: list[int] = []

        def erase(conn) -> None:
            result = conn.execute(
                update(short_links)
                .where(short_links.c.expires_ms <= cutoff, short_links.c.card_enc.is_not(None))
                .values(card_enc=None)
            )
            erased.append(result.rowcount)

        await self.writer.write(WriteBatch().run(erase))
        self._cache.clear()
        return erased[-1] if erased else 0  # a retried group ran it again: the last run committed

    # -- recording hits ----------------------------------------------------------------
    def record(
        self,
        link: Link,
        kind: str,
        action: int | None = None,
        *,
        head: bool = False,
        remote: str | None,
        user_agent: str | None,
        agent: Agent | None = None,
    ) -> Agent:
        """Buffer one hit; it is written within `flush_interval_s`. Returns the agent class."""
        agent = agent or classify(user_agent)
        # Unique visitors are counted by a per-tenant HMAC of address and agent: neither is kept.
        fingerprint = self.keyring.blind_index(
            link.tenant_id, f"{remote or ''}\n{user_agent or ''}", purpose="click-fingerprint"
        )[:16]
        self._buffer.append(
            {
                "id": self.new_id(),
                "token": link.token,
                "tenant_id": link.tenant_id,
                "message_id": link.message_id,
                "batch_id": link.batch_id,
                "at_ms": self.now_ms(),
                "kind": kind,
                "action": action,
                "head": head,
                "bot": agent.bot,
                "preview": agent.preview,
                "agent": agent.name,
                "fingerprint": fingerprint,
            }
        )
        if len(self._buffer) >= FLUSH_ROWS or self._idle:
            self._wake.set()  # a full buffer goes now; the first hit ends the flusher's idle wait
        return agent

    @property
    def pending(self) -> int:
        """Hits buffered and not yet written."""
        return len(self._buffer)

    async def flush(self) -> None:
        """Write every buffered hit now (one group commit)."""
        async with self._flush_lock:
            rows, self._buffer = self._buffer, []
            if not rows:
                return
            try:
                await self.writer.write(WriteBatch().insert(link_clicks, rows))
            except Exception:
                # Keep them for the next attempt, unless the backlog has grown too large.
                room = max(0, MAX_BUFFER - len(self._buffer))
                if room < len(rows):
                    log.error("dropping %d click records: the database is not accepting writes", len(rows) - room)
                self._buffer[:0] = rows[:room]
                raise

    async def start(self) -> None:
        """Start the background flusher."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="shortlinks-clicks")

    async def stop(self) -> None:
        """Stop the flusher and write what is still buffered."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await self._task
        self._task = None
        await self.flush()

    async def _run(self) -> None:
        next_purge = self._monotonic()
        while not self._stopping:
            if self._buffer:
                await wait_event(self._wake, self.flush_interval_s)
                self._wake.clear()
            else:
                # Nothing buffered: sleep until a hit (or the purge) instead of looking twice a
                # second; then gather the hits of the next `flush_interval_s` into one write.
                self._idle = True
                await wait_event(self._wake, max(0.0, next_purge - self._monotonic()))
                self._idle = False
                self._wake.clear()
                if self._buffer and len(self._buffer) < FLUSH_ROWS and not self._stopping:
                    await wait_event(self._wake, self.flush_interval_s)
                    self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing click records failed; will retry")
            if self._monotonic() >= next_purge and not self._stopping:
                next_purge = self._monotonic() + PURGE_INTERVAL_S
                try:
                    await self.purge_expired()
                except Exception:
                    log.exception("erasing expired short-link cards failed; will retry")

    # -- reports -----------------------------------------------------------------------
    async def clicks_summary(
        self, tenant_id: str, message_id: str | None = None, batch_id: str | None = None
    ) -> dict | None:
        """Hit counts for one message's or one batch's links; None when it has no link.

        Human hits exclude HEAD requests, bots and link-preview fetchers; unique humans count
        distinct (recipient link, visitor fingerprint) pairs.
        """
        if (message_id is None) == (batch_id is None):
            raise ValueError("give exactly one of message_id or batch_id")
        await self.flush()  # read-your-writes for this process's hits
        if message_id is not None:
            scope_links = and_(short_links.c.tenant_id == tenant_id, short_links.c.message_id == message_id)
            scope = and_(link_clicks.c.tenant_id == tenant_id, link_clicks.c.message_id == message_id)
        else:
            scope_links = and_(short_links.c.tenant_id == tenant_id, short_links.c.batch_id == batch_id)
            scope = and_(link_clicks.c.tenant_id == tenant_id, link_clicks.c.batch_id == batch_id)
        c = link_clicks.c
        human = and_(c.head.is_(False), c.bot.is_(False), c.preview.is_(False))
        grouped = (
            select(c.kind, c.action, c.head, c.bot, c.preview, func.count().label("n"))
            .where(scope)
            .group_by(c.kind, c.action, c.head, c.bot, c.preview)
        )
        visitors = select(c.kind, c.action, c.message_id, c.fingerprint).where(scope, human).distinct().subquery()
        unique_per = select(visitors.c.kind, visitors.c.action, func.count().label("n")).group_by(
            visitors.c.kind, visitors.c.action
        )
        kind_visitors = select(c.kind, c.message_id, c.fingerprint).where(scope, human).distinct().subquery()
        unique_kind = select(kind_visitors.c.kind, func.count().label("n")).group_by(kind_visitors.c.kind)
        people = select(c.message_id, c.fingerprint).where(scope, human).distinct().subquery()
        async with self.db.read.connect() as conn:
            links = (await conn.execute(select(func.count()).select_from(short_links).where(scope_links))).scalar_one()
            if not links:
                return None
            rows = (await conn.execute(grouped)).all()
            uniques = {(r.kind, r.action): r.n for r in (await conn.execute(unique_per)).all()}
            kind_uniques = {r.kind: r.n for r in (await conn.execute(unique_kind)).all()}
            unique_humans = (await conn.execute(select(func.count()).select_from(people))).scalar_one()
            clicked = (await conn.execute(select(func.count(distinct(c.message_id))).where(scope, human))).scalar_one()
        return _summarise(
            rows,
            uniques,
            kind_uniques,
            unique_humans,
            clicked,
            links,
            {"message_id": message_id} if message_id else {"batch_id": batch_id},
        )


def _counts() -> dict:
    return {"hits": 0, "human_hits": 0, "unique_humans": 0, "bots": 0, "previews": 0, "head": 0}


def _summarise(
    rows, uniques: dict, kind_uniques: dict, unique_humans: int, clicked: int, links: int, scope: dict
) -> dict:
    total = _counts()
    by_kind: dict[str, dict] = {}
    actions: dict[tuple[str, int], dict] = {}
    for r in rows:
        buckets = [total, by_kind.setdefault(r.kind, _counts())]
        if r.action is not None:
            buckets.append(actions.setdefault((r.kind, r.action), _counts()))
        is_human = not (r.head or r.bot or r.preview)
        for b in buckets:
            b["hits"] += r.n
            b["human_hits"] += r.n if is_human else 0
            b["bots"] += r.n if r.bot else 0
            b["previews"] += r.n if r.preview else 0
            b["head"] += r.n if r.head else 0
    total["unique_humans"] = unique_humans
    for (kind, action), b in actions.items():
        b["unique_humans"] = uniques.get((kind, action), 0)
    for kind, b in by_kind.items():
        b["unique_humans"] = kind_uniques.get(kind, 0)
    return {
        **scope,
        "links": links,
        "recipients_clicked": clicked,
        "total_hits": total["hits"],
        "human_hits": total["human_hits"],
        "unique_humans": unique_humans,
        "bots": total["bots"],
        "previews": total["previews"],
        "head": total["head"],
        "by_kind": {k: by_kind[k] for k in sorted(by_kind)},
        "actions": [{"index": a, "kind": k, **actions[(k, a)]} for k, a in sorted(actions, key=lambda x: (x[1], x[0]))],
    }
