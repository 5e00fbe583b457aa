"""Storing tenant templates: create, list, read, versions (their content never changes), drafts,
review status, duplicate and diff. Cards and sample values are stored sealed (cards.store.tables);
checking a card (compiling, composing its sample) runs in the compose pool, off the event loop.

Which template a name means is decided in one place, `resolve_template`: the tenant's own
template of that name first, then the library's (sends and /v1/cards/render alike)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import orjson
from sqlalchemy import and_, delete, null, select, update
from sqlalchemy.exc import IntegrityError

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem, pointer
from cards.compose import CardInvalid, MissingVariable, compile_template, message_errors, off_loop
from cards.library import TRAFFIC_TYPES, load_library
from cards.store.tables import template_drafts, template_versions, templates, version_row_id
from store import Clock, Database, SystemClock, is_id, new_id
from store.clock import rfc3339

MAX_NAME = 100
MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in storage; none can be higher
# Control characters (NUL among them: PostgreSQL text cannot hold it) in a name or note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


APPROVED, IN_REVIEW, REJECTED = "approved", "in_review", "rejected"
STATUSES = (IN_REVIEW, APPROVED, REJECTED)


def _at(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


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
    status: str = APPROVED
    status_reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.template_id,
            "name": self.name,
            "version": self.version,
            "card": self.card,
            "sample": self.sample,
            "traffic_type": self.traffic_type,
            "note": self.note,
            "status": self.status,
            "status_reason": self.status_reason,
            "created_at": _at(self.created_ms),
        }


def name_errors(name) -> list[FieldError]:
    """What is wrong with a template name (1–100 characters, no control characters)."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        return [FieldError("/name", f"a name of 1 to {MAX_NAME} characters is required")]
    if _CONTROL.search(name):
        return [FieldError("/name", "must not contain control characters")]
    return []


def check_version_body(body: dict, *, need_name: bool) -> list[FieldError]:
    """Every problem with a template (or version) body; the card must compile and the sample compose."""
    errors: list[FieldError] = []
    allowed = {"card", "sample", "traffic_type", "note"} | ({"name"} if need_name else set())
    errors += [FieldError(f"/{k}", "unknown field") for k in body if k not in allowed]
    if need_name:
        errors += name_errors(body.get("name"))
    if body.get("traffic_type", "notification") not in TRAFFIC_TYPES:
        errors.append(FieldError("/traffic_type", f"must be one of {', '.join(TRAFFIC_TYPES)}"))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500 or "\x00" in note):
        errors.append(FieldError("/note", "a string of at most 500 characters (no NUL)"))
    sample = body.get("sample")
    if sample is not None and not isinstance(sample, dict):
        errors.append(FieldError("/sample", "must be an object of variables"))
        sample = None
    card = body.get("card")
    if not isinstance(card, dict):
        errors.append(FieldError("/card", "a GSMA bot-message JSON object is required"))
        return errors
    errors += [e.at("/card" + e.path) for e in message_errors(card, sending=False)]
    try:
        compiled = compile_template(card)
        if compiled.is_static or sample is not None:
            compiled.compose(sample or {})
    except CardInvalid as exc:
        errors += [e.at("/card" + e.path) for e in exc.errors]
    except MissingVariable as exc:
        errors.append(FieldError("/sample", f"missing variable {exc.name!r} (used at /card{exc.path})"))
    return errors


async def checked(body: dict, *, need_name: bool) -> list[FieldError]:
    """`check_version_body` in the compose pool (compiling and composing can take a while)."""
    return await off_loop(check_version_body, body, need_name=need_name)


# Decides a new version's first status: approved at once (the sandbox; no operator review yet),
# or in_review until an operator calls TemplateStore.review.
SubmitPolicy = Callable[[str, "TemplateVersion"], Awaitable[str]]


async def approve_at_once(tenant_id: str, version: TemplateVersion) -> str:
    return APPROVED


# Checks a version body before it is stored (the compliance screen and the consoles' template
# rules): raises a 422 Problem naming the rule and the field.
SubmitCheck = Callable[[str, dict], Awaitable[None]]


class TemplateStore:
    """Tenant templates in the database."""

    def __init__(
        self,
        db: Database,
        keyring: security.Keyring,
        clock: Clock | None = None,
        on_submit: SubmitPolicy = approve_at_once,
        check: SubmitCheck | None = None,
    ):
        self.db = db
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.on_submit = on_submit
        self.check = check

    async def _checked(self, tenant_id: str, body: dict) -> None:
        """The submit check (compliance), once the body itself is valid."""
        if self.check is not None:
            await self.check(tenant_id, body)

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- templates and versions --------------------------------------------------------
    async def create(self, tenant_id: str, body: dict) -> TemplateVersion:
        """A template with version 1 (a valid card is required)."""
        errors = await checked(body, need_name=True)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        await self._checked(tenant_id, body)
        tid = await self._insert_template(tenant_id, body["name"].strip(), version=body)
        return await self._submitted(tenant_id, tid, 1)

    async def create_draft_only(self, tenant_id: str, body: dict) -> dict:
        """A template that has only a draft (the editor's blank start); its card may be invalid."""
        body = {k: v for k, v in body.items() if k != "draft"}
        errors = check_draft_body(body, allowed={"name", "card", "sample", "traffic_type"})
        name = body.get("name")
        errors[:0] = name_errors(name)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        tid = await self._insert_template(tenant_id, name.strip(), draft=body)
        return await self.summary(tenant_id, tid)

    async def _insert_template(
        self, tenant_id: str, name: str, *, version: dict | None = None, draft: dict | None = None
    ) -> str:
        tid, now = new_id(), self._now_ms()
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(
                    templates.insert().values(
                        id=tid,
                        tenant_id=tenant_id,
                        name=name,
                        created_ms=now,
                        updated_ms=now,
                        latest_version=1 if version is not None else None,
                    )
                )
                if version is not None:
                    row = self._version_row(tenant_id, tid, 1, version, now, IN_REVIEW)
                    await conn.execute(template_versions.insert().values(row))
                if draft is not None:
                    await conn.execute(template_drafts.insert().values(self._draft_row(tenant_id, tid, draft, now)))
        except IntegrityError:
            raise Problem(
                409,
                f"a template named {name!r} exists; add a version to it instead",
                [FieldError("/name", "already used")],
            ) from None
        return tid

    async def add_version(self, tenant_id: str, template_id: str, body: dict) -> TemplateVersion:
        """A new version after the latest; earlier versions stay as they were.

        `{"from_draft": true, "note"?}` submits the template's draft (422 listing its errors when
        it is invalid) and clears it.
        """
        if body.get("from_draft") is True:
            extra = [
                FieldError(f"/{k}", "unknown field with from_draft") for k in body if k not in ("from_draft", "note")
            ]
            if extra:
                raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
            draft = await self.draft(
                tenant_id,
                template_id,
                missing=Problem(422, "this template has no draft to submit", [FieldError("/from_draft", "no draft")]),
            )
            body = {
                "card": draft["card"],
                "sample": draft["sample"],
                "traffic_type": draft["traffic_type"],
                **({"note": body["note"]} if "note" in body else {}),
            }
            errors = await checked(body, need_name=False)
            if errors:
                raise Problem(422, f"the draft is not valid: {len(errors)} error(s)", errors)
            await self._checked(tenant_id, body)
            return await self._append(tenant_id, template_id, body, clear_draft=True)
        if "from_draft" in body:
            raise Problem(422, "from_draft must be true", [FieldError("/from_draft", "must be true")])
        errors = await checked(body, need_name=False)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        await self._checked(tenant_id, body)
        return await self._append(tenant_id, template_id, body, clear_draft=False)

    async def _append(self, tenant_id: str, template_id: str, body: dict, *, clear_draft: bool) -> TemplateVersion:
        now = self._now_ms()
        try:
            async with self.db.write.begin() as conn:
                row = (
                    await conn.execute(
                        select(templates.c.latest_version).where(
                            and_(templates.c.id == template_id, templates.c.tenant_id == tenant_id)
                        )
                    )
                ).first()
                if row is None:
                    raise Problem(404, "no such template")
                version = (row.latest_version or 0) + 1
                await conn.execute(
                    template_versions.insert().values(
                        self._version_row(tenant_id, template_id, version, body, now, IN_REVIEW)
                    )
                )
                await conn.execute(
                    update(templates)
                    .where(templates.c.id == template_id)
                    .values(latest_version=version, updated_ms=now)
                )
                if clear_draft:
                    await conn.execute(delete(template_drafts).where(template_drafts.c.template_id == template_id))
        except IntegrityError:
            raise Problem(409, "another version was added at the same moment; read the template and retry") from None
        return await self._submitted(tenant_id, template_id, version)

    async def _submitted(self, tenant_id: str, template_id: str, version: int) -> TemplateVersion:
        """Ask the submit policy for the new version's status and record it."""
        stored = await self.version(tenant_id, template_id, version)
        status = await self.on_submit(tenant_id, stored)
        if status not in STATUSES:
            raise ValueError(f"a submit policy answered {status!r}, not one of {STATUSES}")
        await self._set_status(template_id, version, status, None)
        return replace(stored, status=status)

    async def review(
        self, tenant_id: str, template_id: str, version: int, status: str, reason: str | None = None
    ) -> TemplateVersion:
        """An operator's decision on a version in review: approved, or rejected with a reason."""
        if status not in (APPROVED, REJECTED):
            raise Problem(422, "a review decides approved or rejected", [FieldError("/status", "approved or rejected")])
        if status == REJECTED and not (reason or "").strip():
            raise Problem(422, "a rejection needs a reason", [FieldError("/reason", "required")])
        current = await self.version(tenant_id, template_id, version)
        if current.status != IN_REVIEW:
            raise Problem(409, f"version {version} is {current.status}, not in review")
        await self._set_status(template_id, version, status, reason.strip() if reason else None)
        return await self.version(tenant_id, template_id, version)

    async def _set_status(self, template_id: str, version: int, status: str, reason: str | None) -> None:
        v = template_versions
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(v)
                .where(and_(v.c.template_id == template_id, v.c.version == version))
                .values(
                    status=status, status_reason=reason, reviewed_ms=None if status == IN_REVIEW else self._now_ms()
                )
            )

    async def version(self, tenant_id: str, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version (the latest by default); 404 for another tenant's template."""
        found = None
        if is_id(template_id) and (version is None or 1 <= version <= MAX_VERSION):
            found = await self._find(templates.c.id == template_id, tenant_id, version)
        if found is None:
            raise Problem(404, "no such template" if version is None else "no such template version")
        return found

    async def resolve(self, tenant_id: str, name: str, version: int | None) -> TemplateVersion | None:
        """The tenant's sendable template called `name`: `version`, else the latest approved one.

        None when the tenant has no template of that name (the library may have one); a 422
        Problem when it has one but not a sendable version of it.
        """
        if name_errors(name):  # no stored name looks like this (and PostgreSQL text holds no NUL)
            return None
        t, v = templates, template_versions
        async with self.db.read.connect() as conn:
            template = (
                await conn.execute(
                    select(t.c.id, t.c.latest_version).where(and_(t.c.name == name, t.c.tenant_id == tenant_id))
                )
            ).first()
            if template is None:
                return None
            query = select(v.c.version).where(v.c.template_id == template.id)
            if version is None:
                query = query.where(v.c.status == APPROVED).order_by(v.c.version.desc()).limit(1)
            else:
                query = query.where(v.c.version == version)
            # A version beyond what storage holds does not exist (and is not a valid query argument).
            found = None if (version or 0) > MAX_VERSION else (await conn.execute(query)).scalar()
        if found is None and version is None:
            why = (
                "has only a draft: submit it as a version first"
                if template.latest_version is None
                else "has no approved version yet"
            )
            raise Problem(422, f"template {name!r} {why}", [FieldError("/template/name", f"template {name!r} {why}")])
        if found is None:
            raise Problem(
                422,
                f"template {name!r} has no version {version}",
                [FieldError("/template/version", f"template {name!r} has no version {version}")],
            )
        chosen = await self.version(tenant_id, template.id, found)
        if chosen.status != APPROVED:
            why = f"version {found} of template {name!r} is {chosen.status.replace('_', ' ')}; only approved versions are sent"
            raise Problem(422, why, [FieldError("/template/version", why)])
        return chosen

    async def _find(self, where, tenant_id: str, version: int | None) -> TemplateVersion | None:
        t, v = templates, template_versions
        content = (v.c.id, v.c.content_enc, v.c.card, v.c.sample)
        fields = (v.c.version, v.c.traffic_type, v.c.note, v.c.created_ms, v.c.status, v.c.status_reason)
        query = (
            select(t.c.id.label("template_id"), t.c.name, t.c.latest_version, *content, *fields)
            .join(v, v.c.template_id == t.c.id)
            .where(and_(where, t.c.tenant_id == tenant_id))
        )
        query = (
            query.where(v.c.version == version)
            if version is not None
            else query.where(v.c.version == t.c.latest_version)
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        card, sample = self._open(tenant_id, template_versions.name, row.id, row)
        return TemplateVersion(
            row.template_id,
            row.name,
            row.version,
            card,
            sample,
            row.traffic_type,
            row.note,
            row.created_ms,
            row.status,
            row.status_reason,
        )

    # -- sealed content --------------------------------------------------------------------
    def _seal(self, tenant_id: str, table: str, row_id: str, body: dict) -> bytes:
        content = orjson.dumps({"card": body["card"], "sample": body.get("sample")})
        return self.keyring.seal(tenant_id, table, "content", row_id, content)

    def _open(self, tenant_id: str, table: str, row_id: str, row) -> tuple[dict, dict | None]:
        """(card, sample) of a version or draft row; a row from before sealing is read as it is
        (until `seal_plaintext` seals it)."""
        if row.content_enc is None:
            return row.card, row.sample
        content = orjson.loads(self.keyring.open(tenant_id, table, "content", row_id, row.content_enc))
        return content["card"], content["sample"]

    def _version_row(
        self, tenant_id: str, template_id: str, version: int, body: dict, now_ms: int, status: str
    ) -> dict:
        row_id = version_row_id(template_id, version)
        return {
            "template_id": template_id,
            "version": version,
            "id": row_id,
            "tenant_id": tenant_id,
            "content_enc": self._seal(tenant_id, template_versions.name, row_id, body),
            "card": null(),
            "sample": null(),
            "traffic_type": body.get("traffic_type", "notification"),
            "note": body.get("note"),
            "created_ms": now_ms,
            "status": status,
        }

    def _draft_row(self, tenant_id: str, template_id: str, body: dict, now_ms: int) -> dict:
        return {
            "template_id": template_id,
            "tenant_id": tenant_id,
            "content_enc": self._seal(tenant_id, template_drafts.name, template_id, body),
            "card": null(),
            "sample": null(),
            "traffic_type": body.get("traffic_type") or "notification",
            "updated_ms": now_ms,
        }

    async def versions(self, tenant_id: str, template_id: str) -> list[dict]:
        await self._template_row(tenant_id, template_id)  # 404 unless it is this tenant's
        v = template_versions
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(v.c.version, v.c.created_ms, v.c.note, v.c.status, v.c.status_reason)
                    .where(v.c.template_id == template_id)
                    .order_by(v.c.version)
                )
            ).all()
        return [
            {
                "version": r.version,
                "note": r.note,
                "status": r.status,
                "status_reason": r.status_reason,
                "created_at": _at(r.created_ms),
            }
            for r in rows
        ]

    async def _template_row(self, tenant_id: str, template_id: str):
        if not is_id(template_id):  # not an id we issue (and PostgreSQL text holds no NUL)
            raise Problem(404, "no such template")
        t = templates
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(t).where(and_(t.c.id == template_id, t.c.tenant_id == tenant_id)))).first()
        if row is None:
            raise Problem(404, "no such template")
        return row

    async def summary(self, tenant_id: str, template_id: str) -> dict:
        """A template as GET /v1/templates/{id} shows it: the latest version's fields (null while
        there is none), the version list, and whether a draft exists."""
        row = await self._template_row(tenant_id, template_id)
        latest = await self.version(tenant_id, template_id) if row.latest_version is not None else None
        async with self.db.read.connect() as conn:
            has_draft = (
                await conn.execute(
                    select(template_drafts.c.template_id).where(template_drafts.c.template_id == template_id)
                )
            ).first() is not None
        fields = (
            latest.as_dict()
            if latest
            else {
                "id": row.id,
                "name": row.name,
                "version": None,
                "card": None,
                "sample": None,
                "traffic_type": None,
                "note": None,
                "status": None,
                "status_reason": None,
                "created_at": _at(row.created_ms),
            }
        )
        return {
            **fields,
            "latest_version": row.latest_version,
            "has_draft": has_draft,
            "updated_at": _at(row.updated_ms or row.created_ms),
            "versions": await self.versions(tenant_id, template_id),
        }

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        t, v, d = templates, template_versions, template_drafts
        query = (
            select(
                t,
                v.c.traffic_type.label("version_traffic"),
                d.c.traffic_type.label("draft_traffic"),
                d.c.template_id.label("draft_of"),
            )
            .select_from(
                t.outerjoin(v, and_(v.c.template_id == t.c.id, v.c.version == t.c.latest_version)).outerjoin(
                    d, d.c.template_id == t.c.id
                )
            )
            .where(t.c.tenant_id == tenant_id)
        )
        if cursor:
            query = query.where(t.c.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(t.c.id.desc()).limit(limit + 1))).all()
        more, rows = len(rows) > limit, rows[:limit]
        items = [
            {
                "id": r.id,
                "name": r.name,
                "latest_version": r.latest_version,
                "has_draft": r.draft_of is not None,
                "traffic_type": r.version_traffic or r.draft_traffic,
                "created_at": _at(r.created_ms),
                "updated_at": _at(r.updated_ms or r.created_ms),
            }
            for r in rows
        ]
        return items, (encode_cursor(rows[-1].id) if more and rows else None)

    # -- drafts ------------------------------------------------------------------------
    async def draft(self, tenant_id: str, template_id: str, *, missing: Problem | None = None) -> dict:
        """The template's draft with its validation; 404 (or `missing`) when it has none."""
        await self._template_row(tenant_id, template_id)
        d = template_drafts
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(d).where(d.c.template_id == template_id))).first()
        if row is None:
            raise missing or Problem(404, "this template has no draft")
        card, sample = self._open(tenant_id, template_drafts.name, template_id, row)
        return await _draft_view(
            {"card": card, "sample": sample, "traffic_type": row.traffic_type, "updated_ms": row.updated_ms}
        )

    async def save_draft(self, tenant_id: str, template_id: str, body: dict) -> dict:
        """Create or replace the draft; an invalid card is saved too (the answer lists its errors).

        `sample` and `traffic_type` left out keep the draft's (else the latest version's) values.
        """
        errors = check_draft_body(body, allowed={"card", "sample", "traffic_type"})
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        row = await self._template_row(tenant_id, template_id)
        base = None
        if "sample" not in body or "traffic_type" not in body:
            try:
                base = await self.draft(tenant_id, template_id)
            except Problem:
                base = (await self.version(tenant_id, template_id)).as_dict() if row.latest_version else None
        merged = {
            "card": body["card"],
            "sample": body["sample"] if "sample" in body else (base or {}).get("sample"),
            "traffic_type": body.get("traffic_type") or (base or {}).get("traffic_type") or "notification",
        }
        now = self._now_ms()
        values = self._draft_row(tenant_id, template_id, merged, now)
        d = template_drafts
        for attempt in range(2):
            try:
                async with self.db.write.begin() as conn:
                    changed = await conn.execute(update(d).where(d.c.template_id == template_id).values(values))
                    if changed.rowcount == 0:
                        await conn.execute(d.insert().values(values))
                    await conn.execute(update(templates).where(templates.c.id == template_id).values(updated_ms=now))
                break
            except IntegrityError:
                if attempt:  # a concurrent first save inserted it: the second try updates
                    raise
        return await _draft_view({**merged, "updated_ms": now})

    async def delete_draft(self, tenant_id: str, template_id: str) -> None:
        await self._template_row(tenant_id, template_id)
        async with self.db.write.begin() as conn:
            await conn.execute(delete(template_drafts).where(template_drafts.c.template_id == template_id))

    # -- duplicate and diff ------------------------------------------------------------
    async def duplicate(self, tenant_id: str, template_id: str, body: dict) -> dict:
        """A new template whose version 1 copies the source's latest version, and whose draft copies
        the source's draft (work in progress goes along; a draft-only source gives a draft-only copy)."""
        errors = [FieldError(f"/{k}", "unknown field") for k in body if k != "name"]
        name = body.get("name")
        errors += name_errors(name)
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        row = await self._template_row(tenant_id, template_id)
        try:
            draft = await self.draft(tenant_id, template_id)
        except Problem:
            draft = None
        copy = None
        if row.latest_version is not None:
            src = await self.version(tenant_id, template_id)
            copy = {
                "card": src.card,
                "sample": src.sample,
                "traffic_type": src.traffic_type,
                "note": f"copy of {src.name} version {src.version}",
            }
        tid = await self._insert_template(tenant_id, name.strip(), version=copy, draft=draft)
        if copy is not None:
            await self._submitted(tenant_id, tid, 1)
        return await self.summary(tenant_id, tid)

    async def diff(
        self, tenant_id: str, template_id: str, old: int | str, new: int | str
    ) -> tuple[list[dict], dict[str, str | None]]:
        """RFC 6902-style changes from one version to another (either may be "draft"), and each
        side's note. A note describes a version, it is not content: it is never a change."""
        docs, notes = [], {}
        for side, which in (("from", old), ("to", new)):
            if which == "draft":
                got = await self.draft(tenant_id, template_id)
                docs.append({"card": got["card"], "sample": got["sample"], "traffic_type": got["traffic_type"]})
                notes[side] = None
            else:
                version = await self.version(tenant_id, template_id, which)
                docs.append({"card": version.card, "sample": version.sample, "traffic_type": version.traffic_type})
                notes[side] = version.note
        return json_diff(docs[0], docs[1]), notes


def check_draft_body(body: dict, *, allowed: set[str]) -> list[FieldError]:
    """Only the shape of a draft: it is saved even when the card inside breaks every limit."""
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in allowed]
    if not isinstance(body.get("card"), dict):
        errors.append(FieldError("/card", "a JSON object is required (it may be incomplete)"))
    if body.get("sample") is not None and not isinstance(body["sample"], dict):
        errors.append(FieldError("/sample", "must be an object of variables"))
    if "traffic_type" in body and body["traffic_type"] not in TRAFFIC_TYPES:
        errors.append(FieldError("/traffic_type", f"must be one of {', '.join(TRAFFIC_TYPES)}"))
    for key in ("card", "sample"):
        try:
            orjson.dumps(body.get(key))
        except orjson.JSONEncodeError as exc:  # nested deeper than JSON interchange, a 65-bit integer
            errors.append(FieldError(f"/{key}", f"cannot be stored as JSON: {exc}"))
    return errors


def json_diff(old, new, path: str = "") -> list[dict]:
    """Changes turning `old` into `new`, as add / remove / replace with JSON Pointer paths.

    (jsonpatch.make_patch would hide the old values and emit move/copy ops: the editor shows
    both sides, so this keeps to three ops and carries `old` and `new`.) List items compare
    by position; surplus items are removed from the end so the ops apply in order.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict] = []
        for key in old:
            where = path + pointer(key)
            if key not in new:
                out.append({"op": "remove", "path": where, "old": old[key]})
            else:
                out += json_diff(old[key], new[key], where)
        out += [{"op": "add", "path": path + pointer(k), "new": new[k]} for k in new if k not in old]
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for i in range(min(len(old), len(new))):
            out += json_diff(old[i], new[i], path + pointer(i))
        out += [{"op": "add", "path": path + pointer(i), "new": new[i]} for i in range(len(old), len(new))]
        out += [{"op": "remove", "path": path + pointer(i), "old": old[i]} for i in reversed(range(len(new), len(old)))]
        return out
    if type(old) is not type(new) or old != new:
        return [{"op": "replace", "path": path, "old": old, "new": new}]
    return []


async def _draft_view(draft: dict) -> dict:
    errors = await checked(
        {"card": draft["card"], "sample": draft["sample"], "traffic_type": draft["traffic_type"]}, need_name=False
    )
    return {
        "card": draft["card"],
        "sample": draft["sample"],
        "traffic_type": draft["traffic_type"],
        "updated_at": _at(draft["updated_ms"]),
        "valid": not errors,
        "errors": [e.as_dict() for e in errors],
    }


@dataclass(frozen=True)
class ResolvedTemplate:
    """What a template name means for a tenant: the card to compose and what to record."""

    card: dict
    ref: dict  # {"name", "version", "id"} for the tenant's own, {"name", "version": 1, "library": true}
    sample: dict | None
    library: bool = False


async def resolve_template(
    templates: TemplateStore | None, tenant_id: str, name: str, version: int | None = None
) -> ResolvedTemplate:
    """The template a send or a render names: the tenant's own of that name first (`version`,
    else its latest approved one), then the library's. A 422 Problem (at /template/name or
    /template/version) when neither has it."""
    if templates is not None:
        found = await templates.resolve(tenant_id, name, version)
        if found is not None:
            ref = {"name": name, "version": found.version, "id": found.template_id}
            return ResolvedTemplate(found.card, ref, found.sample)
    template = load_library().get(name)
    if template is None:
        raise Problem(422, f"no template named {name!r}", [FieldError("/template/name", f"no template named {name!r}")])
    if version not in (None, 1):
        why = f"template {name!r} has only version 1"
        raise Problem(422, why, [FieldError("/template/version", why)])
    return ResolvedTemplate(template.card, {"name": name, "version": 1, "library": True}, template.sample, True)
