"""Storing tenant templates: create, list, read, add a version (versions never change)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from cards.compose import CardInvalid, MissingVariable, compile_template
from cards.library import TRAFFIC_TYPES
from cards.store.tables import template_versions, templates
from store import Clock, Database, SystemClock, new_id
from store.clock import rfc3339

MAX_NAME = 100


@dataclass(frozen=True)
class TemplateVersion:
    template_id: str
    name: str
    version: int
    card: dict
    sample: dict | None
    traffic_type: str
    note: str | None
    created_ms: int

    def as_dict(self) -> dict:
        return {
            "id": self.template_id, "name": self.name, "version": self.version, "card": self.card,
            "sample": self.sample, "traffic_type": self.traffic_type, "note": self.note,
            "created_at": rfc3339(datetime.fromtimestamp(self.created_ms / 1000, timezone.utc)),
        }


def check_version_body(body: dict, *, need_name: bool) -> list[FieldError]:
    """Every problem with a template (or version) body; the card must compile and the sample compose."""
    errors: list[FieldError] = []
    allowed = {"card", "sample", "traffic_type", "note"} | ({"name"} if need_name else set())
    errors += [FieldError(f"/{k}", "unknown field") for k in body if k not in allowed]
    if need_name:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
            errors.append(FieldError("/name", f"a name of 1 to {MAX_NAME} characters is required"))
    if body.get("traffic_type", "notification") not in TRAFFIC_TYPES:
        errors.append(FieldError("/traffic_type", f"must be one of {', '.join(TRAFFIC_TYPES)}"))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        errors.append(FieldError("/note", "a string of at most 500 characters"))
    sample = body.get("sample")
    if sample is not None and not isinstance(sample, dict):
        errors.append(FieldError("/sample", "must be an object of variables"))
        sample = None
    card = body.get("card")
    if not isinstance(card, dict):
        errors.append(FieldError("/card", "a GSMA bot-message JSON object is required"))
        return errors
    try:
        compiled = compile_template(card)
        if compiled.is_static or sample is not None:
            compiled.compose(sample or {})
    except CardInvalid as exc:
        errors += [FieldError("/card" + e.path, e.message) for e in exc.errors]
    except MissingVariable as exc:
        errors.append(FieldError("/sample", f"missing variable {exc.name!r} (used at /card{exc.path})"))
    return errors


class TemplateStore:
    """Tenant templates in the database."""

    def __init__(self, db: Database, clock: Clock | None = None):
        self.db = db
        self.clock = clock or SystemClock()

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def create(self, tenant_id: str, body: dict) -> TemplateVersion:
        errors = check_version_body(body, need_name=True)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        tid, now = new_id(), self._now_ms()
        name = body["name"].strip()
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(templates.insert().values(
                    id=tid, tenant_id=tenant_id, name=name, created_ms=now, latest_version=1))
                await conn.execute(template_versions.insert().values(_version_row(tid, 1, body, now)))
        except IntegrityError:
            raise Problem(409, f"a template named {name!r} exists; add a version to it instead",
                          [FieldError("/name", "already used")]) from None
        return await self.version(tenant_id, tid, 1)

    async def add_version(self, tenant_id: str, template_id: str, body: dict) -> TemplateVersion:
        """A new version after the latest; earlier versions stay as they were."""
        errors = check_version_body(body, need_name=False)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        now = self._now_ms()
        async with self.db.write.begin() as conn:
            row = (await conn.execute(select(templates.c.latest_version).where(
                and_(templates.c.id == template_id, templates.c.tenant_id == tenant_id)))).first()
            if row is None:
                raise Problem(404, "no such template")
            version = row.latest_version + 1
            await conn.execute(template_versions.insert().values(_version_row(template_id, version, body, now)))
            await conn.execute(update(templates).where(templates.c.id == template_id).values(latest_version=version))
        return await self.version(tenant_id, template_id, version)

    async def version(self, tenant_id: str, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version (the latest by default); 404 for another tenant's template."""
        found = await self._find(templates.c.id == template_id, tenant_id, version)
        if found is None:
            raise Problem(404, "no such template" if version is None else "no such template version")
        return found

    async def resolve(self, tenant_id: str, name: str, version: int | None) -> TemplateVersion | None:
        """The tenant's template called `name` (at `version`, else the latest), or None."""
        return await self._find(templates.c.name == name, tenant_id, version)

    async def _find(self, where, tenant_id: str, version: int | None) -> TemplateVersion | None:
        t, v = templates, template_versions
        query = (select(t.c.id, t.c.name, t.c.latest_version, v).join(v, v.c.template_id == t.c.id)
                 .where(and_(where, t.c.tenant_id == tenant_id)))
        query = query.where(v.c.version == version) if version is not None else query.where(
            v.c.version == t.c.latest_version)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TemplateVersion(row.id, row.name, row.version, row.card, row.sample, row.traffic_type,
                               row.note, row.created_ms)

    async def versions(self, tenant_id: str, template_id: str) -> list[dict]:
        await self.version(tenant_id, template_id)  # 404 unless it is this tenant's
        v = template_versions
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(v.c.version, v.c.created_ms, v.c.note)
                                       .where(v.c.template_id == template_id).order_by(v.c.version))).all()
        return [{"version": r.version, "note": r.note,
                 "created_at": rfc3339(datetime.fromtimestamp(r.created_ms / 1000, timezone.utc))} for r in rows]

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        t = templates
        query = select(t).where(t.c.tenant_id == tenant_id)
        if cursor:
            query = query.where(t.c.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(t.c.id.desc()).limit(limit + 1))).all()
        more, rows = len(rows) > limit, rows[:limit]
        items = [{"id": r.id, "name": r.name, "latest_version": r.latest_version,
                  "created_at": rfc3339(datetime.fromtimestamp(r.created_ms / 1000, timezone.utc))} for r in rows]
        return items, (encode_cursor(rows[-1].id) if more and rows else None)


def _version_row(template_id: str, version: int, body: dict, now_ms: int) -> dict:
    return {"template_id": template_id, "version": version, "card": body["card"], "sample": body.get("sample"),
            "traffic_type": body.get("traffic_type", "notification"), "note": body.get("note"),
            "created_ms": now_ms}


TEMPLATES = web.AppKey("templates", TemplateStore)
