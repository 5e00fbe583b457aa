"""Share links: a read-only preview of one template version for someone without an account,
who may approve it or ask for changes.

A link is `/share/<id>.<mac>`: `id` is 128 random bits (the row's key, never sequential) and
`mac` is an HMAC-SM3 over the id, the template, the version and the expiry under a key derived
from the tenant's index key (`Keyring.blind_index`, purpose `share-link`). The database holds
the id but not the MAC, so neither a guessed id nor a copy of the table opens a preview, and a
changed character anywhere makes the link unknown. A link expires after 1, 7 or 30 days and can
be revoked. Its creation, revocation and every decision are chained per tenant (SM3, as the
review queue's decisions are); a decision's name and comment are stored sealed.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from hmac import compare_digest

import orjson
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

import security
from api.problems import FieldError, Problem
from cards.store.service import MAX_VERSION, TemplateStore, TemplateVersion
from compliance.chain import TenantChain
from editor.share_tables import share_decisions, share_events, share_links
from store import Clock, Database, SystemClock, is_id, new_id
from store.clock import rfc3339

DAYS = (1, 7, 30)
DEFAULT_DAYS = 7
DAY_MS = 86_400_000
APPROVED, CHANGES_REQUESTED = "approved", "changes_requested"
DECISIONS = (APPROVED, CHANGES_REQUESTED)
ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
MAX_NAME = 100
MAX_COMMENT = 2000
MAX_DECISIONS = 50  # per link: a leaked link cannot fill the table
_MAC_PURPOSE = "share-link"
_MAC_BYTES = 16
_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})")
_SHARE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CHAIN = TenantChain(share_events, "share", "share_id")


def _at(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Opened:
    """What a link shows: its state and, while it is active, the version."""

    share_id: str
    tenant_id: str
    state: str  # active | expired | revoked
    expires_ms: int
    version: TemplateVersion | None


class ShareLinks:
    """Creates, lists, revokes and opens share links, and records decisions made through them."""

    def __init__(
        self,
        db: Database,
        keyring: security.Keyring,
        templates: TemplateStore,
        clock: Clock | None = None,
        id_factory=lambda: _b64(secrets.token_bytes(16)),
    ):
        self.db = db
        self.keyring = keyring
        self.templates = templates
        self.clock = clock or SystemClock()
        self.new_share_id = id_factory

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- tokens ------------------------------------------------------------------------
    def _mac(self, tenant_id: str, share_id: str, template_id: str, version: int, expires_ms: int) -> str:
        signed = f"{share_id}\x00{template_id}\x00{version}\x00{expires_ms}"
        return _b64(self.keyring.blind_index(tenant_id, signed, purpose=_MAC_PURPOSE)[:_MAC_BYTES])

    def token(self, row) -> str:
        """The link token of a stored share row: `<id>.<mac>`."""
        return f"{row.id}.{self._mac(row.tenant_id, row.id, row.template_id, row.version, row.expires_ms)}"

    # -- the designer's side -----------------------------------------------------------
    async def create(self, tenant_id: str, template_id: str, version: int, body: dict) -> dict:
        """A new link to `version` (which must exist), expiring after `expires_in_days` (1, 7 or 30)."""
        errors = [FieldError(f"/{k}", "unknown field", "unknown_field") for k in body if k != "expires_in_days"]
        days = body.get("expires_in_days", DEFAULT_DAYS)
        if type(days) is not int or days not in DAYS:
            errors.append(
                FieldError(
                    "/expires_in_days",
                    "one of 1, 7 or 30",
                    "not_one_of",
                    {"value": str(days), "allowed": ", ".join(map(str, DAYS))},
                )
            )
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        await self.templates.version(tenant_id, template_id, version)  # 404 unless it is this tenant's
        now = self.now_ms()
        row = {
            "id": self.new_share_id(),
            "tenant_id": tenant_id,
            "template_id": template_id,
            "version": version,
            "created_ms": now,
            "expires_ms": now + days * DAY_MS,
            "revoked_ms": None,
        }
        facts = self._facts("created", row, now, expires_at=_at(row["expires_ms"]))
        await self._write(tenant_id, row["id"], facts, now, lambda conn: conn.execute(share_links.insert().values(row)))
        return await self.get(tenant_id, template_id, version, row["id"])

    async def of_template(self, tenant_id: str, template_id: str, version: int | None = None) -> list[dict]:
        """The links of a template (of one version when given), newest first, with their decisions."""
        if version is not None:
            await self.templates.version(tenant_id, template_id, version)
        else:
            await self.templates.summary(tenant_id, template_id)
        s = share_links
        query = select(s).where(and_(s.c.tenant_id == tenant_id, s.c.template_id == template_id))
        if version is not None:
            query = query.where(s.c.version == version)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(s.c.created_ms.desc(), s.c.id))).all()
        decisions = await self._decisions([r.id for r in rows])
        return [self._view(r, decisions.get(r.id, [])) for r in rows]

    async def get(self, tenant_id: str, template_id: str, version: int, share_id: str) -> dict:
        row = await self._row(tenant_id, template_id, version, share_id)
        return self._view(row, (await self._decisions([row.id])).get(row.id, []))

    async def revoke(self, tenant_id: str, template_id: str, version: int, share_id: str) -> dict:
        """End a link now (revoking a revoked link changes nothing)."""
        row = await self._row(tenant_id, template_id, version, share_id)
        if row.revoked_ms is None:
            now = self.now_ms()
            s = share_links

            def apply(conn) -> None:
                changed = conn.execute(
                    update(s).where(and_(s.c.id == share_id, s.c.revoked_ms.is_(None))).values(revoked_ms=now)
                ).rowcount
                if not changed:
                    raise Problem(409, "the link was revoked meanwhile")

            await self._write(tenant_id, share_id, self._facts("revoked", row._mapping, now), now, apply)
        return await self.get(tenant_id, template_id, version, share_id)

    async def _row(self, tenant_id: str, template_id: str, version: int, share_id: str):
        s = share_links
        row = None
        if is_id(template_id) and 1 <= version <= MAX_VERSION and _SHARE_ID.fullmatch(share_id):
            async with self.db.read.connect() as conn:
                row = (
                    await conn.execute(
                        select(s).where(
                            and_(
                                s.c.id == share_id,
                                s.c.tenant_id == tenant_id,
                                s.c.template_id == template_id,
                                s.c.version == version,
                            )
                        )
                    )
                ).first()
        if row is None:
            raise Problem(404, "no such share link")
        return row

    def _state(self, row) -> str:
        if row.revoked_ms is not None:
            return REVOKED
        return ACTIVE if row.expires_ms > self.now_ms() else EXPIRED

    def _view(self, row, decisions: list[dict]) -> dict:
        return {
            "id": row.id,
            "template_id": row.template_id,
            "version": row.version,
            "token": self.token(row),
            "state": self._state(row),
            "created_at": _at(row.created_ms),
            "expires_at": _at(row.expires_ms),
            "revoked_at": _at(row.revoked_ms),
            "decisions": decisions,
        }

    async def _decisions(self, share_ids: list[str]) -> dict[str, list[dict]]:
        if not share_ids:
            return {}
        d = share_decisions
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(d).where(d.c.share_id.in_(share_ids)).order_by(d.c.at_ms, d.c.id))).all()
        out: dict[str, list[dict]] = {}
        for r in rows:
            content = orjson.loads(self.keyring.open(r.tenant_id, "share_decisions", "content", r.id, r.content_enc))
            out.setdefault(r.share_id, []).append(
                {
                    "id": r.id,
                    "decision": r.decision,
                    "name": content["name"],
                    "comment": content["comment"],
                    "at": _at(r.at_ms),
                }
            )
        return out

    # -- the reviewer's side (no account) ------------------------------------------------
    async def open(self, token: str) -> Opened | None:
        """The link a token names, None when there is none or its MAC is wrong."""
        m = _TOKEN.fullmatch(token)
        if m is None:
            return None
        share_id, mac = m.groups()
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(share_links).where(share_links.c.id == share_id))).first()
        if row is None:
            return None
        expected = self._mac(row.tenant_id, row.id, row.template_id, row.version, row.expires_ms)
        if not compare_digest(expected, mac):
            return None
        state = self._state(row)
        version = None
        if state == ACTIVE:
            version = await self.templates.version(row.tenant_id, row.template_id, row.version)
        return Opened(row.id, row.tenant_id, state, row.expires_ms, version)

    async def decide(self, token: str, decision: str, name: str, comment: str) -> Opened | None:
        """Record a decision made through a link; None for an unknown link, a 410 Problem for an
        ended one, a 422 naming the wrong field."""
        opened = await self.open(token)
        if opened is None:
            return None
        if opened.state != ACTIVE or opened.version is None:
            raise Problem(410, f"this link is {opened.state}")
        name, comment = (name or "").strip(), (comment or "").strip()
        errors = []
        if decision not in DECISIONS:
            errors.append(
                FieldError("/decision", "approved or changes_requested", "not_one_of", {"value": str(decision)[:40]})
            )
        if not name or len(name) > MAX_NAME or _CONTROL.search(name):
            errors.append(FieldError("/name", f"1 to {MAX_NAME} characters", "share_name"))
        if len(comment) > MAX_COMMENT or "\x00" in comment:
            errors.append(FieldError("/comment", f"at most {MAX_COMMENT} characters", "share_comment"))
        if decision == CHANGES_REQUESTED and not comment:
            errors.append(FieldError("/comment", "say what should change", "share_comment_required"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        tenant_id, share_id, now = opened.tenant_id, opened.share_id, self.now_ms()
        decision_id = new_id(now)
        content = orjson.dumps({"name": name, "comment": comment})
        sealed = self.keyring.seal(tenant_id, "share_decisions", "content", decision_id, content)
        row = {
            "id": decision_id,
            "share_id": share_id,
            "tenant_id": tenant_id,
            "decision": decision,
            "content_enc": sealed,
            "at_ms": now,
        }
        v = opened.version
        facts = self._facts(
            decision,
            {"id": share_id, "template_id": v.template_id, "version": v.version},
            now,
            decision_id=decision_id,
            # Keyed: a guessable name or a short comment cannot be recovered from the chain.
            content_mac=self.keyring.content_commitment(tenant_id, content).hex(),
        )

        def apply(conn) -> None:
            d = share_decisions
            count = len(conn.execute(select(d.c.id).where(d.c.share_id == share_id).limit(MAX_DECISIONS)).all())
            if count >= MAX_DECISIONS:
                raise Problem(409, f"this link has taken {MAX_DECISIONS} decisions; ask for a new link")
            conn.execute(d.insert().values(row))

        await self._write(tenant_id, share_id, facts, now, apply)
        return opened

    # -- the chain -----------------------------------------------------------------------
    @staticmethod
    def _facts(event: str, row, at_ms: int, **extra) -> bytes:
        return orjson.dumps(
            {
                "event": event,
                "share_id": row["id"],
                "template_id": row["template_id"],
                "version": row["version"],
                "at": _at(at_ms),
                **extra,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    async def _write(self, tenant_id: str, share_id: str, facts: bytes, at_ms: int, change) -> None:
        """`change` and its chained record in one transaction (retried when another process
        chained a record of this tenant first)."""
        for attempt in range(3):
            try:
                async with self.db.write.begin() as conn:
                    await conn.run_sync(change)
                    await conn.run_sync(lambda c: _CHAIN.append(c, tenant_id, share_id, facts, at_ms))
                return
            except IntegrityError:
                if attempt == 2:
                    raise


async def verify_share_chain(db: Database, tenant_id: str) -> tuple[int, int | None]:
    """Recompute a tenant's share chain: (records checked, seq of the first break or None)."""
    return await _CHAIN.verify(db, tenant_id)


async def verify_all_share_chains(db: Database) -> list[tuple[str, int, int | None]]:
    """Every tenant's share chain recomputed: [(tenant id, records checked, first break or None)]."""
    async with db.read.connect() as conn:
        tenants = [r[0] for r in await conn.execute(select(share_events.c.tenant_id).distinct())]
    return [(t, *(await verify_share_chain(db, t))) for t in sorted(tenants)]
