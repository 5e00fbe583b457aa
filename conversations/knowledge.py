"""A brand's knowledge base: FAQ entries, their matching index (conversations.matching) cached
per tenant, the answering settings (synonyms, the external AI service), and the answerer the conversation pipeline asks
(`Knowledge.answerer_for`: the FAQ, then the tenant's external AI service when configured).

The index of a tenant is built on first use and rebuilt when its `version` (knowledge_settings,
moved by every FAQ or synonym change, in any process) is not the one it was built at. Building
runs in a thread, so a large FAQ does not hold up the event loop; so does a match over a large
index. jieba's dictionary is loaded once, in a thread, the first time anything is matched.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import func, select, update

import cards
from api.problems import FieldError, Problem, pointer
from cards.compose import message_errors
from conversations.answerers import (
    DEFAULT_SYSTEM_PROMPT,
    AiConfig,
    Answer,
    Answerer,
    ChainAnswerer,
    OpenAiAnswerer,
    Question,
)
from conversations.knowledge_tables import knowledge_faqs, knowledge_settings
from conversations.matching import SEGMENTER, FaqIndex, Match, Segmenter, Synonyms
from conversations.matching import Entry as IndexEntry
from security.addresses import host_refusal
from security.keyring import Keyring
from security.resolver import PublicOnlyResolver
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch

MAX_FAQS = 5000  # per tenant
MAX_QUESTIONS = 50  # variants per entry
MAX_QUESTION_CHARS = 200
MAX_ANSWER_CHARS = 2000
MAX_TAGS = 20
MAX_SYNONYM_GROUPS = 500
MAX_PAGE = 200
MAX_TIMEOUT_S = 30.0
MAX_PROMPT_CHARS = 4000
# How long a process trusts the settings (and the FAQ version) it read: a change made in this
# process is seen at once, one made in another within this long. Saves a read per question.
SETTINGS_TTL_S = 1.0
# Above this many question variants, a match runs in a thread (under it: well under a millisecond).
INLINE_DOCS = 2000
# Question variants kept indexed across tenants in one process (the least recently used
# tenants' indexes go first; one is rebuilt from the database on its next question).
MAX_CACHED_DOCS = 250_000
_AD_KEY = "ai_key"


@dataclass(frozen=True)
class Settings:
    """A tenant's answering settings (the AI key still sealed). The confidence an answer needs
    and what a miss does are the bot rules' (conversations.rules), carried by each Question."""

    version: int
    synonyms: dict
    ai_kind: str | None
    ai_enabled: bool
    ai_base_url: str | None
    ai_model: str | None
    ai_key_enc: bytes | None
    ai_timeout_s: float
    ai_system_prompt: str | None


_DEFAULTS = Settings(0, {}, None, False, None, None, None, 5.0, None)


@dataclass(frozen=True)
class _Built:
    version: int
    index: FaqIndex
    entries: dict[str, dict]  # id → row as a dict (enabled entries only)


def _exec(statement):
    """A statement as the group writer runs it."""
    return lambda conn: conn.execute(statement)


def _fields(errors: list[FieldError]) -> None:
    if errors:
        raise Problem(422, "invalid FAQ entry" if errors[0].path != "" else "invalid body", errors)


def _text(value: Any, path: str, errors: list[FieldError], limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(path, "must be a non-empty string"))
        return None
    if len(value) > limit:
        errors.append(FieldError(path, f"must be at most {limit} characters"))
        return None
    return value.strip()


def parse_faq(body: Any) -> dict:
    """An FAQ entry from a request body: {"questions", "answer": {"text"?, "card"?}, "enabled"?,
    "tags"?}; 422 naming each wrong field."""
    if not isinstance(body, dict):
        raise Problem(422, "invalid body", [FieldError("", "must be a JSON object")])
    errors: list[FieldError] = []
    unknown = set(body) - {"id", "questions", "answer", "enabled", "tags"}
    errors.extend(FieldError(pointer(k), "unknown field") for k in sorted(unknown))
    questions = body.get("questions")
    clean: list[str] = []
    if not isinstance(questions, list) or not questions:
        errors.append(FieldError("/questions", "must be a non-empty array of strings"))
    elif len(questions) > MAX_QUESTIONS:
        errors.append(FieldError("/questions", f"at most {MAX_QUESTIONS} variants"))
    else:
        for i, q in enumerate(questions):
            got = _text(q, pointer("questions", i), errors, MAX_QUESTION_CHARS)
            if got is not None:
                clean.append(got)
    answer = body.get("answer")
    out_answer: dict = {}
    if not isinstance(answer, dict):
        errors.append(FieldError("/answer", "must be an object with text and/or card"))
    else:
        extra = set(answer) - {"text", "card"}
        errors.extend(FieldError(pointer("answer", k), "unknown field") for k in sorted(extra))
        if answer.get("text") is None and answer.get("card") is None:
            errors.append(FieldError("/answer", "needs text, a card or both"))
        if answer.get("text") is not None:
            text = _text(answer["text"], "/answer/text", errors, MAX_ANSWER_CHARS)
            if text is not None:
                out_answer["text"] = text
        if answer.get("card") is not None:
            errors.extend(card_errors(answer["card"], "/answer/card"))
            out_answer["card"] = answer["card"]
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError("/enabled", "must be true or false"))
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        errors.append(FieldError("/tags", f"must be an array of at most {MAX_TAGS} strings"))
        tags = []
    for i, t in enumerate(tags):
        if not isinstance(t, str) or not 0 < len(t) <= 50:
            errors.append(FieldError(pointer("tags", i), "must be a string of 1 to 50 characters"))
    _fields(errors)
    return {"questions": clean, "answer": out_answer, "enabled": enabled, "tags": tags}


def card_errors(card: Any, at: str) -> list[FieldError]:
    """A card checked with the cards library (its paths under `at`)."""
    if not isinstance(card, dict):
        return [FieldError(at, "must be a card (a JSON object)")]
    report = cards.validate_card(card)
    found = list(report.errors) or message_errors(card)
    return [FieldError(at + e.path, e.message) for e in found[:20]]


def _url_refusal(url: Any, allow_private: bool) -> str | None:
    if not isinstance(url, str) or not url or len(url) > 500:
        return "must be an http(s) URL of at most 500 characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an http(s) URL naming a host"
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return "must not carry credentials, a query or a fragment"
    if parts.scheme == "http" and not allow_private:
        return "must be an https:// URL"
    return None if allow_private else host_refusal(parts.hostname)


class Knowledge:
    """Tenants' FAQ entries, answering settings, and the answerers built from them."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        clock: Clock | None = None,
        *,
        id_factory: Callable[[], str] = new_id,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
        allow_private: bool = False,
        segmenter: Segmenter = SEGMENTER,
    ) -> None:
        self.db, self.writer, self.keyring = db, writer, keyring
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.ensure_keys = ensure_keys
        self.allow_private = allow_private  # the sandbox's AI stand-in is on loopback
        self.segmenter = segmenter
        self._built: OrderedDict[str, _Built] = OrderedDict()  # least recently used first
        self._building: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None
        self._settings: dict[str, tuple[float, Settings]] = {}
        self.monotonic = time.monotonic

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP client for AI services (public addresses only, unless the sandbox)."""
        if self._session is None or self._session.closed:
            resolver = None if self.allow_private else PublicOnlyResolver()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300, resolver=resolver)
            )
        return self._session

    # -- FAQ entries ------------------------------------------------------------------------------
    @staticmethod
    def view(row) -> dict:
        return {
            "id": row.id,
            "questions": list(row.questions),
            "answer": dict(row.answer),
            "enabled": bool(row.enabled),
            "tags": list(row.tags),
            "created_at": ms_to_rfc3339(row.created_ms),
            "updated_at": ms_to_rfc3339(row.updated_ms),
        }

    def _bump(self, tenant_id: str, now_ms: int) -> WriteBatch:
        """A batch that moves the tenant's version on (making its settings row if it has none)."""
        s = knowledge_settings.c
        return WriteBatch().run(
            _exec(
                update(knowledge_settings)
                .where(s.tenant_id == tenant_id)
                .values(version=s.version + 1, updated_ms=now_ms)
            )
        )

    async def _ensure_settings(self, tenant_id: str) -> None:
        if await self._settings_row(tenant_id) is None:
            row = {
                "tenant_id": tenant_id,
                "version": 0,
                "synonyms": {},
                "ai_enabled": False,
                "ai_timeout_s": 5.0,
                "updated_ms": self.now_ms(),
            }
            try:
                await self.writer.write(WriteBatch().insert(knowledge_settings, row))
            except Exception:
                # Another request made it first (the primary key): that row serves as well.
                if await self._settings_row(tenant_id) is None:
                    raise

    async def create(self, tenant_id: str, body: Any) -> dict:
        entry = parse_faq(body)
        async with self.db.read.connect() as conn:
            count = (
                await conn.execute(select(func.count()).where(knowledge_faqs.c.tenant_id == tenant_id))
            ).scalar_one()
        if count >= MAX_FAQS:
            raise Problem(422, f"at most {MAX_FAQS} FAQ entries per brand", [FieldError("", "too many entries")])
        await self._ensure_settings(tenant_id)
        now_ms, faq_id = self.now_ms(), self.new_id()
        row = {"id": faq_id, "tenant_id": tenant_id, **entry, "created_ms": now_ms, "updated_ms": now_ms}
        await self.writer.write(self._bump(tenant_id, now_ms).insert(knowledge_faqs, row))
        self._changed(tenant_id)
        view = await self.get(tenant_id, faq_id)
        assert view is not None
        return view

    async def get(self, tenant_id: str, faq_id: str) -> dict | None:
        f = knowledge_faqs.c
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(knowledge_faqs).where(f.tenant_id == tenant_id, f.id == faq_id))).first()
        return self.view(row) if row is not None else None

    async def page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """Entries in id order after `after`; the last id when there may be more."""
        f = knowledge_faqs.c
        query = select(knowledge_faqs).where(f.tenant_id == tenant_id)
        if after is not None:
            query = query.where(f.id > after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(f.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self.view(r) for r in rows], (rows[-1].id if more else None)

    async def replace(self, tenant_id: str, faq_id: str, body: Any) -> dict | None:
        entry = parse_faq(body)
        if await self.get(tenant_id, faq_id) is None:
            return None
        f, now_ms = knowledge_faqs.c, self.now_ms()
        change = (
            update(knowledge_faqs).where(f.tenant_id == tenant_id, f.id == faq_id).values(**entry, updated_ms=now_ms)
        )
        await self.writer.write(self._bump(tenant_id, now_ms).run(_exec(change)))
        self._changed(tenant_id)
        return await self.get(tenant_id, faq_id)

    async def delete(self, tenant_id: str, faq_id: str) -> bool:
        if await self.get(tenant_id, faq_id) is None:
            return False
        f = knowledge_faqs.c
        gone = knowledge_faqs.delete().where(f.tenant_id == tenant_id, f.id == faq_id)
        await self.writer.write(self._bump(tenant_id, self.now_ms()).run(_exec(gone)))
        self._changed(tenant_id)
        return True

    # -- settings ---------------------------------------------------------------------------------
    async def _settings_row(self, tenant_id: str):
        async with self.db.read.connect() as conn:
            return (
                await conn.execute(select(knowledge_settings).where(knowledge_settings.c.tenant_id == tenant_id))
            ).first()

    async def settings(self, tenant_id: str) -> Settings:
        """The tenant's answering settings (defaults when it never set any), as read at most
        SETTINGS_TTL_S ago."""
        cached = self._settings.get(tenant_id)
        now = self.monotonic()
        if cached is not None and now - cached[0] < SETTINGS_TTL_S:
            return cached[1]
        settings = await self._read_settings(tenant_id)
        if len(self._settings) > 10_000:
            self._settings.clear()
        self._settings[tenant_id] = (now, settings)
        return settings

    def _changed(self, tenant_id: str) -> None:
        self._settings.pop(tenant_id, None)

    async def _read_settings(self, tenant_id: str) -> Settings:
        row = await self._settings_row(tenant_id)
        if row is None:
            return _DEFAULTS
        return Settings(
            version=row.version,
            synonyms=dict(row.synonyms or {}),
            ai_kind=row.ai_kind,
            ai_enabled=bool(row.ai_enabled),
            ai_base_url=row.ai_base_url,
            ai_model=row.ai_model,
            ai_key_enc=row.ai_key_enc,
            ai_timeout_s=row.ai_timeout_s,
            ai_system_prompt=row.ai_system_prompt,
        )

    @staticmethod
    def answerer_view(s: Settings) -> dict:
        return {
            "kind": s.ai_kind,
            "enabled": s.ai_enabled,
            "base_url": s.ai_base_url,
            "model": s.ai_model,
            "api_key_set": s.ai_key_enc is not None,
            "timeout_s": s.ai_timeout_s,
            "system_prompt": s.ai_system_prompt or DEFAULT_SYSTEM_PROMPT,
            "synonyms": s.synonyms,
        }

    async def get_answerer(self, tenant_id: str) -> dict:
        return self.answerer_view(await self._read_settings(tenant_id))

    def _parse_answerer(self, body: Any, current: Settings) -> tuple[dict, str | None, bool]:
        """(column values, a new API key or None, whether to clear the key); 422 per field."""
        if not isinstance(body, dict):
            raise Problem(422, "invalid body", [FieldError("", "must be a JSON object")])
        errors: list[FieldError] = []
        known = {"kind", "enabled", "base_url", "model", "api_key", "timeout_s", "system_prompt", "synonyms"}
        known.add("api_key_set")
        errors.extend(FieldError(pointer(k), "unknown field") for k in sorted(set(body) - known))
        values: dict = {}
        if "synonyms" in body:
            values["synonyms"] = _parse_synonyms(body["synonyms"], errors)
        if "kind" in body:
            if body["kind"] not in ("openai", None):
                errors.append(FieldError("/kind", 'must be "openai" or null'))
            else:
                values["ai_kind"] = body["kind"]
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                errors.append(FieldError("/enabled", "must be true or false"))
            else:
                values["ai_enabled"] = body["enabled"]
        if "base_url" in body:
            if body["base_url"] is None:
                values["ai_base_url"] = None
            elif (why := _url_refusal(body["base_url"], self.allow_private)) is not None:
                errors.append(FieldError("/base_url", why))
            else:
                values["ai_base_url"] = body["base_url"].rstrip("/")
        if "model" in body:
            m = body["model"]
            if m is not None and (not isinstance(m, str) or not 0 < len(m) <= 200):
                errors.append(FieldError("/model", "must be a string of 1 to 200 characters"))
            else:
                values["ai_model"] = m
        if "timeout_s" in body:
            t = body["timeout_s"]
            if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= MAX_TIMEOUT_S:
                errors.append(
                    FieldError("/timeout_s", f"must be a number of seconds, more than 0, at most {MAX_TIMEOUT_S:g}")
                )
            else:
                values["ai_timeout_s"] = float(t)
        if "system_prompt" in body:
            p = body["system_prompt"]
            if p is not None and (not isinstance(p, str) or len(p) > MAX_PROMPT_CHARS):
                errors.append(
                    FieldError("/system_prompt", f"must be a string of at most {MAX_PROMPT_CHARS} characters")
                )
            else:
                values["ai_system_prompt"] = p or None
        new_key, clear_key = None, False
        if "api_key" in body:
            k = body["api_key"]
            if k is None:
                clear_key = True
            elif not isinstance(k, str) or not 0 < len(k) <= 500 or any(c.isspace() for c in k):
                errors.append(FieldError("/api_key", "must be a string of 1 to 500 characters without spaces"))
            else:
                new_key = k
        merged = {
            "kind": values.get("ai_kind", current.ai_kind),
            "enabled": values.get("ai_enabled", current.ai_enabled),
            "base_url": values.get("ai_base_url", current.ai_base_url),
            "model": values.get("ai_model", current.ai_model),
        }
        if merged["enabled"] and not errors:
            if merged["kind"] != "openai":
                errors.append(FieldError("/kind", 'an enabled answerer needs a kind ("openai")'))
            for name in ("base_url", "model"):
                if not merged[name]:
                    errors.append(FieldError(pointer(name), "an enabled answerer needs it"))
        if errors:
            raise Problem(422, "invalid answerer settings", errors)
        return values, new_key, clear_key

    async def put_answerer(self, tenant_id: str, body: Any) -> dict:
        """Change the answering settings (fields left out keep their value; `api_key` is written
        only, sealed; null clears it)."""
        await self._ensure_settings(tenant_id)
        values, new_key, clear_key = self._parse_answerer(body, await self._read_settings(tenant_id))
        if new_key is not None:
            if self.ensure_keys is not None:
                await self.ensure_keys(tenant_id)
            values["ai_key_enc"] = self.keyring.seal(
                tenant_id, "knowledge_settings", _AD_KEY, tenant_id, new_key.encode()
            )
        elif clear_key:
            values["ai_key_enc"] = None
        s = knowledge_settings.c
        now_ms = self.now_ms()
        change = update(knowledge_settings).where(s.tenant_id == tenant_id)
        if "synonyms" in values:  # the index depends on them
            change = change.values(version=s.version + 1)
        await self.writer.write(WriteBatch().run(_exec(change.values(**values, updated_ms=now_ms))))
        self._changed(tenant_id)
        return await self.get_answerer(tenant_id)

    # -- matching ---------------------------------------------------------------------------------
    async def _index(self, tenant_id: str, settings: Settings) -> _Built:
        built = self._built.get(tenant_id)
        if built is not None and built.version == settings.version:
            self._built.move_to_end(tenant_id)
            return built
        lock = self._building.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            built = self._built.get(tenant_id)
            if built is not None and built.version == settings.version:
                return built
            f = knowledge_faqs.c
            async with self.db.read.connect() as conn:
                rows = (
                    await conn.execute(
                        select(f.id, f.questions, f.answer).where(f.tenant_id == tenant_id, f.enabled.is_(True))
                    )
                ).all()
            entries: dict[str, dict[str, Any]] = {
                r.id: {"questions": list(r.questions), "answer": dict(r.answer)} for r in rows
            }
            await self.segmenter.ready()
            index = await asyncio.to_thread(
                FaqIndex,
                [IndexEntry(k, v["questions"]) for k, v in entries.items()],
                Synonyms.of(settings.synonyms),
                segmenter=self.segmenter,
            )
            built = _Built(settings.version, index, entries)
            self._built[tenant_id] = built
            self._built.move_to_end(tenant_id)
            self._evict(keep=tenant_id)
            return built

    def _evict(self, keep: str) -> None:
        """Drop the least recently used tenants' indexes while all of them hold more than
        MAX_CACHED_DOCS question variants (never `keep`'s, just built)."""
        total = sum(b.index.size for b in self._built.values())
        for tenant_id in list(self._built):
            if total <= MAX_CACHED_DOCS:
                break
            if tenant_id == keep:
                continue
            total -= self._built.pop(tenant_id).index.size
            lock = self._building.get(tenant_id)
            if lock is not None and not lock.locked():
                del self._building[tenant_id]

    async def _match(self, tenant_id: str, text: str, limit: int, settings: Settings) -> tuple[list[Match], _Built]:
        built = await self._index(tenant_id, settings)
        if built.index.size > INLINE_DOCS:
            return await asyncio.to_thread(built.index.match, text, limit), built
        return built.index.match(text, limit), built

    async def match(self, tenant_id: str, text: Any, limit: int = 5) -> list[dict]:
        """The best FAQ entries for a text, ranked (the threshold they are held to is the bot
        rules': knowledge_http reports it beside them)."""
        if not isinstance(text, str) or not text.strip():
            raise Problem(422, "invalid body", [FieldError("/text", "must be a non-empty string")])
        if len(text) > 1000:
            raise Problem(422, "invalid body", [FieldError("/text", "must be at most 1000 characters")])
        settings = await self.settings(tenant_id)
        found, built = await self._match(tenant_id, text, limit, settings)
        return [
            {
                "faq_id": m.faq_id,
                "score": m.score,
                "confidence": m.confidence,
                "question": built.entries[m.faq_id]["questions"][0],
            }
            for m in found
        ]

    async def suggestions(self, tenant_id: str, text: str, limit: int = 3) -> list[tuple[str, str]]:
        """(faq id, its first question) of the best entries: what an ask-back offers as chips."""
        settings = await self.settings(tenant_id)
        found, built = await self._match(tenant_id, text, limit, settings)
        return [(m.faq_id, built.entries[m.faq_id]["questions"][0]) for m in found]

    async def faq_answer(self, q: Question, settings: Settings) -> Answer | None:
        found, built = await self._match(q.tenant_id, q.text, 1, settings)
        if not found:
            return None
        top = found[0]
        return _entry_answer(top.faq_id, built.entries[top.faq_id]["answer"], top.confidence, q.channel)

    async def chosen(self, tenant_id: str, faq_id: str, channel: str) -> Answer | None:
        """The answer of an (enabled) entry the user chose from an ask-back's options."""
        built = await self._index(tenant_id, await self.settings(tenant_id))
        entry = built.entries.get(faq_id)
        return _entry_answer(faq_id, entry["answer"], 1.0, channel) if entry is not None else None

    async def ai_answerer(self, tenant_id: str, settings: Settings) -> OpenAiAnswerer | None:
        """The tenant's external AI answerer, when enabled and complete."""
        if not (settings.ai_enabled and settings.ai_kind == "openai" and settings.ai_base_url and settings.ai_model):
            return None
        key = None
        if settings.ai_key_enc is not None:
            if self.ensure_keys is not None:
                await self.ensure_keys(tenant_id)
            key = self.keyring.open(tenant_id, "knowledge_settings", _AD_KEY, tenant_id, settings.ai_key_enc).decode()
        config = AiConfig(
            base_url=settings.ai_base_url,
            model=settings.ai_model,
            api_key=key,
            timeout_s=settings.ai_timeout_s,
            system_prompt=settings.ai_system_prompt or DEFAULT_SYSTEM_PROMPT,
            confidence=1.0,
        )
        return OpenAiAnswerer(config, self.session())

    def answerer_for(self, tenant_id: str) -> Answerer:
        """The tenant's answerer: its FAQ, then its external AI service (when configured)."""
        return TenantAnswerer(self, tenant_id)


def _entry_answer(faq_id: str, answer: dict, confidence: float, channel: str) -> Answer:
    text = answer.get("text")
    if text is None and channel == "sms" and answer.get("card") is not None:
        text = cards.render_text(answer["card"])  # a card-only answer still answers an SMS
    return Answer(text=text, card=answer.get("card"), confidence=confidence, source=f"faq:{faq_id}", faq_id=faq_id)


def _parse_synonyms(value: Any, errors: list[FieldError]) -> dict:
    if not isinstance(value, dict) or len(value) > MAX_SYNONYM_GROUPS:
        errors.append(FieldError("/synonyms", f"must be an object of at most {MAX_SYNONYM_GROUPS} word → [words]"))
        return {}
    out: dict[str, list[str]] = {}
    for word, variants in value.items():
        at = pointer("synonyms", word)
        if not 0 < len(word) <= 20:
            errors.append(FieldError(at, "a word of 1 to 20 characters"))
        elif not isinstance(variants, list) or not 0 < len(variants) <= 50:
            errors.append(FieldError(at, "must be an array of 1 to 50 words"))
        elif not all(isinstance(v, str) and 0 < len(v) <= 20 for v in variants):
            errors.append(FieldError(at, "each word 1 to 20 characters"))
        else:
            out[word] = variants
    return out


class TenantAnswerer:
    """A tenant's chain, resolved on every question (settings may change between two)."""

    def __init__(self, knowledge: Knowledge, tenant_id: str) -> None:
        self.knowledge, self.tenant_id = knowledge, tenant_id

    async def answer(self, q: Question) -> Answer | None:
        k = self.knowledge
        settings = await k.settings(self.tenant_id)
        chain: list[Answerer] = [_FaqAnswerer(k, settings)]
        ai = await k.ai_answerer(self.tenant_id, settings)
        if ai is not None:
            chain.append(ai)
        return await ChainAnswerer(chain, q.threshold).answer(q)

    async def suggestions(self, text: str, limit: int) -> list[tuple[str, str]]:
        """(entry id, its first question) of the best FAQ entries for `text`: an ask-back's options."""
        return await self.knowledge.suggestions(self.tenant_id, text, limit)

    async def chosen(self, faq_id: str, channel: str) -> Answer | None:
        """The answer of the entry chosen from an ask-back's options (None: no such entry now)."""
        return await self.knowledge.chosen(self.tenant_id, faq_id, channel)


class _FaqAnswerer:
    def __init__(self, knowledge: Knowledge, settings: Settings) -> None:
        self.knowledge, self.settings = knowledge, settings

    async def answer(self, q: Question) -> Answer | None:
        return await self.knowledge.faq_answer(q, self.settings)
