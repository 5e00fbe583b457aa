"""End to end in the sandbox (dispatch on, the billing job in the background): only delivered
messages are charged, at their channel's price; a failed one is refunded."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from tests.billing.conftest import billed_for
from tests.billing.test_ledger import CMCC, set_prices
from tests.conftest import card
from tests.dispatch.conftest import wait_for

FINAL = {"rcs_delivered", "rcs_read", "sms_delivered", "sms_failed", "failed", "expired"}


async def wait_cost(api, mid: str, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        cost = await (await api.get(f"/v1/billing/messages/{mid}")).json()
        if predicate(cost):
            return cost
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for the cost of {mid}: {cost}")
        await asyncio.sleep(0.05)


async def test_sandbox_charges_delivered_only(sandbox_api):
    b = await billed_for(sandbox_api)
    b.billing.settle_ms, b.billing.interval_s = 300, 0.05  # the background job, a little faster
    await set_prices(b)
    await b.admin.post("/v1/billing/credits", {"amount": "1"})
    # …01: RCS delivered; …10: no RCS, SMS delivered; …19: no RCS, the SMS UNDELIV (sms_failed)
    numbers = {"rcs": CMCC + "01", "sms": CMCC + "10", "failed": CMCC + "19"}
    body = {"recipients": [{"to": n} for n in numbers.values()], "card": card()}
    resp = await sandbox_api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    ids = dict(zip(numbers, (m["id"] for m in (await resp.json())["messages"]), strict=True))
    views = {k: await wait_for(sandbox_api, mid, lambda v: v["status"] in FINAL, 20) for k, mid in ids.items()}
    assert views["rcs"]["status"] in ("rcs_delivered", "rcs_read")
    assert views["sms"]["status"] == "sms_delivered"
    assert views["failed"]["status"] == "sms_failed"

    rcs = await wait_cost(sandbox_api, ids["rcs"], lambda c: c["charged"] is not None)
    assert (rcs["charged"], rcs["channel"], rcs["kind"]) == ("0.0500", "rcs", "card")
    sms = await wait_cost(sandbox_api, ids["sms"], lambda c: c["charged"] is not None)
    assert (sms["channel"], sms["kind"], sms["unit_price"]) == ("sms", "part", "0.0400")
    assert Decimal(sms["charged"]) == Decimal("0.04") * sms["units"]
    failed = await wait_cost(sandbox_api, ids["failed"], lambda c: c["refunded"])
    assert failed["charged"] is None

    bal = await (await sandbox_api.get("/v1/billing/balance")).json()
    expected = 10_000 - 500 - 400 * sms["units"]
    assert bal["balance"] == f"{expected // 10_000}.{expected % 10_000:04d}"
    assert bal["held"] == "0.0000"
