"""Campaigns: a template (or A/B variants) sent to a segment at a throttle, inside a window,
with an optional smart resend. This module keeps their definitions and states; the runner
(campaigns.runner) moves running ones along; results and funnels are read here.

States: draft → scheduled → running ⇄ paused → finished, and cancelled from any but finished.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from analytics.service import Analytics, FunnelScope
from api.problems import FieldError, Problem
from audiences.segments import Segments
from billing.tables import billing_entries
from campaigns.spec import HOLDOUT, REST, Spec, parse_spec
from campaigns.stats import compare
from campaigns.tables import campaign_messages, campaign_recipients, campaigns
from messages.cardcheck import CardChecker
from messages.request import parse_rfc3339, parse_send_request
from messages.tables import messages
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import ms_to_rfc3339
from store.money import format_money
from store.writer import WriteBatch

STATUSES = ("draft", "scheduled", "running", "paused", "finished", "cancelled")
MAX_PAGE = 100
FUNNEL_GROUPS = ("none", "variant", "kind", "carrier", "channel", "hour", "day")
# What each action may start from.
_FROM = {
    "launch": ("draft",),
    "pause": ("scheduled", "running"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "running", "paused"),
}


def _at(ms: int | None) -> str | None:
    return ms_to_rfc3339(ms) if ms is not None else None


class Campaigns:
    """A tenant's campaigns: definitions, states, results."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        segments: Segments,
        cards: CardChecker,
        analytics: Analytics,
        clock: Clock | None = None,
        *,
        id_factory: Callable[[], str] = new_id,
        wake: Callable[[], None] | None = None,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
    ):
        self.db, self.writer, self.segments, self.cards, self.analytics = db, writer, segments, cards, analytics
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.wake = wake or (lambda: None)
        self.ensure_keys = ensure_keys

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- definitions -----------------------------------------------------------------------------
    async def _check_segment(self, tenant_id: str, spec: Spec) -> dict:
        segment = await self.segments.get(tenant_id, spec.raw["segment_id"])
        if segment is None:
            raise Problem(422, "no such segment", [FieldError("/segment_id", "none of your segments has this id")])
        return segment

    async def create(self, tenant_id: str, body: Any) -> dict:
        spec = parse_spec(body)
        await self._check_segment(tenant_id, spec)
        now_ms, campaign_id = self.now_ms(), self.new_id()
        row = {
            "id": campaign_id,
            "tenant_id": tenant_id,
            "name": spec.raw["name"],
            "status": "draft",
            "phase": "snapshot",
            "spec": spec.raw,
            "created_ms": now_ms,
            "updated_ms": now_ms,
        }
        await self.writer.write(WriteBatch().insert(campaigns, row))
        view = await self.get(tenant_id, campaign_id)
        assert view is not None
        return view

    async def _row(self, tenant_id: str, campaign_id: str):
        async with self.db.read.connect() as conn:
            return (
                await conn.execute(
                    select(campaigns).where(campaigns.c.tenant_id == tenant_id, campaigns.c.id == campaign_id)
                )
            ).first()

    async def get(self, tenant_id: str, campaign_id: str) -> dict | None:
        row = await self._row(tenant_id, campaign_id)
        if row is None:
            return None
        return self.view(row, await self._progress(campaign_id))

    async def _progress(self, campaign_id: str) -> dict:
        return (await self._progresses([campaign_id]))[campaign_id]

    async def _progresses(self, campaign_ids: list[str]) -> dict[str, dict]:
        """Each campaign's recipients by state, and resends sent (one grouped query)."""
        r = campaign_recipients.c
        query = (
            select(
                r.campaign_id,
                r.state,
                func.count().label("n"),
                func.sum(case((r.resend == "sent", 1), else_=0)).label("resent"),
            )
            .where(r.campaign_id.in_(campaign_ids))
            .group_by(r.campaign_id, r.state)
        )
        counts: dict[str, dict[str, int]] = {cid: {} for cid in campaign_ids}
        async with self.db.read.connect() as conn:
            for row in (await conn.execute(query)).all():
                counts[row.campaign_id][row.state] = int(row.n)
                counts[row.campaign_id]["resent"] = counts[row.campaign_id].get("resent", 0) + int(row.resent or 0)
        return {
            cid: {
                "pending": c.get("pending", 0) + c.get("paged", 0),
                "sent": c.get("sent", 0),
                "skipped": c.get("skipped", 0),
                "held_out": c.get("held_out", 0),
                "resent": c.get("resent", 0),
            }
            for cid, c in counts.items()
        }

    @staticmethod
    def view(row, progress: dict | None = None) -> dict:
        spec = dict(row.spec)
        out = {
            "id": row.id,
            "name": row.name,
            "status": row.status,
            "phase": row.phase if row.status in ("running", "paused") else None,
            **{k: v for k, v in spec.items() if k != "name"},
            "audience": row.audience,
            "winner": row.winner,
            "winner_detail": row.winner_detail,
            "error": row.error,
            "created_at": _at(row.created_ms),
            "updated_at": _at(row.updated_ms),
            "launched_at": _at(row.launched_ms),
            "finished_at": _at(row.finished_ms),
        }
        if progress is not None:
            out["progress"] = progress
        return out

    async def page(
        self, tenant_id: str, *, after: str | None, limit: int, status: str | None = None
    ) -> tuple[list[dict], str | None]:
        query = select(campaigns).where(campaigns.c.tenant_id == tenant_id)
        if status is not None:
            if status not in STATUSES:
                raise Problem(422, "no such status", [FieldError("/status", f"one of {', '.join(STATUSES)}")])
            query = query.where(campaigns.c.status == status)
        if after is not None:
            query = query.where(campaigns.c.id > after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(campaigns.c.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        progress = await self._progresses([r.id for r in rows]) if rows else {}
        return [self.view(r, progress[r.id]) for r in rows], rows[-1].id if more and rows else None

    async def replace(self, tenant_id: str, campaign_id: str, body: Any) -> dict | None:
        """Change a draft's definition (a launched campaign keeps the one it was launched with)."""
        row = await self._row(tenant_id, campaign_id)
        if row is None:
            return None
        spec = parse_spec(body)
        await self._check_segment(tenant_id, spec)
        now_ms = self.now_ms()
        c = campaigns.c
        changed = await self._update(
            and_(c.id == campaign_id, c.status == "draft"),
            {"name": spec.raw["name"], "spec": spec.raw, "updated_ms": now_ms},
        )
        if not changed:
            raise self._conflict(row.status, "changed")
        return await self.get(tenant_id, campaign_id)

    async def delete(self, tenant_id: str, campaign_id: str) -> bool:
        """Delete a draft (a launched campaign is cancelled instead: its sends stay on record)."""
        row = await self._row(tenant_id, campaign_id)
        if row is None:
            return False
        if row.status != "draft":
            raise self._conflict(row.status, "deleted (cancel it instead)")

        def run(conn: Connection) -> None:
            conn.execute(campaigns.delete().where(campaigns.c.id == campaign_id, campaigns.c.status == "draft"))

        await self.writer.write(WriteBatch().run(run))
        return True

    @staticmethod
    def _conflict(status: str, what: str) -> Problem:
        return Problem(
            409, f"a {status} campaign cannot be {what}", [FieldError("/status", f"the campaign is {status}")]
        )

    async def _update(self, where, values: dict) -> bool:
        done: list[int] = []

        def run(conn: Connection) -> None:
            done.append(conn.execute(campaigns.update().where(where).values(**values)).rowcount)

        await self.writer.write(WriteBatch().run(run))
        return bool(done and done[0])

    # -- states ----------------------------------------------------------------------------------
    async def _template(self, tenant_id: str, template: dict) -> tuple[dict | None, Any, list[FieldError]]:
        """(the version found now, compiled or its errors, errors) for a template reference."""
        req = parse_send_request({"to": "+8613800000000", "template": template})
        card, _, errors = await self.cards.resolve(req, tenant_id)
        if errors or card is None:
            return None, None, errors or [FieldError("", "no such template")]
        compiled = await self.cards.compiled(card)
        if isinstance(compiled, list):
            return None, None, compiled[:3]
        return req.template, compiled, []

    async def variables_of(self, tenant_id: str, template: dict) -> list[str]:
        """The variables a template uses (none when it no longer resolves: the send says why)."""
        _, compiled, _ = await self._template(tenant_id, template)
        return list(compiled.variables) if compiled is not None else []

    async def pin_templates(self, tenant_id: str, spec: Spec) -> dict:
        """Every template the campaign would send resolves and is sendable now (a tenant's
        template only in an approved version); 422 naming the field otherwise. Returns the
        definition with each reference pinned to the version found, so that what was checked
        at launch is what goes."""
        raw = copy.deepcopy(spec.raw)
        places: list[tuple[str, dict]] = [("/template", raw)]
        ab = raw.get("ab") or {}
        places += [(f"/ab/variants/{i}/template", v) for i, v in enumerate(ab.get("variants", [])) if v.get("template")]
        if (raw.get("resend") or {}).get("template"):
            places.append(("/resend/template", raw["resend"]))
        errors: list[FieldError] = []
        for where, holder in places:
            ref, _, found = await self._template(tenant_id, holder["template"])
            if ref is None:
                errors += [e.at(where) for e in found]
            elif "version" in ref:
                holder["template"] = {"name": ref["name"], "version": ref["version"]}
        if errors:
            raise Problem(422, "the campaign cannot send its templates", errors)
        return raw

    async def act(self, tenant_id: str, campaign_id: str, action: str) -> dict | None:
        """launch | pause | resume | cancel; 409 when the campaign's state does not allow it."""
        row = await self._row(tenant_id, campaign_id)
        if row is None:
            return None
        if row.status not in _FROM[action]:
            raise self._conflict(
                row.status, {"launch": "launched", "pause": "paused", "resume": "resumed"}.get(action, "cancelled")
            )
        now_ms = self.now_ms()
        c = campaigns.c
        values: dict[str, Any] = {"updated_ms": now_ms}
        if action == "launch":
            spec = Spec(row.spec)
            segment = await self._check_segment(tenant_id, spec)
            pinned = await self.pin_templates(tenant_id, spec)
            at = parse_rfc3339(spec.raw.get("start_at")) if spec.raw.get("start_at") else None
            start_ms = max(now_ms, int(at.timestamp() * 1000)) if at is not None else now_ms
            values.update(
                status="running" if start_ms <= now_ms else "scheduled",
                phase="snapshot",
                filter=segment["filter"],
                start_ms=start_ms,
                launched_ms=now_ms,
                paced_ms=start_ms - 1000,
                spec=pinned,
            )
        elif action == "pause":
            values.update(status="paused")
        elif action == "resume":
            values.update(
                status="running" if (row.start_ms or 0) <= now_ms else "scheduled",
                error=None,
                paced_ms=now_ms - 1000,
            )
        else:
            values.update(status="cancelled", finished_ms=now_ms)
        if not await self._update(and_(c.id == campaign_id, c.status == row.status), values):
            raise Problem(409, "the campaign changed meanwhile; try again", [FieldError("/status", "changed")])
        if action in ("launch", "resume"):
            self.wake()
        return await self.get(tenant_id, campaign_id)

    # -- results ---------------------------------------------------------------------------------
    def _scope(self, campaign_id: str) -> Any:
        return select(campaign_messages.c.message_id).where(campaign_messages.c.campaign_id == campaign_id)

    async def funnel(self, tenant_id: str, campaign_id: str, group_by: str = "none") -> list[dict]:
        """The funnel of what a campaign (or a journey) sent, per variant, kind (first send,
        resend or journey), carrier, channel, hour or day."""
        if group_by not in FUNNEL_GROUPS:
            raise Problem(422, "no such grouping", [FieldError("/group_by", f"one of {', '.join(FUNNEL_GROUPS)}")])
        cm = campaign_messages.c
        own = {"variant": cm.variant, "kind": cm.kind, "carrier": cm.carrier}
        if group_by in own:
            key = select(own[group_by]).where(cm.message_id == messages.c.id).scalar_subquery()
            return await self.analytics.funnel(tenant_id, FunnelScope(message_ids=self._scope(campaign_id)), key=key)
        return await self.analytics.funnel(tenant_id, FunnelScope(message_ids=self._scope(campaign_id)), group_by)

    async def cost(self, tenant_id: str, campaign_id: str) -> dict[str, str]:
        """What the campaign's messages cost so far — their charges (a refund only returns a
        hold, never a charge) — per carrier and in all (CNY, exact)."""
        b = billing_entries.c
        query = (
            select(b.carrier, func.sum(b.amount_units).label("units"))
            .where(
                b.tenant_id == tenant_id,
                b.kind == "charge",
                b.message_id.in_(self._scope(campaign_id)),
            )
            .group_by(b.carrier)
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        per = {r.carrier or "other": -int(r.units or 0) for r in rows}
        return {
            "total": format_money(sum(per.values())) or "0.0000",
            **{k: format_money(v) or "0.0000" for k, v in per.items()},
        }

    async def results(self, tenant_id: str, campaign_id: str) -> dict | None:
        """Per variant: the audience, what was sent, the funnel, the test against the first
        variant (two-proportion z-test on the winner's metric); the resend's funnel; the cost."""
        row = await self._row(tenant_id, campaign_id)
        if row is None:
            return None
        spec = Spec(row.spec)
        r = campaign_recipients.c
        audience_q = (
            select(
                r.variant,
                func.count().label("contacts"),
                func.sum(case((r.state == "skipped", 1), else_=0)).label("skipped"),
            )
            .where(r.campaign_id == campaign_id)
            .group_by(r.variant)
        )
        async with self.db.read.connect() as conn:
            audience = {
                x.variant: (int(x.contacts), int(x.skipped or 0)) for x in (await conn.execute(audience_q)).all()
            }
        cm = campaign_messages.c
        first = select(cm.message_id).where(cm.campaign_id == campaign_id, cm.kind == "first")
        key = select(cm.variant).where(cm.message_id == messages.c.id).scalar_subquery()
        funnels = {
            f["group"]: f for f in await self.analytics.funnel(tenant_id, FunnelScope(message_ids=first), key=key)
        }
        metric = (spec.winner or {}).get("metric", "clicked")
        names = [v.name for v in spec.variants] + ([REST] if spec.winner else []) + ([HOLDOUT] if spec.holdout else [])
        variants: list[dict[str, Any]] = []
        for name in names:
            contacts, skipped = audience.get(name, (0, 0))
            funnel = funnels.get(name)
            variants.append({"variant": name, "contacts": contacts, "skipped": skipped, "funnel": funnel})
        tested = [v for v in variants if v["variant"] not in (HOLDOUT, REST) and v["funnel"]]
        test = (
            compare([(v["variant"], v["funnel"][metric], v["funnel"]["accepted"]) for v in tested])
            if len(tested) > 1
            else None
        )
        resend_ids = select(cm.message_id).where(cm.campaign_id == campaign_id, cm.kind == "resend")
        resend = await self.analytics.funnel(tenant_id, FunnelScope(message_ids=resend_ids))
        return {
            "campaign_id": campaign_id,
            "status": row.status,
            "metric": metric,
            "variants": variants,
            "test": test,
            "winner": row.winner,
            "winner_detail": row.winner_detail,
            "resend": resend[0] if resend else None,
            "cost": await self.cost(tenant_id, campaign_id),
        }
