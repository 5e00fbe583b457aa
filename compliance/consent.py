"""Consent records: who agreed to receive which of a tenant's messages, when, how, with what proof.

A consent covers traffic types (`scope`, by default marketing) of one recipient. When the
tenant's policy says `marketing_requires_consent`, a marketing send to a recipient without an
active consent covering marketing is refused at accept (messages.ledger). Every grant and
withdrawal — and every removal from the opt-out list (messages.optouts) — is chained per tenant
in `consent_events`: SM3(domain ‖ previous hash ‖ canonical facts), the facts holding the
recipient's blind index and a keyed HMAC of the proof, never a number or ciphertext.

Consents are kept at least `CONSENT_MIN_RETENTION_DAYS` days (withdrawn ones too: the proof of
what was agreed must outlive the sends it allowed); only an erasure the person asked for may
remove one sooner.
"""

from __future__ import annotations

import csv
import io
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select, update
from sqlalchemy.exc import IntegrityError

from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from cards.library import TRAFFIC_TYPES
from compliance.chain import TenantChain
from compliance.consent_tables import consent_events, consents
from compliance.tables import policies
from security.keyring import Keyring
from security.numbers import normalise_number
from store import Database, GroupWriter
from store.books import RecordBook
from store.clock import rfc3339
from store.writer import WriteBatch

CONSENT_MIN_RETENTION_DAYS = 150
"""No retention or erasure job may purge a consent younger than this (about 5 months), withdrawn
or not, unless the person asked for their data to be erased."""
CONSENT_MIN_RETENTION_MS = CONSENT_MIN_RETENTION_DAYS * 86_400_000

SOURCES = ("web_form", "keyword_reply", "import", "api", "h5_page", "paper", "call_center")
DEFAULT_SCOPE = ("marketing",)
# The default unsubscribe text of a marketing SMS; fallback.compose.DEFAULT_OPT_OUT_TEXT says the same.
DEFAULT_UNSUBSCRIBE_TEXT = "拒收请回复R"
MAX_UNSUBSCRIBE_TEXT = 40
DEFAULT_CONSENT_KEYWORDS = ("Y", "同意")
MAX_KEYWORDS = 20
MAX_BATCH = 1000
MAX_PROOF = 16_384
MAX_BRAND = 32
CONSENT_REQUIRED = "consent_required"
CONSENT_REQUIRED_REASON = "the recipient has not consented to this brand's marketing"
GRANTED, WITHDRAWN, OPT_OUT_REMOVED = "granted", "withdrawn", "opt_out_removed"
OPTED_OUT = "opted_out"  # the reason of a withdrawal an opt-out made
EXPORT_COLUMNS = ("id", "to", "scope", "brand", "source", "granted_at", "withdrawn_at")


def _at(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


_CHAIN = TenantChain(consent_events, "consent", "subject")
genesis, chain_hash = _CHAIN.genesis, _CHAIN.link


def append_event(conn: Connection, tenant_id: str, subject: str, facts: dict, at_ms: int) -> None:
    """Chain one record (inside the caller's transaction; see `TenantChain.append`)."""
    _CHAIN.append(conn, tenant_id, subject, orjson.dumps(facts, option=orjson.OPT_SORT_KEYS), at_ms)


async def write_chained(writer: GroupWriter, batch: WriteBatch) -> None:
    """Commit a batch that chains records, again if another process chained one first."""
    for attempt in range(3):
        try:
            await writer.write(batch)
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def verify_chain(db: Database, tenant_id: str) -> tuple[int, int | None]:
    """Recompute a tenant's consent chain: (records checked, seq of the first break or None)."""
    return await _CHAIN.verify(db, tenant_id)


def fold_keyword(text: str) -> str:
    """A reply or keyword as compared: NFKC, upper case, without spaces and punctuation."""
    folded = unicodedata.normalize("NFKC", text).strip().upper()
    return "".join(ch for ch in folded if not unicodedata.category(ch).startswith(("P", "Z")))


@dataclass(frozen=True)
class ConsentPolicy:
    """The consent and unsubscribe part of a tenant's compliance policy."""

    marketing_requires_consent: bool = False
    unsubscribe_text: str = DEFAULT_UNSUBSCRIBE_TEXT
    consent_keywords: tuple[str, ...] = DEFAULT_CONSENT_KEYWORDS

    def as_dict(self) -> dict:
        return {
            "marketing_requires_consent": self.marketing_requires_consent,
            "unsubscribe_text": self.unsubscribe_text,
            "consent_keywords": list(self.consent_keywords),
        }


async def consent_policy(db: Database, tenant_id: str) -> ConsentPolicy:
    """The tenant's consent policy (the defaults for a tenant without a policy row)."""
    p = policies.c
    async with db.read.connect() as conn:
        row = (
            await conn.execute(
                select(p.marketing_requires_consent, p.unsubscribe_text, p.consent_keywords).where(
                    p.tenant_id == tenant_id
                )
            )
        ).first()
    if row is None:
        return ConsentPolicy()
    return ConsentPolicy(
        bool(row.marketing_requires_consent),
        row.unsubscribe_text or DEFAULT_UNSUBSCRIBE_TEXT,
        tuple(row.consent_keywords) if row.consent_keywords is not None else DEFAULT_CONSENT_KEYWORDS,
    )


class ConsentPolicies:
    """Tenants' consent policies read through a short cache: every marketing accept and SMS
    asks, and a read per request cost a fifth of the accept's time. A change made in this
    process (`forget`) applies at once; one made by another process within `ttl_s` seconds."""

    def __init__(self, db: Database, *, ttl_s: float = 5.0, monotonic: Callable[[], float] = time.monotonic):
        self.db, self.ttl_s, self.monotonic = db, ttl_s, monotonic
        self._policies: dict[str, tuple[ConsentPolicy, float]] = {}

    async def get(self, tenant_id: str) -> ConsentPolicy:
        now = self.monotonic()
        found = self._policies.get(tenant_id)
        if found is not None and now - found[1] < self.ttl_s:
            return found[0]
        policy = await consent_policy(self.db, tenant_id)
        if len(self._policies) > 10_000:
            self._policies.clear()
        self._policies[tenant_id] = (policy, now)
        return policy

    def forget(self, tenant_id: str) -> None:
        self._policies.pop(tenant_id, None)

    async def unsubscribe_text(self, tenant_id: str) -> str:
        """The text the tenant's marketing SMS end with."""
        return (await self.get(tenant_id)).unsubscribe_text

    async def without_consent(self, tenant_id: str, bidxs: list[bytes], traffic_type: str) -> set[bytes]:
        """Of these recipients, those a `traffic_type` send must be refused for: marketing ones
        without an active consent covering marketing, when the tenant's policy requires it."""
        if traffic_type != "marketing" or not bidxs:
            return set()
        if not (await self.get(tenant_id)).marketing_requires_consent:
            return set()
        return set(bidxs) - await consented(self.db, tenant_id, bidxs, traffic_type)


def policy_errors(body: dict) -> list[FieldError]:
    """What is wrong with the consent fields of a PUT /v1/compliance/policy body."""
    errors = []
    if "marketing_requires_consent" in body and not isinstance(body["marketing_requires_consent"], bool):
        errors.append(FieldError("/marketing_requires_consent", "true or false"))
    text = body.get("unsubscribe_text")
    if "unsubscribe_text" in body and (not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_UNSUBSCRIBE_TEXT):
        errors.append(FieldError("/unsubscribe_text", f"a text of 1 to {MAX_UNSUBSCRIBE_TEXT} characters"))
    words = body.get("consent_keywords")
    if "consent_keywords" in body and (
        not isinstance(words, list)
        or len(words) > MAX_KEYWORDS
        or not all(isinstance(w, str) and 0 < len(fold_keyword(w)) <= 20 for w in words)
    ):
        errors.append(FieldError("/consent_keywords", f"a list of at most {MAX_KEYWORDS} words"))
    return errors


def policy_values(body: dict) -> dict:
    """The `compliance_policies` column values of the consent fields given in `body`."""
    out: dict = {}
    if "marketing_requires_consent" in body:
        out["marketing_requires_consent"] = body["marketing_requires_consent"]
    if "unsubscribe_text" in body:
        out["unsubscribe_text"] = body["unsubscribe_text"].strip()
    if "consent_keywords" in body:
        out["consent_keywords"] = [w.strip() for w in body["consent_keywords"]]
    return out


def consent_facts(keyring: Keyring, event: str, row: Mapping, *, proof: object, at_ms: int, **extra) -> dict:
    """A chain record's canonical facts: the recipient as its blind index, the proof as a keyed
    HMAC (a guessable form or reply cannot be found by hashing candidates)."""
    tenant_id = row["tenant_id"]
    mac = keyring.content_commitment(tenant_id, orjson.dumps(proof, option=orjson.OPT_SORT_KEYS))
    return {
        "event": event,
        "consent_id": row["id"],
        "recipient": bytes(row["to_bidx"]).hex(),
        "scope": list(row["scope"]),
        "source": row["source"],
        "at": _at(at_ms),
        "proof_mac": mac.hex(),
        **extra,
    }


def withdraw_for_opt_out(
    conn: Connection, keyring: Keyring, tenant_id: str, to_bidx: bytes, source: str, now_ms: int
) -> int:
    """Inside an opt-out's transaction: the recipient's active consents covering marketing end
    with it (an opt-out outranks an earlier yes), each withdrawal chained with the opt-out's
    source as its proof. The number withdrawn."""
    c = consents.c
    rows = conn.execute(
        select(consents).where(and_(c.tenant_id == tenant_id, c.to_bidx == to_bidx, c.withdrawn_ms.is_(None)))
    ).mappings()
    withdrawn = 0
    for r in list(rows):
        if "marketing" not in (r["scope"] or ()):
            continue
        changed = conn.execute(
            update(consents).where(and_(c.id == r["id"], c.withdrawn_ms.is_(None))).values(withdrawn_ms=now_ms)
        ).rowcount
        if changed:
            proof = {"opt_out": source}
            facts = consent_facts(keyring, WITHDRAWN, r, proof=proof, at_ms=now_ms, reason=OPTED_OUT)
            append_event(conn, tenant_id, r["id"], facts, now_ms)
            withdrawn += 1
    return withdrawn


async def consented(db: Database, tenant_id: str, bidxs: list[bytes], traffic_type: str) -> set[bytes]:
    """Which of these recipients have an active consent covering `traffic_type`."""
    c = consents.c
    found: set[bytes] = set()
    async with db.read.connect() as conn:
        for i in range(0, len(bidxs), 500):
            rows = await conn.execute(
                select(c.to_bidx, c.scope).where(
                    c.tenant_id == tenant_id, c.to_bidx.in_(bidxs[i : i + 500]), c.withdrawn_ms.is_(None)
                )
            )
            found.update(r.to_bidx for r in rows if traffic_type in (r.scope or ()))
    return found


@dataclass
class _Grant:
    to: str
    scope: list[str]
    source: str
    granted_ms: int
    brand: str | None
    proof: object


class ConsentBook(RecordBook):
    """The tenant's consent records: grant, list, look up, withdraw, import, export, check."""

    # -- granting ----------------------------------------------------------------------
    def _parse(self, item: object, where: str, now_ms: int, *, source: str | None = None) -> _Grant | list[FieldError]:
        if not isinstance(item, dict):
            return [FieldError(where or "/", "must be an object with `to`")]
        errors = [
            FieldError(f"{where}/{k}", "unknown field")
            for k in item
            if k not in ("to", "scope", "source", "granted_at", "brand", "proof")
        ]
        to = normalise_number(item.get("to")) if isinstance(item.get("to"), str) else None
        if to is None:
            errors.append(FieldError(f"{where}/to", "not a valid phone number"))
        scope = item.get("scope", list(DEFAULT_SCOPE))
        if isinstance(scope, str):
            scope = [s.strip() for s in scope.replace("|", ";").split(";") if s.strip()]
        if not isinstance(scope, list) or not scope or not all(s in TRAFFIC_TYPES for s in scope):
            errors.append(FieldError(f"{where}/scope", f"a list of traffic types ({', '.join(TRAFFIC_TYPES)})"))
        src = source or item.get("source", "api")
        if src not in SOURCES:
            errors.append(FieldError(f"{where}/source", f"one of {', '.join(SOURCES)}"))
        granted_ms = now_ms
        if item.get("granted_at") not in (None, ""):
            granted_ms = _parse_time(item["granted_at"]) or -1
            if granted_ms < 0 or granted_ms > now_ms:
                errors.append(FieldError(f"{where}/granted_at", "an RFC 3339 time, not in the future"))
        brand = item.get("brand")
        if brand is not None and (not isinstance(brand, str) or not 0 < len(brand) <= MAX_BRAND):
            errors.append(FieldError(f"{where}/brand", f"the brand's signature, at most {MAX_BRAND} characters"))
        proof = item.get("proof")
        if proof is not None and len(_dumps(proof)) > MAX_PROOF:
            errors.append(FieldError(f"{where}/proof", f"JSON of at most {MAX_PROOF} bytes"))
        if errors:
            return errors
        assert to is not None
        return _Grant(to, sorted(set(scope)), src, granted_ms, brand, proof)

    def _rows(self, tenant_id: str, grants: list[_Grant], now_ms: int) -> tuple[list[dict], WriteBatch]:
        rows: list[dict[str, Any]] = []
        batch = WriteBatch()
        for g in grants:
            cid = self.new_id()
            proof = orjson.dumps(g.proof) if g.proof is not None else None
            rows.append(
                {
                    "id": cid,
                    "tenant_id": tenant_id,
                    "to_bidx": self.keyring.blind_index(tenant_id, g.to),
                    "to_enc": self.keyring.seal(tenant_id, "consents", "to", cid, g.to.encode()),
                    "scope": g.scope,
                    "brand": g.brand,
                    "source": g.source,
                    "granted_ms": g.granted_ms,
                    "proof_enc": self.keyring.seal(tenant_id, "consents", "proof", cid, proof) if proof else None,
                    "withdrawn_ms": None,
                    "created_ms": now_ms,
                }
            )
        facts = [self._facts(GRANTED, r, proof=g.proof, at_ms=g.granted_ms) for r, g in zip(rows, grants)]

        def insert(conn: Connection) -> None:
            if rows:
                conn.execute(consents.insert(), rows)
            for r, f in zip(rows, facts):
                append_event(conn, tenant_id, r["id"], f, now_ms)

        return rows, batch.run(insert)

    def _facts(self, event: str, row: dict, *, proof: object, at_ms: int, **extra) -> dict:
        return consent_facts(self.keyring, event, row, proof=proof, at_ms=at_ms, **extra)

    async def grant(self, tenant_id: str, body: dict) -> dict:
        """Record one consent (`{"to", …}`) or a batch (`{"consents": [{…}, …]}`); all or none."""
        now_ms = self.now_ms()
        batch = "consents" in body
        items = body.get("consents") if batch else [body]
        if batch:
            extra = [FieldError(f"/{k}", "unknown field") for k in body if k != "consents"]
            if extra:
                raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
            if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
                raise Problem(422, "consents is a list", [FieldError("/consents", f"1 to {MAX_BATCH} objects")])
        assert isinstance(items, list)
        grants, errors = [], []
        for i, item in enumerate(items):
            parsed = self._parse(item, f"/consents/{i}" if batch else "", now_ms)
            if isinstance(parsed, list):
                errors += parsed
            else:
                grants.append(parsed)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        rows, write = self._rows(tenant_id, grants, now_ms)
        await write_chained(self.writer, write)
        views = [self._view(r, grants[i].to, grants[i].proof) for i, r in enumerate(rows)]
        return {"data": views} if batch else views[0]

    async def record(
        self, tenant_id: str, to: str, *, source: str, proof: object, scope: list[str] | None = None
    ) -> dict:
        """Record a consent the platform itself saw (a keyword reply, the H5 page)."""
        now_ms = self.now_ms()
        grant = _Grant(to, sorted(scope or DEFAULT_SCOPE), source, now_ms, None, proof)
        rows, write = self._rows(tenant_id, [grant], now_ms)
        await write_chained(self.writer, write)
        return self._view(rows[0], to, proof)

    async def by_reply(self, tenant_id: str, number: str, text: str, mo_id: str | None) -> bool:
        """A reply carrying one of the tenant's consent keywords records a marketing consent,
        the reply's text and MO message id as its proof; False for any other reply."""
        policy = await consent_policy(self.db, tenant_id)
        word = fold_keyword(text)
        if not word or word not in {fold_keyword(k) for k in policy.consent_keywords}:
            return False
        await self.record(tenant_id, number, source="keyword_reply", proof={"text": text, "mo_id": mo_id})
        return True

    # -- reading -----------------------------------------------------------------------
    def _view(self, row, to: str | None = None, proof: object = ..., *, with_proof: bool = True) -> dict:
        m = row if isinstance(row, dict) else row._mapping
        tenant_id, cid = m["tenant_id"], m["id"]
        if to is None:
            to = self.keyring.open(tenant_id, "consents", "to", cid, m["to_enc"]).decode()
        out = {
            "id": cid,
            "to": to,
            "scope": list(m["scope"]),
            "brand": m["brand"],
            "source": m["source"],
            "granted_at": _at(m["granted_ms"]),
            "withdrawn_at": _at(m["withdrawn_ms"]),
            "active": m["withdrawn_ms"] is None,
        }
        if with_proof:
            if proof is ...:
                sealed = m["proof_enc"]
                proof = orjson.loads(self.keyring.open(tenant_id, "consents", "proof", cid, sealed)) if sealed else None
            out["proof"] = proof
        return out

    async def page(
        self, tenant_id: str, *, cursor: str | None, limit: int, active: bool | None = None
    ) -> tuple[list[dict], str | None]:
        """A page of consents, newest first."""
        c = consents.c
        query = select(consents).where(c.tenant_id == tenant_id)
        if cursor:
            query = query.where(c.id < decode_cursor(cursor))
        if active is not None:
            query = query.where(c.withdrawn_ms.is_(None) if active else c.withdrawn_ms.is_not(None))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(c.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self._view(r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None

    async def get(self, tenant_id: str, consent_id: str) -> dict:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(consents).where(consents.c.tenant_id == tenant_id, consents.c.id == consent_id)
                )
            ).first()
        if row is None:
            raise Problem(404, "no such consent")
        return self._view(row)

    async def search(self, tenant_id: str, body: dict) -> dict:
        """Every consent of one number (newest first), the number in the body, not the URL."""
        to = _number(body)
        bidx = self.keyring.blind_index(tenant_id, to)
        c = consents.c
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(consents).where(c.tenant_id == tenant_id, c.to_bidx == bidx).order_by(c.id.desc())
                )
            ).all()
        views = [self._view(r, to) for r in rows]
        return {"to": to, "consented": any(v["active"] for v in views), "data": views}

    # -- withdrawing -------------------------------------------------------------------
    async def withdraw(self, tenant_id: str, body: dict, *, consent_id: str | None = None) -> dict:
        """Withdraw one consent (by id) or every active consent of a number (`{"to"}`)."""
        extra = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("to", "source")]
        if extra:
            raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
        source = body.get("source", "api")
        if not isinstance(source, str) or not 0 < len(source) <= 32:
            raise Problem(422, "source is a short word", [FieldError("/source", "at most 32 characters")])
        c = consents.c
        where = [c.tenant_id == tenant_id, c.withdrawn_ms.is_(None)]
        if consent_id is not None:
            where.append(c.id == consent_id)
        else:
            where.append(c.to_bidx == self.keyring.blind_index(tenant_id, _number(body)))
        async with self.db.read.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(select(consents).where(*where))).all()]
        if consent_id is not None and not rows:
            await self.get(tenant_id, consent_id)  # 404 when it does not exist
            raise Problem(409, "this consent was already withdrawn")
        now_ms = self.now_ms()
        facts = [self._facts(WITHDRAWN, r, proof={"source": source}, at_ms=now_ms) for r in rows]

        def work(conn: Connection) -> None:
            for r, f in zip(rows, facts):
                changed = conn.execute(
                    update(consents)
                    .where(and_(consents.c.id == r["id"], consents.c.withdrawn_ms.is_(None)))
                    .values(withdrawn_ms=now_ms)
                ).rowcount
                if changed:
                    append_event(conn, tenant_id, r["id"], f, now_ms)

        await write_chained(self.writer, WriteBatch().run(work))
        return {"withdrawn": len(rows), "ids": [r["id"] for r in rows]}

    # -- import and export -------------------------------------------------------------
    async def import_lines(self, tenant_id: str, lines: AsyncIterator[str], *, fmt: str, filename: str) -> dict:
        """Import consents a line each (CSV with a header: to,scope,source,granted_at,brand; or
        JSON lines), the file name and line number as each one's proof. Valid lines are
        recorded; each invalid one is reported with its line number."""
        now_ms = self.now_ms()
        errors: list[dict] = []
        grants: list[_Grant] = []
        imported = number = 0
        header: list[str] | None = None
        async for raw in lines:
            number += 1
            line = raw.strip("\r\n")
            if not line.strip():
                continue
            item: object
            if fmt == "csv":
                try:
                    cells = next(csv.reader([line]))
                except csv.Error as exc:  # e.g. a bare CR inside the line
                    errors.append({"line": number, "path": "", "message": f"not a CSV line: {exc}"})
                    continue
                if header is None:
                    header = [h.strip().lower() for h in cells]
                    if "to" not in header:
                        header = ["to", "scope", "source", "granted_at", "brand"][: max(len(cells), 1)]
                    else:
                        continue
                item = {k: v for k, v in zip(header, cells) if v != ""}
            else:
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError:
                    errors.append({"line": number, "path": "", "message": "not JSON"})
                    continue
            if isinstance(item, dict) and "source" not in item:
                item["source"] = "import"
            parsed = self._parse(item, "", now_ms)
            if isinstance(parsed, list):
                errors += [{"line": number, "path": e.path, "message": e.message} for e in parsed]
                continue
            if parsed.proof is None:
                parsed.proof = {"file": filename, "line": number}
            grants.append(parsed)
            if len(grants) >= MAX_BATCH:
                imported += await self._commit_grants(tenant_id, grants, now_ms)
                grants = []
        imported += await self._commit_grants(tenant_id, grants, now_ms)
        return {"imported": imported, "lines": number, "errors": errors[:1000]}

    async def _commit_grants(self, tenant_id: str, grants: list[_Grant], now_ms: int) -> int:
        if not grants:
            return 0
        _, write = self._rows(tenant_id, grants, now_ms)
        await write_chained(self.writer, write)
        return len(grants)

    async def export(self, tenant_id: str) -> AsyncIterator[bytes]:
        """Every consent as CSV (header first), read and written a page at a time."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        yield out.getvalue().encode()
        after = None
        c = consents.c
        while True:
            query = select(consents).where(c.tenant_id == tenant_id)
            if after is not None:
                query = query.where(c.id > after)
            async with self.db.read.connect() as conn:
                rows = (await conn.execute(query.order_by(c.id).limit(1000))).all()
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out)
            for r in rows:
                v = self._view(r, with_proof=False)
                writer.writerow([v["id"], v["to"], ";".join(v["scope"]), v["brand"] or "", v["source"], v["granted_at"], v["withdrawn_at"] or ""])  # fmt: skip
            yield out.getvalue().encode()
            after = rows[-1].id


def _dumps(value: object) -> bytes:
    """JSON of a value the API was given; too long (never stored) when orjson cannot write it
    (an integer past 64 bits)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return b" " * (MAX_PROOF + 1)


def _number(body: dict) -> str:
    to = normalise_number(body.get("to")) if isinstance(body.get("to"), str) else None
    if to is None:
        raise Problem(422, "to is not a valid phone number", [FieldError("/to", "not a valid phone number")])
    return to


def _parse_time(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return int(at.timestamp() * 1000)


__all__ = ["CONSENT_MIN_RETENTION_DAYS", "ConsentBook", "ConsentPolicy"]
