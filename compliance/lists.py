"""Word lists: categories, words and whitelisted phrases per scope (the platform, or a tenant),
their import and export, and the matcher each tenant's sends are screened with.

Every change bumps its scope's version in the same transaction. A tenant's matcher holds the
platform's rules and the tenant's own in one automaton (a tenant without its own shares the
platform's); it is cached by the pair of versions, rebuilt in a worker thread when either
changes, and the versions are re-read at most every `recheck_s` seconds (a change made by another
process is seen within that time; one made here at once).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from compliance.consent import ConsentPolicies, consent_policy, policy_errors, policy_values
from compliance.matcher import ACTIONS, ALLOW, PLATFORM, WORD, Matcher, Rule
from compliance.normalise import normalise
from compliance.tables import categories, policies, versions, words
from store import Clock, Database, SystemClock, new_id

MAX_TERM = 200
MAX_CATEGORY = 64
CHUNK = 1000
MATCHER_CACHE = 64
TEMPLATE_REVIEW = ("matched", "always")
FORMATS = ("json", "ndjson", "csv", "text")


def _ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


@dataclass(frozen=True)
class Entry:
    """A word or phrase to add: `kind` word (with a category) or allow."""

    term: str
    kind: str = WORD
    category: str | None = None


class WordLists:
    """The word lists in the database and the matchers built from them."""

    def __init__(
        self,
        db: Database,
        clock: Clock | None = None,
        *,
        recheck_s: float = 1.0,
        consent_policies: ConsentPolicies | None = None,
    ):
        self.db = db
        self.consent_policies = consent_policies  # told of a policy change made here
        self.clock = clock or SystemClock()
        self.recheck_s = recheck_s
        self._versions: dict[str, tuple[int, float]] = {}  # scope → (version, read at, monotonic)
        self._reading: dict[str, asyncio.Future] = {}  # tenant → its versions being read
        self._matchers: OrderedDict[tuple, Matcher] = OrderedDict()
        self._building: dict[tuple, asyncio.Future] = {}

    # -- matchers ----------------------------------------------------------------------
    async def matcher(self, tenant_id: str) -> Matcher:
        """The matcher for `tenant_id`'s sends: the platform's rules and the tenant's."""
        platform_v, tenant_v = await self._version_pair(tenant_id)
        key = (platform_v, tenant_id if tenant_v else None, tenant_v)
        found = self._matchers.get(key)
        if found is not None:
            self._matchers.move_to_end(key)
            return found
        pending = self._building.get(key)
        if pending is None:
            pending = self._building[key] = asyncio.ensure_future(self._build(key))
            pending.add_done_callback(lambda _: self._building.pop(key, None))
        return await asyncio.shield(pending)

    async def _build(self, key: tuple) -> Matcher:
        _, tenant_id, _ = key
        rules = await self.rules(tenant_id)
        matcher = await asyncio.to_thread(Matcher, rules, key)
        self._matchers[key] = matcher
        while len(self._matchers) > MATCHER_CACHE:
            self._matchers.popitem(last=False)
        return matcher

    async def rules(self, tenant_id: str | None) -> list[Rule]:
        """The platform's rules and (given a tenant) the tenant's, each word with its action."""
        scopes = [PLATFORM] + ([tenant_id] if tenant_id else [])
        async with self.db.read.connect() as conn:
            cats = (await conn.execute(select(categories).where(categories.c.scope.in_(scopes)))).all()
            rows = (
                await conn.execute(
                    select(words.c.id, words.c.scope, words.c.kind, words.c.category, words.c.term, words.c.norm).where(
                        words.c.scope.in_(scopes)
                    )
                )
            ).all()
        actions = {(c.scope, c.name): c.action for c in cats}
        out = []
        for r in rows:
            action = None
            if r.kind == WORD:
                action = actions.get((r.scope, r.category)) or actions.get((PLATFORM, r.category))
                if action is None:
                    continue  # its category is gone
            out.append(Rule(r.id, r.term, r.norm, r.kind, r.scope, r.category, action))
        return out

    async def _version_pair(self, tenant_id: str) -> tuple[int, int]:
        now = time.monotonic()
        p, t = self._versions.get(PLATFORM), self._versions.get(tenant_id)
        if p is None or t is None or now - min(p[1], t[1]) > self.recheck_s:
            # One read for every send that finds the versions due at once (not one each).
            pending = self._reading.get(tenant_id)
            if pending is None:
                pending = self._reading[tenant_id] = asyncio.ensure_future(self._read_versions(tenant_id, now))
                pending.add_done_callback(lambda _: self._reading.pop(tenant_id, None))
            p, t = await asyncio.shield(pending)
        return p[0], t[0]

    async def _read_versions(self, tenant_id: str, now: float) -> tuple[tuple[int, float], tuple[int, float]]:
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(versions.c.scope, versions.c.version).where(versions.c.scope.in_([PLATFORM, tenant_id]))
                )
            ).all()
        found = {r.scope: r.version for r in rows}
        p = (found.get(PLATFORM, 0), now)
        t = (found.get(tenant_id, 0), now)
        self._versions[PLATFORM], self._versions[tenant_id] = p, t
        return p, t

    def _changed(self, scope: str) -> None:
        """A change made here: read the versions again before the next match."""
        self._versions.pop(scope, None)
        self._versions.pop(PLATFORM, None)

    async def warm(self) -> None:
        """Build the platform's matcher ahead of the first send (a tenant without a list of its
        own shares it)."""
        await self.matcher("")

    @staticmethod
    def _bump(conn, scope: str, now_ms: int):
        """Statements bumping `scope`'s version (run in the changing transaction)."""
        return conn.execute(
            update(versions).where(versions.c.scope == scope).values(version=versions.c.version + 1, updated_ms=now_ms)
        )

    async def _write(self, scope: str, work) -> None:
        """Run `work(conn)` and bump the scope's version in one transaction."""
        now = _ms(self.clock)
        async with self.db.write.begin() as conn:
            await work(conn)
            changed = await self._bump(conn, scope, now)
            if changed.rowcount == 0:
                await conn.execute(versions.insert().values(scope=scope, version=1, updated_ms=now))
        self._changed(scope)

    # -- categories --------------------------------------------------------------------
    async def categories(self, tenant_id: str | None) -> list[dict]:
        """The platform's categories and (given a tenant) the tenant's, with their word counts."""
        scopes = [PLATFORM] + ([tenant_id] if tenant_id else [])
        async with self.db.read.connect() as conn:
            cats = (
                await conn.execute(
                    select(categories)
                    .where(categories.c.scope.in_(scopes))
                    .order_by(categories.c.scope, categories.c.name)
                )
            ).all()
            counts = {
                (r.scope, r.category): r.n
                for r in await conn.execute(
                    select(words.c.scope, words.c.category, func.count().label("n"))
                    .where(words.c.scope.in_(scopes), words.c.kind == WORD)
                    .group_by(words.c.scope, words.c.category)
                )
            }
        return [
            {
                "name": c.name,
                "action": c.action,
                "description": c.description,
                "scope": "platform" if c.scope == PLATFORM else "tenant",
                "words": counts.get((c.scope, c.name), 0),
            }
            for c in cats
        ]

    async def put_category(self, scope: str, name: str, body: dict) -> dict:
        """Create or change one of a scope's categories (a tenant cannot shadow the platform's)."""
        errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("action", "description")]
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CATEGORY or not normalise(name):
            errors.append(FieldError("/name", f"a name of 1 to {MAX_CATEGORY} characters"))
        if body.get("action") not in ACTIONS:
            errors.append(FieldError("/action", "block (refuse the send) or review (hold it for a reviewer)"))
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 500):
            errors.append(FieldError("/description", "a string of at most 500 characters"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        if scope != PLATFORM and await self._category_scope(name, scope) == PLATFORM:
            raise Problem(409, f"`{name}` is a platform category", [FieldError("/name", "a platform category's name")])
        now = _ms(self.clock)

        async def work(conn) -> None:
            changed = await conn.execute(
                update(categories)
                .where(categories.c.scope == scope, categories.c.name == name)
                .values(action=body["action"], description=description, updated_ms=now)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    categories.insert().values(
                        id=new_id(),
                        scope=scope,
                        name=name,
                        action=body["action"],
                        description=description,
                        created_ms=now,
                        updated_ms=now,
                    )
                )

        await self._write(scope, work)
        return {"name": name, "action": body["action"], "description": description, "scope": _scope_name(scope)}

    async def delete_category(self, scope: str, name: str) -> None:
        """Remove one of a scope's categories and its words."""
        if await self._category_scope(name, scope) != scope:
            raise Problem(404, "no such category in this list")

        async def work(conn) -> None:
            await conn.execute(delete(words).where(words.c.scope == scope, words.c.category == name))
            await conn.execute(delete(categories).where(categories.c.scope == scope, categories.c.name == name))

        await self._write(scope, work)

    async def _category_scope(self, name: str, scope: str) -> str | None:
        """Where the category `name` usable in `scope` is defined: PLATFORM, `scope`, or None."""
        async with self.db.read.connect() as conn:
            found = {
                r.scope
                for r in await conn.execute(
                    select(categories.c.scope).where(
                        categories.c.name == name, categories.c.scope.in_([PLATFORM, scope])
                    )
                )
            }
        return PLATFORM if PLATFORM in found else (scope if scope in found else None)

    # -- words -------------------------------------------------------------------------
    async def add(self, scope: str, entries: Iterable[Entry], *, where: str = "/words") -> dict:
        """Add (or re-categorise) words and allowed phrases; every bad one is a 422 naming it."""
        entries = list(entries)
        errors: list[FieldError] = []
        rows = []
        usable = await self._usable_categories(scope)
        now = _ms(self.clock)
        for i, e in enumerate(entries):
            problem = _entry_problem(e, usable)
            if problem:
                errors.append(FieldError(f"{where}/{i}", problem))
                continue
            rows.append(
                {
                    "id": new_id(),
                    "scope": scope,
                    "kind": e.kind,
                    "category": e.category if e.kind == WORD else None,
                    "term": e.term.strip(),
                    "norm": normalise(e.term),
                    "created_ms": now,
                }
            )
        if errors:
            raise Problem(422, f"{len(errors)} word(s) are invalid", errors[:100])
        await self._upsert(scope, rows)
        return {"added": len(rows)}

    async def _upsert(self, scope: str, rows: list[dict]) -> None:
        if not rows:
            return
        unique: dict[tuple, dict] = {}
        for r in rows:  # the last of two spellings of one normal form wins
            unique[(r["kind"], r["norm"])] = r
        rows = list(unique.values())
        dialect = postgresql if not self.db.sqlite else sqlite

        async def work(conn) -> None:
            for i in range(0, len(rows), CHUNK):
                stmt = dialect.insert(words).values(rows[i : i + CHUNK])
                stmt = stmt.on_conflict_do_update(
                    index_elements=[words.c.scope, words.c.kind, words.c.norm],
                    set_={"category": stmt.excluded.category, "term": stmt.excluded.term},
                )
                await conn.execute(stmt)

        await self._write(scope, work)

    async def _usable_categories(self, scope: str) -> set[str]:
        async with self.db.read.connect() as conn:
            return {
                r.name
                for r in await conn.execute(select(categories.c.name).where(categories.c.scope.in_({PLATFORM, scope})))
            }

    async def import_lines(
        self, scope: str, lines: AsyncIterator[str], *, fmt: str, category: str | None, kind: str = WORD
    ) -> dict:
        """Import a word file read line by line (`text`: one word a line; `csv`: term[,category[,kind]];
        `ndjson`: {"term", "category"?, "kind"?} a line), committing every CHUNK lines. Lines
        without a category take `category` (or are allowed phrases with kind `allow`)."""
        usable = await self._usable_categories(scope)
        if kind == WORD and category is not None and category not in usable:
            raise Problem(422, f"no category `{category}`: create it first", [FieldError("/category", "unknown")])
        total, number, batch = 0, 0, []
        errors: list[FieldError] = []
        now = _ms(self.clock)
        async for line in lines:
            number += 1
            entry = _parse_line(line, fmt, category, kind)
            if entry is None:
                continue
            problem = entry if isinstance(entry, str) else _entry_problem(entry, usable)
            if problem:
                errors.append(FieldError(f"/lines/{number}", problem))
                if len(errors) >= 100:
                    break
                continue
            assert isinstance(entry, Entry)
            batch.append(
                {
                    "id": new_id(),
                    "scope": scope,
                    "kind": entry.kind,
                    "category": entry.category if entry.kind == WORD else None,
                    "term": entry.term.strip(),
                    "norm": normalise(entry.term),
                    "created_ms": now,
                }
            )
            if len(batch) >= CHUNK and not errors:
                await self._upsert(scope, batch)
                total += len(batch)
                batch = []
        if errors:
            raise Problem(
                422,
                f"{len(errors)} line(s) are invalid; the {total} words before the first were imported",
                errors,
                extra={"imported": total},
            )
        await self._upsert(scope, batch)
        return {"imported": total + len(batch)}

    async def remove(self, scope: str, terms: list[str], kind: str = WORD) -> dict:
        norms = sorted({normalise(t) for t in terms if isinstance(t, str)})
        removed = 0

        async def work(conn) -> None:
            nonlocal removed
            for i in range(0, len(norms), CHUNK):
                removed += (
                    await conn.execute(
                        delete(words).where(
                            words.c.scope == scope, words.c.kind == kind, words.c.norm.in_(norms[i : i + CHUNK])
                        )
                    )
                ).rowcount

        await self._write(scope, work)
        return {"removed": removed}

    async def list_words(
        self, scope: str, *, category: str | None, kind: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        query = select(words).where(words.c.scope == scope)
        if category is not None:
            query = query.where(words.c.category == category)
        if kind is not None:
            query = query.where(words.c.kind == kind)
        if cursor:
            query = query.where(words.c.id > decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(words.c.id).limit(limit + 1))).all()
        more, rows = len(rows) > limit, rows[:limit]
        return [_word_view(r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None

    async def export(self, scope: str, fmt: str) -> AsyncIterator[bytes]:
        """The scope's words as `fmt`, page by page (never the whole list in memory)."""
        after = ""
        if fmt == "json":
            yield b"["
        first = True
        if fmt == "csv":
            yield b"term,category,kind\r\n"
        while True:
            async with self.db.read.connect() as conn:
                rows = (
                    await conn.execute(
                        select(words)
                        .where(words.c.scope == scope, words.c.id > after)
                        .order_by(words.c.id)
                        .limit(CHUNK)
                    )
                ).all()
            if not rows:
                break
            after = rows[-1].id
            out = io.StringIO()
            table = csv.writer(out)
            parts = []
            for r in rows:
                if fmt == "csv":
                    table.writerow([r.term, r.category or "", r.kind])
                elif fmt == "text":
                    parts.append(r.term.encode() + b"\n")
                else:
                    item = orjson.dumps({"term": r.term, "category": r.category, "kind": r.kind})
                    if fmt == "json":
                        parts.append((b"" if first else b",") + item)
                    else:
                        parts.append(item + b"\n")
                first = False
            yield out.getvalue().encode() if fmt == "csv" else b"".join(parts)
        if fmt == "json":
            yield b"]"

    # -- policy ------------------------------------------------------------------------
    async def policy(self, tenant_id: str) -> dict:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(policies).where(policies.c.tenant_id == tenant_id))).first()
        out = {"template_review": row.template_review if row else "matched"}
        return out | (await consent_policy(self.db, tenant_id)).as_dict()

    async def set_policy(self, tenant_id: str, body: dict) -> dict:
        """Change the fields given; the others keep their value (a new policy starts from the
        defaults)."""
        known = ("template_review", "marketing_requires_consent", "unsubscribe_text", "consent_keywords")
        errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in known]
        if "template_review" in body and body["template_review"] not in TEMPLATE_REVIEW:
            errors.append(FieldError("/template_review", "matched (review when a review category matched) or always"))
        errors += policy_errors(body)
        if not body and not errors:
            errors.append(FieldError("/template_review", "give at least one field to change"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        now = _ms(self.clock)
        values = policy_values(body)
        if "template_review" in body:
            values["template_review"] = body["template_review"]
        async with self.db.write.begin() as conn:
            changed = await conn.execute(
                update(policies).where(policies.c.tenant_id == tenant_id).values(**values, updated_ms=now)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    policies.insert().values(
                        **{"template_review": "matched", **values}, tenant_id=tenant_id, updated_ms=now
                    )
                )
        if self.consent_policies is not None:
            self.consent_policies.forget(tenant_id)
        return await self.policy(tenant_id)


def _scope_name(scope: str) -> str:
    return "platform" if scope == PLATFORM else "tenant"


def _word_view(r) -> dict:
    return {"id": r.id, "term": r.term, "kind": r.kind, "category": r.category}


def _entry_problem(e: Entry, usable: set[str]) -> str | None:
    if not isinstance(e.term, str) or not 0 < len(e.term.strip()) <= MAX_TERM:
        return f"a word of 1 to {MAX_TERM} characters"
    if not normalise(e.term):
        return "has no letter or digit to match"
    if e.kind not in (WORD, ALLOW):
        return "kind is word or allow"
    if e.kind == WORD and e.category not in usable:
        return f"no category `{e.category}` (create it, or name one of the platform's)"
    return None


def _parse_line(line: str, fmt: str, category: str | None, kind: str) -> Entry | str | None:
    """One line of an import file as an Entry, an error message, or None for a blank line."""
    line = line.strip().lstrip("\ufeff")
    if not line:
        return None
    if fmt == "text":
        return Entry(line, kind, category)
    if fmt == "csv":
        try:
            cells = next(csv.reader([line]))
        except csv.Error as exc:  # e.g. a bare CR inside the line
            return f"not a CSV line: {exc}"
        if cells and cells[0].strip().lower() == "term":
            return None  # the header an export writes
        cells += ["", ""]
        row_kind = cells[2].strip() or kind
        return Entry(cells[0], row_kind, cells[1].strip() or category)
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not a JSON object"
    if not isinstance(item, dict) or not isinstance(item.get("term"), str):
        return 'expected {"term": …, "category"?: …, "kind"?: …}'
    return Entry(item["term"], item.get("kind") or kind, item.get("category") or category)


async def lines_of(data: bytes | str) -> AsyncIterator[str]:
    """A whole file's lines as the async iterator `import_lines` reads (the CLI's path)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    for i, line in enumerate(text.splitlines()):
        if i % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
        yield line


def json_lines(data: bytes) -> list[str]:
    """A JSON array file (the `json` export) as ndjson lines."""
    items = orjson.loads(data)
    if not isinstance(items, list):
        raise Problem(422, "a JSON word file is an array of objects", [FieldError("", "expected an array")])
    return [orjson.dumps(i).decode() for i in items]
