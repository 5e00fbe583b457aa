"""Template versions through compliance: the consoles' template rules and `block` words refuse a
version before it is stored (422); a `review` word — or a tenant policy of reviewing every
version — puts it in review, in the review queue, until a reviewer approves or rejects it.
Only approved versions are sent (cards.store.TemplateStore.resolve)."""

from __future__ import annotations

from api.problems import Problem
from cards.store.service import APPROVED, IN_REVIEW, REJECTED, TemplateStore, TemplateVersion
from compliance.lists import WordLists
from compliance.matcher import Match
from compliance.reviews import TEMPLATE, Decision, ReviewQueue, item_row
from compliance.rules import template_errors
from compliance.screen import COMPLIANCE_PROBLEM, Screen, Verdict
from compliance.texts import variable_texts


class TemplateCompliance:
    """The TemplateStore's submit check and submit policy, and the queue's template applier."""

    def __init__(self, screen: Screen, lists: WordLists, queue: ReviewQueue):
        self.screen = screen
        self.lists = lists
        self.queue = queue
        self.templates: TemplateStore | None = None  # set by attach()

    def attach(self, templates: TemplateStore) -> None:
        """Make `templates` check and review its versions here, and decide them from the queue."""
        self.templates = templates
        templates.check = self.check
        templates.on_submit = self.on_submit
        self.queue.appliers[TEMPLATE] = self.apply
        self.queue.views[TEMPLATE] = self.view

    async def verdict(self, tenant_id: str, card: dict, sample: dict | None) -> Verdict:
        matcher = await self.screen.matcher(tenant_id)
        verdict = Verdict([Match("/card" + m.path, m.rule) for m in self.screen.own_text(matcher, card)], None)
        verdict.matches += matcher.scan(variable_texts(sample, "/sample"))
        return verdict

    async def check(self, tenant_id: str, body: dict) -> None:
        """Refuse a version that breaks a console rule or holds a `block` word (422)."""
        errors = template_errors(body["card"], body.get("sample"), body.get("traffic_type", "notification"))
        verdict = await self.verdict(tenant_id, body["card"], body.get("sample"))
        try:
            verdict.refuse()
        except Problem as blocked:
            blocked.errors = errors + blocked.errors
            raise
        if errors:
            raise Problem(422, f"{len(errors)} template rule(s) are broken", errors, type=COMPLIANCE_PROBLEM)

    async def on_submit(self, tenant_id: str, version: TemplateVersion) -> str:
        """in_review (queued) when a review word matched or the tenant reviews every version."""
        verdict = await self.verdict(tenant_id, version.card, version.sample)
        always = (await self.lists.policy(tenant_id))["template_review"] == "always"
        if not verdict.review and not always:
            return APPROVED
        row = item_row(
            self.queue.keyring,
            tenant_id=tenant_id,
            kind=TEMPLATE,
            subject=f"{version.template_id}/{version.version}",
            matches=verdict.review,
            detail={"template_id": version.template_id, "version": version.version, "name": version.name},
            now_ms=self.queue.now_ms(),
        )
        await self.queue.add(row)
        return IN_REVIEW

    async def apply(self, d: Decision) -> None:
        """Approve or reject the version in the template store (409 when it is not in review)."""
        assert self.templates is not None
        detail = d.item["detail"]
        await self.templates.review(
            d.item["tenant_id"],
            detail["template_id"],
            detail["version"],
            APPROVED if d.approved else REJECTED,
            d.reason,
        )
        return None

    async def view(self, item: dict) -> dict:
        assert self.templates is not None
        detail = item["detail"]
        return (await self.templates.version(item["tenant_id"], detail["template_id"], detail["version"])).as_dict()
