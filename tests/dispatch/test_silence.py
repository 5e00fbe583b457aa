"""An operator that never reports back about an RCS message: after `rcs_silence_s` the platform
re-asks with a revoke (the CN interface has no status query) instead of waiting for the TTL.
revokeOk: it was not delivered, the SMS goes; revokeFail: it was, and that is recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from messages.tables import messages
from server import DATABASE, DispatchConfig
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, wait_for

TTL = 3600  # far beyond the test: only the silence can end these


@pytest.fixture
def dispatch_config() -> DispatchConfig:
    return replace(FAST, options=replace(FAST.options, rcs_silence_s=0.3))


@pytest.mark.parametrize(
    "to, status, events, detail",
    [
        # …7: never delivered. The re-ask's revokeOk sends the SMS.
        (
            "+8613800001237",
            "sms_delivered",
            ["accepted", "queued", "rcs_sent", "revoked", "fallback_pending", "sms_sent", "sms_delivered"],
            ("fallback_pending", "reason", "no_status_revoked"),
        ),
        # …44: delivered and read, both callbacks lost. The re-ask's revokeFail says delivered.
        (
            "+8613800001244",
            "rcs_delivered",
            ["accepted", "queued", "rcs_sent", "rcs_delivered"],
            ("rcs_delivered", "maap_status", "revokeFail"),
        ),
    ],
)
async def test_silence_is_re_asked_long_before_the_ttl(sandbox_api, to, status, events, detail):
    sent = await sandbox_api.post("/v1/messages", json={"to": to, "card": card(), "ttl": TTL})
    assert sent.status == 202
    mid = (await sent.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == status)
    assert event_types(view) == events
    kind, key, value = detail
    assert next(e for e in view["events"] if e["type"] == kind)["detail"][key] == value


async def test_without_fallback_the_whole_ttl_is_kept(sandbox_api):
    """An early revoke would only end a message that has no SMS to fall back on: it is looked at
    again at its TTL, not after a silence."""
    body = {"to": "+8613800001237", "card": card(), "ttl": TTL, "fallback": "none"}
    sent = await sandbox_api.post("/v1/messages", json=body)
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_sent")
    db = sandbox_api.client.server.app[DATABASE]
    async with db.read.connect() as conn:
        row = (await conn.execute(select(messages.c.due_ms, messages.c.expires_ms).where(messages.c.id == mid))).one()
    assert row.due_ms == row.expires_ms
