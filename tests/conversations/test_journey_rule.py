"""A rule that starts a journey for the person who wrote: the contact (made when there is none)
gets the journey's date as today, the journey sends once per occurrence, and rules naming a
journey that cannot start are refused when saved."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.campaigns.conftest import campaign_env as campaign_env  # noqa: F401  (a fixture)
from tests.campaigns.conftest import dispatch_config as dispatch_config  # noqa: F401  (a fixture)
from tests.campaigns.helpers import ATTRS, create_templates, settle
from tests.conftest import problem
from tests.conversations.conftest import ConversationEnv, TableAnswerer

KNOWN, NEW = "+8613800005201", "+8613800005202"
JOURNEY = {
    "name": "5G 升级方案",
    "template": "offer",
    "date_attribute": "upgrade_asked",
    "send_time": "09:00",
    "variables": {"campaign": "code"},
    "defaults": {"name": "您好", "discount": "30", "campaign": "q4"},
}


def _rule(journey_id: str) -> dict:
    return {
        "rules": [
            {
                "id": "upgrade",
                "match": {"kind": "exact", "value": "5G"},
                "action": {"kind": "journey", "journey_id": journey_id, "text": "好的，升级方案马上发给您。"},
            }
        ]
    }


async def _journey_messages(app, journey_id: str) -> list[str]:
    from sqlalchemy import select

    from campaigns.tables import campaign_messages as cm
    from server import DATABASE

    async with app[DATABASE].read.connect() as conn:
        query = select(cm.c.message_id).where(cm.c.campaign_id == journey_id, cm.c.kind == "journey")
        return list((await conn.execute(query)).scalars())


async def _contact(api, phone: str, timeout: float = 10.0) -> dict:
    """The contact of `phone` once it carries the journey's date."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await (await api.get("/v1/contacts?limit=100")).json()
        found = [c for c in listed["data"] if c["phone"] == phone and "upgrade_asked" in c["attributes"]]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no contact of {phone[-4:]} with the journey's date"
        await asyncio.sleep(0.05)


async def test_a_reply_starts_the_journey_once_per_day_for_known_and_new_contacts(campaign_env):  # noqa: F811
    api, app = campaign_env.api, campaign_env.app
    person = ConversationEnv(api, TableAnswerer({}))
    await create_templates(api)
    assert (await api.post("/v1/contacts", {"phone": KNOWN, "attributes": ATTRS})).status == 201
    made = await api.post("/v1/journeys", {**JOURNEY})
    assert made.status == 201, await made.text()
    jid = (await made.json())["id"]
    await campaign_env.step()  # 10:00 in China: today's evaluation done, nobody due yet
    assert (await (await api.get(f"/v1/journeys/{jid}")).json())["evaluated_day"] == "2026-12-03"

    saved = await api.put("/v1/conversations/rules", _rule(jid))
    assert saved.status == 200, await saved.text()
    await person.says("sms", KNOWN, "5G")
    conv = await person.settled(KNOWN, 1)
    decided = [m for m in conv["messages"] if m["direction"] == "in"][0]["matched"]
    assert decided["outcome"] == "rule" and decided["rule_id"] == "upgrade"
    assert (await _contact(api, KNOWN))["attributes"]["upgrade_asked"] == "2026-12-03"

    await campaign_env.step()  # started today with offset 0: today is evaluated again for it
    [first] = await _journey_messages(app, jid)
    views = await settle(api, [first])
    assert views[first]["to"] == KNOWN

    await person.says("sms", KNOWN, "5G")  # again the same day: the same occurrence
    await person.settled(KNOWN, 2)
    await campaign_env.step()
    assert await _journey_messages(app, jid) == [first]

    await person.says("sms", NEW, "5G")  # nobody the brand knows: a contact is made for the journey
    await person.settled(NEW, 1)
    assert (await _contact(api, NEW))["attributes"] == {"upgrade_asked": "2026-12-03"}
    await campaign_env.step()
    ids = await _journey_messages(app, jid)
    assert len(ids) == 2
    views = await settle(api, ids)
    assert sorted(v["to"] for v in views.values()) == [KNOWN, NEW]


@pytest.mark.parametrize(
    "journey, code",
    [
        (None, "not_found"),
        ({**JOURNEY, "offset_days": -3}, "journey_before_date"),  # it sends before a date a reply sets to today
    ],
)
async def test_a_rule_naming_a_journey_that_cannot_start_is_refused(campaign_env, journey, code):  # noqa: F811
    api = campaign_env.api
    jid = "0" * 26
    if journey is not None:
        await create_templates(api)
        made = await api.post("/v1/journeys", journey)
        assert made.status == 201, await made.text()
        jid = (await made.json())["id"]
    resp = await api.put("/v1/conversations/rules", _rule(jid))
    body = await problem(resp, 422)
    assert [(e["path"], e.get("code")) for e in body["errors"]] == [("/rules/0/action/journey_id", code)]


async def test_a_test_handset_starts_no_journey(campaign_env):  # noqa: F811
    """A number the brand last wrote to with a test key answers from a simulator: the rule's
    reply goes (on the simulator), its journey, which sends as live traffic, does not start."""
    from tests.conftest import ApiClient, card

    api, app = campaign_env.api, campaign_env.app
    person = ConversationEnv(api, TableAnswerer({}))
    await create_templates(api)
    jid = (await (await api.post("/v1/journeys", {**JOURNEY})).json())["id"]
    await campaign_env.step()
    assert (await api.put("/v1/conversations/rules", _rule(jid))).status == 200
    made = await api.post("/v1/api-keys", {"scopes": ["messages"], "environment": "test"})
    test = ApiClient(api.client, api.tenant_id, (await made.json())["api_key"])
    assert (await test.post("/v1/messages", {"to": NEW, "card": card()})).status == 202

    await person.says("sms", NEW, "5G")
    conv = await person.settled(NEW, 1)
    decided = [m for m in conv["messages"] if m["direction"] == "in"][0]["matched"]
    assert decided["outcome"] == "rule" and decided["rule_id"] == "upgrade"
    answer = [m for m in conv["messages"] if m["direction"] == "out"][-1]
    assert (await (await api.get(f"/v1/messages/{answer['message_id']}")).json())["test"] is True
    await campaign_env.step()
    assert await _journey_messages(app, jid) == []
