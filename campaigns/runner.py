"""Moves running campaigns along, a step per pass: the audience snapshot (each contact's variant
drawn once), pages sent at the throttle inside the window, the winner chosen and sent to the
rest, the smart resend, the end.

Restart-safe: every fact is in the database. A page is marked (`paged`, its number) before it
is sent and accepted under the idempotency key `campaign/<id>/page/<n>`; a page found marked
after a restart is sent again under the same key and answered from the first accept. A lease
on the campaign row keeps two processes from running one campaign at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, false, func, or_, select, update
from sqlalchemy.engine import Connection

from analytics.service import FunnelScope
from api.problems import Problem
from audiences.contacts import attribute_hasher
from audiences.segments import members_query
from audiences.tables import contacts
from campaigns.journeys import Journeys
from campaigns.sending import MAX_PAGE, Content, PageResult, PageSender, record_messages
from campaigns.service import Campaigns
from campaigns.spec import HOLDOUT, REST, Spec, draw, variant_of
from campaigns.stats import compare
from campaigns.tables import campaign_messages, campaign_recipients, campaigns
from fallback.shortlinks.tables import link_clicks
from messages.ledger import opted_out_in
from messages.rules import next_allowed
from messages.status import Status
from messages.tables import REPLY_KINDS, message_events, message_interactions, messages
from security import Keyring
from store import Clock, Database, GroupWriter, SystemClock
from store.background import Periodic
from store.bulk import executemany
from store.writer import WriteBatch

log = logging.getLogger(__name__)
SNAPSHOT_PAGES = 20  # snapshot pages per step: a step stays short whatever the audience
LIVE = ("scheduled", "running")
# With no campaign running and none starting within it, the runner looks ever less often, up to
# this (a launch or resume wakes it; a journey waiting on a timer steps at most this late).
IDLE_S = 10.0
# The statuses a first message's resend is decided in: delivered over RCS (unread so far: resend
# unless seen or answered), or past the point where one could help (read, gone as SMS, ended).
RESEND_DECIDES = (
    Status.RCS_DELIVERED,
    Status.RCS_READ,
    Status.FALLBACK_PENDING,
    Status.SMS_SENT,
    Status.SMS_DELIVERED,
    Status.SMS_FAILED,
    Status.REJECTED,
    Status.EXPIRED,
    Status.FAILED,
)
_R = campaign_recipients.c
_C = campaigns.c


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class CampaignRunner:
    """Runs every due campaign of the database; `run_once` is one pass (tests drive it with a
    clock of their own), `start` runs passes in the background until `stop`."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        service: Campaigns,
        sender: PageSender,
        clock: Clock | None = None,
        *,
        worker_id: str = "campaigns",
        lease_s: float = 60.0,
        tick_s: float = 1.0,
        idle_s: float = IDLE_S,
        journeys: Journeys | None = None,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        self.service, self.sender = service, sender
        self.clock = clock or SystemClock()
        self.worker_id, self.lease_s, self.tick_s = worker_id, lease_s, tick_s
        self.journeys = journeys
        self.idle_s = max(idle_s, tick_s)
        self._periodic = Periodic("campaigns", self._background_pass, tick_s, idle_s=self.idle_s)
        self._pass = asyncio.Lock()  # one pass at a time in a process
        self._busy = False  # the last pass saw a campaign running, or one starting soon

    def now_ms(self) -> int:
        return _ms(self.clock.now())

    # -- background ------------------------------------------------------------------------------
    def wake(self) -> None:
        self._periodic.wake()

    async def start(self) -> None:
        """Run passes in the background (not with `tick_s` 0: someone else steps it)."""
        if self.tick_s > 0:
            await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    # -- one pass --------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Step every live campaign this process may lease; the work done (rows and messages)."""
        async with self._pass:
            return await self._pass_once()

    async def _background_pass(self) -> bool:
        """A pass of the background runner; whether to keep the tick's pace (a campaign is
        running or starts within the idle wait, or the pass did something)."""
        done = await self.run_once()
        return bool(done) or self._busy

    async def _pass_once(self) -> int:
        now_ms = self.now_ms()
        query = select(campaigns).where(_C.status.in_(LIVE)).order_by(_C.id)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        soon_ms = now_ms + int(self.idle_s * 1000)
        self._busy = any(r.status == "running" or (r.start_ms or 0) <= soon_ms for r in rows)
        done = 0
        for row in rows:
            if row.status == "scheduled" and (row.start_ms or 0) > now_ms:
                continue
            if not await self._lease(row.id, now_ms):
                continue
            try:
                done += await self._step(row.id)
            except Problem as exc:
                # The tenant's side stops it (credit spent, a template withdrawn, a volume
                # limit): paused with the reason, to resume once put right.
                why = "; ".join([exc.detail, *(f"{e.path}: {e.message}" for e in exc.errors[:3])])
                await self._set(row.id, status="paused", error=why[:500])
                log.warning("campaign %s paused: %s", row.id, exc.detail)
            except Exception:
                log.exception("campaign %s: a step failed (retried on the next pass)", row.id)
        if self.journeys is not None:
            done += await self.journeys.run(self.sender, self.worker_id, self.lease_s)
        return done

    async def _lease(self, campaign_id: str, now_ms: int) -> bool:
        got: list[int] = []
        stmt = (
            update(campaigns)
            .where(
                _C.id == campaign_id,
                _C.status.in_(LIVE),
                or_(_C.lease_until_ms.is_(None), _C.lease_until_ms < now_ms, _C.lease_owner == self.worker_id),
            )
            .values(lease_owner=self.worker_id, lease_until_ms=now_ms + int(self.lease_s * 1000))
        )

        def run(conn: Connection) -> None:
            got.append(conn.execute(stmt).rowcount)

        await self.writer.write(WriteBatch().run(run))
        return bool(got[0])

    async def _set(self, campaign_id: str, *, only_if: Sequence[str] = LIVE, **values: Any) -> bool:
        values["updated_ms"] = self.now_ms()
        stmt = update(campaigns).where(_C.id == campaign_id, _C.status.in_(list(only_if))).values(**values)
        got: list[int] = []

        def run(conn: Connection) -> None:
            got.append(conn.execute(stmt).rowcount)

        await self.writer.write(WriteBatch().run(run))
        return bool(got[0])

    async def _row(self, campaign_id: str):
        async with self.db.read.connect() as conn:
            return (await conn.execute(select(campaigns).where(_C.id == campaign_id))).first()

    async def _step(self, campaign_id: str) -> int:
        row = await self._row(campaign_id)
        if row is None or row.status not in LIVE:
            return 0
        if row.status == "scheduled":
            await self._set(campaign_id, only_if=("scheduled",), status="running")
        spec = Spec(row.spec)
        if row.phase == "snapshot":
            return await self._snapshot(row, spec)
        # Pages marked before a crash go first, under their own keys.
        done = await self._resume_pages(row, spec)
        now_ms = self.now_ms()
        if spec.winner is not None and row.winner is None:
            done += await self._maybe_decide(row, spec, now_ms)
            row = await self._row(campaign_id)
            if row is None or row.status != "running":
                return done
        if not self._in_window(spec, now_ms):
            return done
        budget = self._budget(row, spec, now_ms)
        sent = 0
        if budget >= 1:
            sent += await self._send_pending(row, spec, budget)
            if spec.resend is not None and sent < budget:
                resent, decided = await self._send_resends(row, spec, budget - sent, now_ms)
                sent += resent
                done += decided
            if sent:
                paced = max(row.paced_ms or now_ms - 1000, now_ms - 1000) + sent * 1000 // spec.throttle
                await self._set(campaign_id, paced_ms=paced)
        await self._maybe_finish(row, spec)
        return done + sent

    # -- snapshot --------------------------------------------------------------------------------
    async def _snapshot(self, row, spec: Spec) -> int:
        """The audience as it is now: up to SNAPSHOT_PAGES keyset pages of the segment's members,
        each contact's variant drawn, inserted with the cursor moved on in one transaction."""
        if self.service.ensure_keys is not None:
            await self.service.ensure_keys(row.tenant_id)
        hasher = attribute_hasher(self.keyring, row.tenant_id)
        after, total, done = row.snapshot_after, row.audience, 0
        for _ in range(SNAPSHOT_PAGES):
            query = members_query(row.tenant_id, row.filter, self.now_ms(), hasher, after=after, limit=MAX_PAGE)
            async with self.db.read.connect() as conn:
                ids = list((await conn.execute(query.with_only_columns(contacts.c.id))).scalars())
            rows = []
            for cid in ids:
                variant = variant_of(spec, draw(row.id, cid))
                state = "held_out" if variant == HOLDOUT else "pending"
                rows.append(
                    {
                        "campaign_id": row.id,
                        "contact_id": cid,
                        "tenant_id": row.tenant_id,
                        "variant": variant,
                        "state": state,
                    }
                )
            last = ids[-1] if ids else after
            finished = len(ids) < MAX_PAGE
            total += len(ids)
            values: dict[str, Any] = {"snapshot_after": last, "audience": total, "updated_ms": self.now_ms()}
            if finished:
                values["phase"] = "sending"
            stmt = (
                update(campaigns)
                .where(_C.id == row.id, _C.snapshot_after.is_(None) if after is None else _C.snapshot_after == after)
                .values(**values)
            )

            def run(conn: Connection, rows=rows, stmt=stmt) -> None:
                # Moved on only from where this page began: a page never counts twice.
                if conn.execute(stmt).rowcount and rows:
                    executemany(conn, campaign_recipients, rows)

            await self.writer.write(WriteBatch().run(run))
            done += len(ids)
            after = last
            if finished:
                break
        return done or 1

    # -- sending ---------------------------------------------------------------------------------
    @staticmethod
    def _in_window(spec: Spec, now_ms: int) -> bool:
        window = spec.window
        if window is None:
            return True
        at = datetime.fromtimestamp(now_ms / 1000, UTC)
        return next_allowed(window, (spec.time_zone,), at) <= at

    @staticmethod
    def _budget(row, spec: Spec, now_ms: int) -> int:
        """Messages the throttle allows now: a second's worth at most (no burst after a pause)."""
        paced = max(row.paced_ms if row.paced_ms is not None else now_ms - 1000, now_ms - 1000)
        return min(spec.throttle, (now_ms - paced) * spec.throttle // 1000)

    async def _content(self, row, spec: Spec, template: dict, *, channel: str = "rcs") -> Content:
        raw = spec.raw
        names = await self.service.variables_of(row.tenant_id, template)
        return Content(
            template=template,
            traffic_type=raw["traffic_type"],
            ttl_s=raw["ttl"],
            fallback=raw["fallback"],
            channel=channel,
            variable_names=names,
            mapping=raw.get("variables", {}),
            defaults=raw.get("defaults", {}),
        )

    def _sendable(self, row, spec: Spec) -> list[tuple[str, dict]]:
        """(variant, template) of what may go now: the variants; the rest once a winner is known."""
        out = [(v.name, v.template) for v in spec.variants]
        if spec.winner is not None and row.winner is not None:
            out.append((REST, spec.template_of(row.winner)))
        return out

    async def _send_pending(self, row, spec: Spec, budget: int) -> int:
        sent = 0
        for variant, template in self._sendable(row, spec):
            while sent < budget:
                n = min(MAX_PAGE, budget - sent)
                query = (
                    select(_R.contact_id)
                    .where(_R.campaign_id == row.id, _R.state == "pending", _R.variant == variant)
                    .order_by(_R.contact_id)
                    .limit(n)
                )
                async with self.db.read.connect() as conn:
                    ids = list((await conn.execute(query)).scalars())
                if not ids:
                    break
                page = await self._mark(row.id, ids, "state", "page")
                await self._send_page(row, page, ids, await self._content(row, spec, template), variant, "first")
                sent += len(ids)
        return sent

    async def _mark(self, campaign_id: str, ids: list[str], state_col: str, page_col: str, **also: Any) -> int:
        """Take the next page number and mark the page's rows with it (and `also`), in one
        transaction."""
        page: list[int] = []

        def run(conn: Connection) -> None:
            n = conn.execute(select(_C.next_page).where(_C.id == campaign_id)).scalar_one()
            conn.execute(update(campaigns).where(_C.id == campaign_id).values(next_page=n + 1))
            stmt = (
                update(campaign_recipients)
                .where(_R.campaign_id == campaign_id, _R.contact_id.in_(ids))
                .values({state_col: "paged", page_col: n, **also})
            )
            conn.execute(stmt)
            page.append(n)

        await self.writer.write(WriteBatch().run(run))
        return page[0]

    async def _send_page(self, row, page: int, ids: list[str], content: Content, variant: str, kind: str) -> None:
        key = f"campaign/{row.id}/page/{page}"
        result = await self.sender.send(row.tenant_id, key, ids, content)
        await self._record(row, ids, result, variant, kind)

    async def _record(self, row, ids: list[str], result: PageResult, variant: str, kind: str) -> None:
        now_ms = self.now_ms()
        resend = kind == "resend"
        state_col, message_col = ("resend", "resend_message_id") if resend else ("state", "message_id")
        sent_rows, skipped_rows = [], []
        for cid in ids:
            s = result.sent.get(cid)
            if s is None:
                skip = {"b_campaign": row.id, "b_contact": cid}
                if not resend:  # a resend's skip keeps the first send's reason
                    skip["b_reason"] = result.skipped.get(cid, "refused by the send checks")[:200]
                skipped_rows.append(skip)
            else:
                sent_rows.append({"b_campaign": row.id, "b_contact": cid, "b_message": s.message_id, "b_at": now_ms})
        where = and_(_R.campaign_id == bindparam("b_campaign"), _R.contact_id == bindparam("b_contact"))
        sent_values: dict[str, Any] = {state_col: "sent", message_col: bindparam("b_message")}
        if not resend:
            sent_values["sent_ms"] = bindparam("b_at")
        mark_sent = update(campaign_recipients).where(where).values(sent_values)
        skip_values = {state_col: "skipped"} if resend else {"state": "skipped", "reason": bindparam("b_reason")}
        mark_skipped = update(campaign_recipients).where(where).values(skip_values)

        def run(conn: Connection) -> None:
            if sent_rows:
                conn.execute(mark_sent, sent_rows)
            if skipped_rows:
                conn.execute(mark_skipped, skipped_rows)
            record_messages(
                conn, result, campaign_id=row.id, tenant_id=row.tenant_id, variant=variant, kind=kind, at_ms=now_ms
            )

        await self.writer.write(WriteBatch().run(run))

    async def _resume_pages(self, row, spec: Spec) -> int:
        """Pages marked but not recorded (a crash between): sent again under their keys."""
        done = 0
        for state_col, page_col, kind in (("state", "page", "first"), ("resend", "resend_page", "resend")):
            query = (
                select(_R.contact_id, _R.variant, getattr(_R, page_col).label("page"))
                .where(_R.campaign_id == row.id, getattr(_R, state_col) == "paged")
                .order_by(getattr(_R, page_col), _R.contact_id)
            )
            async with self.db.read.connect() as conn:
                rows = (await conn.execute(query)).all()
            pages: dict[int, list] = {}
            for r in rows:
                pages.setdefault(r.page, []).append(r)
            for page, members in pages.items():
                ids = [m.contact_id for m in members]
                variant = members[0].variant
                if kind == "first":
                    template = spec.template_of(row.winner if variant == REST and row.winner else variant)
                    content = await self._content(row, spec, template)
                else:
                    content = await self._resend_content(row, spec, variant)
                await self._send_page(row, page, ids, content, variant, kind)
                done += len(ids)
        return done

    # -- the winner ------------------------------------------------------------------------------
    async def _maybe_decide(self, row, spec: Spec, now_ms: int) -> int:
        """Once every test variant was sent and `after_hours` passed, the best variant on the
        metric wins; the rest of the audience gets its template."""
        assert spec.winner is not None
        tests = [v.name for v in spec.variants]
        if row.tested_ms is None:
            query = select(func.count()).where(
                _R.campaign_id == row.id, _R.variant.in_(tests), _R.state.in_(("pending", "paged"))
            )
            async with self.db.read.connect() as conn:
                left = (await conn.execute(query)).scalar_one()
            if left:
                return 0
            await self._set(row.id, tested_ms=now_ms, phase="testing")
            return 1
        if now_ms < row.tested_ms + int(float(spec.winner["after_hours"]) * 3_600_000):
            return 0
        metric = spec.winner["metric"]
        cm = campaign_messages.c
        first = select(cm.message_id).where(cm.campaign_id == row.id, cm.kind == "first", cm.variant.in_(tests))
        key = select(cm.variant).where(cm.message_id == messages.c.id).scalar_subquery()
        funnels = {
            f["group"]: f
            for f in await self.service.analytics.funnel(row.tenant_id, FunnelScope(message_ids=first), key=key)
        }
        arms = [(v, int(funnels.get(v, {}).get(metric, 0)), int(funnels.get(v, {}).get("accepted", 0))) for v in tests]
        test = compare(arms)
        detail = {"metric": metric, "decided_at_ms": now_ms, **test}
        await self._set(row.id, winner=test["best"], winner_detail=detail, phase="sending")
        log.info("campaign %s: variant %s won on %s", row.id, test["best"], metric)
        return 1

    # -- the smart resend ------------------------------------------------------------------------
    async def _resend_content(self, row, spec: Spec, variant: str) -> Content:
        resend = spec.resend or {}
        if resend.get("template"):
            return await self._content(row, spec, resend["template"])
        first = spec.template_of(row.winner if variant == REST and row.winner else variant)
        return await self._content(row, spec, first, channel="sms")

    def _engaged(self, unless: str):
        """The recipient read or clicked the first message (per `unless`), or answered it."""
        m = messages.c
        read = exists().where(message_events.c.message_id == m.id, message_events.c.type == "rcs_read")
        clicked = exists().where(
            link_clicks.c.message_id == m.id,
            link_clicks.c.bot == false(),
            link_clicks.c.preview == false(),
            link_clicks.c.head == false(),
        )
        replied = exists().where(
            message_interactions.c.message_id == m.id, message_interactions.c.kind.in_(REPLY_KINDS)
        )
        seen = {"read": read, "clicked": clicked, "read_or_clicked": or_(read, clicked)}[unless]
        return or_(seen, replied)

    async def _send_resends(self, row, spec: Spec, budget: int, now_ms: int) -> tuple[int, int]:
        """Recipients whose first message was delivered over RCS and `after_hours` later is
        still unread (unclicked) and unanswered get the SMS form, or the second card — never
        one on the opt-out list (whatever the traffic type); the ledger applies the frequency
        caps and the consent policy as to any send. A first message still on its way (RCS sent,
        a revoke asked) is decided once it settles; one that was read, went as SMS or ended
        needs none. Returns (messages sent, recipients decided without a send)."""
        resend = spec.resend
        assert resend is not None
        decided_ms = self.now_ms()
        due = now_ms - int(float(resend["after_hours"]) * 3_600_000)
        m = messages.c
        candidates = (
            select(_R.contact_id, _R.variant, m.to_bidx, m.status, self._engaged(resend["unless"]).label("engaged"))
            .select_from(campaign_recipients.join(messages, m.id == _R.message_id))
            .where(
                _R.campaign_id == row.id,
                _R.state == "sent",
                _R.resend.is_(None),
                _R.sent_ms <= due,
                m.status.in_(RESEND_DECIDES),
            )
            .order_by(_R.contact_id)
            .limit(MAX_PAGE)
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(candidates)).all()
            if not rows:
                return 0, 0
            opted = await conn.run_sync(lambda c: opted_out_in(c, row.tenant_id, [r.to_bidx for r in rows]))
        not_needed, skipped, wanted = [], [], []
        for r in rows:
            if r.status != Status.RCS_DELIVERED or r.engaged:
                not_needed.append(r.contact_id)
            elif r.to_bidx in opted:
                skipped.append(r.contact_id)
            else:
                wanted.append(r)
        wanted = wanted[:budget]
        await self._decide_resend(row.id, not_needed, "not_needed")
        await self._decide_resend(row.id, skipped, "skipped")
        sent = 0
        by_variant: dict[str, list[str]] = {}
        for r in wanted:
            by_variant.setdefault(r.variant, []).append(r.contact_id)
        for variant, ids in by_variant.items():
            page = await self._mark(row.id, ids, "resend", "resend_page", resend_ms=decided_ms)
            await self._send_page(row, page, ids, await self._resend_content(row, spec, variant), variant, "resend")
            sent += len(ids)
        return sent, len(not_needed) + len(skipped)

    async def _decide_resend(self, campaign_id: str, ids: list[str], outcome: str) -> None:
        if not ids:
            return
        stmt = (
            update(campaign_recipients)
            .where(_R.campaign_id == campaign_id, _R.contact_id.in_(ids))
            .values(resend=outcome)
        )
        await self.writer.write(WriteBatch().run(lambda conn: conn.execute(stmt)))

    # -- the end ---------------------------------------------------------------------------------
    async def _maybe_finish(self, row, spec: Spec) -> None:
        """Finished once nothing is pending or in a page, the winner (if any) was sent, and every
        sent recipient's resend (if any) was decided."""
        open_states = or_(_R.state.in_(("pending", "paged")), _R.resend == "paged")
        if spec.resend is not None:
            open_states = or_(open_states, and_(_R.state == "sent", _R.resend.is_(None)))
        query = select(func.count()).where(_R.campaign_id == row.id, open_states)
        async with self.db.read.connect() as conn:
            left = (await conn.execute(query)).scalar_one()
        if left:
            return
        now_ms = self.now_ms()
        await self._set(row.id, only_if=("running",), status="finished", phase="done", finished_ms=now_ms)
        log.info("campaign %s finished", row.id)
