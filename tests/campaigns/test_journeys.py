"""Triggered journeys: sent on the contact's date (moved by the offset) once the send time has
come, idempotent per contact and occurrence, through HTTP in the sandbox; the date arithmetic of
recurrences as a table."""

from __future__ import annotations

from datetime import date

import pytest

from campaigns.journeys import matching_days
from tests.campaigns.helpers import ATTRS, create_templates, settle
from tests.conftest import problem

DUE, LATER, UNDATED = "+8613800004101", "+8613800004102", "+8613800004103"


@pytest.mark.parametrize(
    "target, recurrence, values",
    [
        (date(2027, 1, 2), "once", ["2027-01-02"]),
        (date(2027, 3, 15), "yearly", ["03-15"]),
        (date(2027, 2, 28), "yearly", ["02-28", "02-29"]),  # no 29 February this year
        (date(2028, 2, 28), "yearly", ["02-28"]),  # a leap year has its own
        (date(2027, 4, 30), "monthly", ["30", "31"]),  # April has no 31st
        (date(2027, 2, 28), "monthly", ["28", "29", "30", "31"]),
        (date(2027, 5, 30), "monthly", ["30"]),
    ],
)
def test_which_dates_fall_due(target, recurrence, values):
    assert matching_days(target, recurrence) == values


async def _journey_ids(app, journey_id: str) -> list[str]:
    from sqlalchemy import select

    from campaigns.tables import campaign_messages as cm
    from server import DATABASE

    async with app[DATABASE].read.connect() as conn:
        query = select(cm.c.message_id).where(cm.c.campaign_id == journey_id, cm.c.kind == "journey")
        return list((await conn.execute(query)).scalars())


async def test_a_renewal_reminder_goes_30_days_before_once_per_contact(campaign_env):
    api, app = campaign_env.api, campaign_env.app
    await create_templates(api)
    for phone, renewal in ((DUE, "2027-01-02"), (LATER, "2027-01-03"), (UNDATED, None)):
        attrs = {**ATTRS, **({"renewal": renewal} if renewal else {})}
        assert (await api.post("/v1/contacts", {"phone": phone, "attributes": attrs})).status == 201
    body = {
        "name": "续约提醒",
        "template": "offer",
        "date_attribute": "renewal",
        "offset_days": -30,
        "send_time": "11:00",
        "variables": {"campaign": "code"},
    }
    resp = await api.post("/v1/journeys", body)
    assert resp.status == 201, await resp.text()
    journey = await resp.json()
    jid = journey["id"]
    assert journey["status"] == "active" and journey["recurrence"] == "once"

    await campaign_env.step()  # 10:00 in China: before the send time
    assert await _journey_ids(app, jid) == []
    await campaign_env.step(seconds=3600)  # 11:00: 2026-12-03 + 30 days = 2027-01-02
    [first] = await _journey_ids(app, jid)
    views = await settle(api, [first])
    assert views[first]["to"] == DUE
    await campaign_env.step()  # nothing more today; the day is done
    assert await _journey_ids(app, jid) == [first]
    view = await (await api.get(f"/v1/journeys/{jid}")).json()
    assert view["evaluated_day"] == "2026-12-03" and view["sends"]["sent"] == 1

    await campaign_env.step(seconds=86_400)  # the next day: LATER's turn, DUE not again
    ids = await _journey_ids(app, jid)
    assert len(ids) == 2
    views = await settle(api, ids)
    assert sorted(v["to"] for v in views.values()) == [DUE, LATER]

    paused = await (await api.post(f"/v1/journeys/{jid}/pause")).json()
    assert paused["status"] == "paused"
    funnel = await (await api.get(f"/v1/journeys/{jid}/funnel")).json()
    assert funnel["data"][0]["accepted"] == 2


@pytest.mark.parametrize(
    "change, path",
    [
        ({"date_attribute": ""}, "/date_attribute"),
        ({"offset_days": 400}, "/offset_days"),
        ({"recurrence": "weekly"}, "/recurrence"),
        ({"send_time": "24:00"}, "/send_time"),
        ({"template": {"name": "offer", "version": 0}}, "/template"),
        ({"segment_id": "nope"}, "/segment_id"),
    ],
)
async def test_a_bad_journey_names_the_field(campaign_env, change, path):
    body = {"name": "x", "template": "offer", "date_attribute": "birthday", **change}
    resp = await campaign_env.api.post("/v1/journeys", body)
    assert path in [e["path"] for e in (await problem(resp, 422))["errors"]]
