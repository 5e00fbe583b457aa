"""Signature changes through the review queue: a tenant asks for a new SMS signature (【…】);
it is screened like any text (a `block` word refuses it, 422) and always waits for a reviewer;
approved, the tenant's signature changes (its registration at the carriers is apart)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select

from api.problems import FieldError, Problem
from compliance.reviews import PENDING, SIGNATURE, Decision, ReviewQueue, item_row
from compliance.screen import Screen
from compliance.tables import review_items


class SignatureReview:
    """Queues signature requests and applies approved ones through `apply(tenant_id, signature)`;
    `validate(signature)` raises ValueError for a malformed one."""

    def __init__(
        self,
        screen: Screen,
        queue: ReviewQueue,
        *,
        validate: Callable[[str], object],
        apply: Callable[[str, str], Awaitable[None]],
        current: Callable[[str], Awaitable[str]],
    ):
        self.screen = screen
        self.queue = queue
        self.validate = validate
        self.apply_signature = apply
        self.current = current
        queue.appliers[SIGNATURE] = self.apply
        queue.views[SIGNATURE] = self.view

    async def request(self, tenant_id: str, body: dict) -> dict:
        """Queue a new signature for review; 422 for a malformed or blocked one, 409 while one waits."""
        errors = [FieldError(f"/{k}", "unknown field") for k in body if k != "signature"]
        signature = body.get("signature")
        try:
            self.validate(signature if isinstance(signature, str) else "")
        except ValueError as exc:
            errors.append(FieldError("/signature", str(exc)))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        assert isinstance(signature, str)
        verdict = await self.screen.texts(tenant_id, [("/signature", signature)])
        verdict.refuse()
        async with self.queue.db.read.connect() as conn:
            waiting = (
                await conn.execute(
                    select(review_items.c.id).where(
                        review_items.c.tenant_id == tenant_id,
                        review_items.c.kind == SIGNATURE,
                        review_items.c.state == PENDING,
                    )
                )
            ).first()
        if waiting is not None:
            raise Problem(409, "a signature change is waiting for review already", extra={"review_id": waiting.id})
        row = item_row(
            self.queue.keyring,
            tenant_id=tenant_id,
            kind=SIGNATURE,
            subject=signature,
            matches=verdict.review,
            detail={"signature": signature, "previous": await self.current(tenant_id)},
            now_ms=self.queue.now_ms(),
        )
        await self.queue.add(row)
        return await self.queue.get(tenant_id, row["id"])

    async def apply(self, d: Decision) -> None:
        if d.approved:
            await self.apply_signature(d.item["tenant_id"], d.item["detail"]["signature"])
        return None

    async def view(self, item: dict) -> dict:
        detail = item["detail"] or {}
        return {"signature": detail.get("signature"), "previous": detail.get("previous")}
