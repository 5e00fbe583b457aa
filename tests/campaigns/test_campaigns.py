"""Campaigns through HTTP in the sandbox: contacts and a segment, an A/B campaign stepped by
the test's clock, messages that really travel to every kind of sandbox number, the smart
resend, pause and resume, and every figure of the results checked against a recount of the
messages table."""

from __future__ import annotations

import pytest

from tests.campaigns.helpers import (
    ENDINGS,
    OPTED_OUT,
    create_contacts,
    create_segment,
    number,
    sent_ids,
    settle,
)
from tests.conftest import problem


async def _launched(api, **fields) -> str:
    """Contacts, a segment and a launched campaign of the offer (with `fields`); its id."""
    await create_contacts(api)
    body = {
        "name": "x",
        "template": "offer",
        "segment_id": await create_segment(api),
        "variables": {"campaign": "code"},
    }
    resp = await api.post("/v1/campaigns", {**body, **fields})
    assert resp.status == 201, await resp.text()
    cid = (await resp.json())["id"]
    assert (await api.post(f"/v1/campaigns/{cid}/launch")).status == 200
    return cid


def _types(view: dict) -> set[str]:
    return {e["type"] for e in view["events"]}


async def test_an_ab_campaign_with_smart_resend_matches_a_recount(campaign_env):
    api, app = campaign_env.api, campaign_env.app
    await create_contacts(api)
    segment = await create_segment(api)
    body = {
        "name": "5G 升级 Q4",
        "template": "offer",
        "segment_id": segment,
        "traffic_type": "marketing",
        "throttle": 100,
        "variables": {"campaign": "code"},
        "ab": {
            "variants": [
                {"name": "A", "share": 0.5},
                {"name": "B", "share": 0.5, "template": {"name": "coupon"}},
            ]
        },
        "resend": {"after_hours": 2},
    }
    resp = await api.post("/v1/campaigns", body)
    assert resp.status == 201, await resp.text()
    campaign = await resp.json()
    cid = campaign["id"]
    assert campaign["status"] == "draft" and resp.headers["Location"] == f"/v1/campaigns/{cid}"

    launched = await api.post(f"/v1/campaigns/{cid}/launch")
    assert launched.status == 200, await launched.text()
    assert (await launched.json())["status"] == "running"
    await campaign_env.step()  # the snapshot
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["audience"] == len(ENDINGS) + 2 and view["phase"] == "sending"
    await campaign_env.step()  # one page per variant
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["progress"] == {"pending": 0, "sent": len(ENDINGS) + 1, "skipped": 1, "held_out": 0, "resent": 0}

    first = await sent_ids(app, cid, "first")
    views = await settle(api, first)
    by_number = {v["to"]: v for v in views.values()}
    assert set(by_number) == {number(e) for e in ENDINGS} | {OPTED_OUT}
    assert by_number[OPTED_OUT]["status"] == "rejected"
    assert {first[v["id"]] for v in views.values()} <= {"A", "B"}

    # Not yet: the resend waits two hours after each first send.
    await campaign_env.step(seconds=3600)
    assert await sent_ids(app, cid, "resend") == {}
    await campaign_env.step(seconds=3600)
    resent = await sent_ids(app, cid, "resend")
    # Recount: delivered over RCS and still unread, unanswered.
    expected = {v["to"] for v in views.values() if v["status"] == "rcs_delivered"}
    assert number("55") in expected and number("01") not in expected and number("10") not in expected
    resent_views = await settle(api, resent)
    assert {v["to"] for v in resent_views.values()} == expected
    for v in resent_views.values():  # the SMS form: straight to SMS
        assert "rcs_sent" not in _types(v) and "sms_sent" in _types(v)
        assert next(e for e in v["events"] if e["type"] == "fallback_pending")["detail"]["reason"] == "sms_requested"
    assert resent_views and all(v["status"] == "sms_delivered" for v in resent_views.values())

    await campaign_env.step()
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["status"] == "finished" and view["progress"]["resent"] == len(expected)

    # The results and funnels against a recount of the messages.
    results = await (await api.get(f"/v1/campaigns/{cid}/results")).json()
    for arm in results["variants"]:
        mine = [v for v in views.values() if first[v["id"]] == arm["variant"]]
        f = arm["funnel"] or {"accepted": 0, "read": 0, "delivered": 0, "rejected": 0}
        assert f["accepted"] == len(mine)
        assert f["read"] == sum("rcs_read" in _types(v) for v in mine)
        assert f["delivered"] == sum(bool(_types(v) & {"rcs_delivered", "sms_delivered"}) for v in mine)
        assert f["rejected"] == sum(v["status"] == "rejected" for v in mine)
    assert sum(a["contacts"] for a in results["variants"]) == len(ENDINGS) + 2
    assert sum(a["skipped"] for a in results["variants"]) == 1
    assert results["resend"]["accepted"] == len(expected)
    assert results["resend"]["delivered"] == len(expected)
    if results["test"] is not None:
        assert {a["variant"] for a in results["test"]["arms"]} <= {"A", "B"}

    carriers = await (await api.get(f"/v1/campaigns/{cid}/funnel?group_by=carrier")).json()
    assert {r["group"] for r in carriers["data"]} == {"cmcc"}  # 138… is China Mobile
    assert sum(r["accepted"] for r in carriers["data"]) == len(first) + len(resent)
    kinds = await (await api.get(f"/v1/campaigns/{cid}/funnel?group_by=kind")).json()
    assert {r["group"]: r["accepted"] for r in kinds["data"]} == {"first": len(first), "resend": len(resent)}
    csv_resp = await api.get(f"/v1/campaigns/{cid}/funnel?group_by=variant&format=csv")
    assert csv_resp.status == 200 and csv_resp.content_type == "text/csv"
    assert (await csv_resp.text()).splitlines()[0].startswith("group,accepted,delivered")


async def test_throttle_pause_resume_and_restart_safety(campaign_env):
    api, app = campaign_env.api, campaign_env.app
    cid = await _launched(api, throttle=3)
    await campaign_env.step()  # snapshot
    await campaign_env.step()  # 3 a second
    assert len(await sent_ids(app, cid, "first")) == 3
    await campaign_env.step(seconds=0.4)  # 1.2 messages' worth: one
    assert len(await sent_ids(app, cid, "first")) == 4

    paused = await api.post(f"/v1/campaigns/{cid}/pause")
    assert (await paused.json())["status"] == "paused"
    await campaign_env.step(seconds=60)
    assert len(await sent_ids(app, cid, "first")) == 4  # nothing while paused
    again = await api.post(f"/v1/campaigns/{cid}/pause")
    assert (await problem(again, 409))["errors"][0]["path"] == "/status"

    # A page marked but never recorded (the process died between): sent again under its key,
    # answered from the first accept — no second message.
    from sqlalchemy import select, update

    from campaigns.tables import campaign_recipients as cr
    from server import DATABASE

    db = app[DATABASE]
    async with db.write.begin() as conn:
        one = (
            await conn.execute(select(cr.c.contact_id, cr.c.page).where(cr.c.campaign_id == cid, cr.c.state == "sent"))
        ).first()
        await conn.execute(
            update(cr).where(cr.c.campaign_id == cid, cr.c.page == one.page).values(state="paged", message_id=None)
        )
    before = await sent_ids(app, cid, "first")
    assert (await (await api.post(f"/v1/campaigns/{cid}/resume")).json())["status"] == "running"
    await campaign_env.step(seconds=0)
    after = await sent_ids(app, cid, "first")
    assert set(before) <= set(after) and len(after) == len(before) + 3  # a second's worth more
    async with db.read.connect() as conn:
        rows = (await conn.execute(select(cr.c.contact_id, cr.c.message_id).where(cr.c.campaign_id == cid))).all()
    restored = {r.contact_id: r.message_id for r in rows}[one.contact_id]
    assert restored in before  # the replayed page: answered with its first messages
    sent = [r.message_id for r in rows if r.message_id]
    assert len(sent) == len(set(sent)) == len(after)  # one message per contact, none twice

    for _ in range(5):
        await campaign_env.step()
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["status"] == "finished" and view["progress"]["sent"] == len(ENDINGS) + 1
    assert len(await sent_ids(app, cid, "first")) == len(ENDINGS) + 1
    cancel = await api.post(f"/v1/campaigns/{cid}/cancel")
    assert cancel.status == 409


async def test_a_winner_goes_to_the_rest(campaign_env):
    api, app = campaign_env.api, campaign_env.app
    await create_contacts(api)
    segment = await create_segment(api)
    body = {
        "name": "winner",
        "template": "offer",
        "segment_id": segment,
        "variables": {"campaign": "code"},
        "ab": {
            "variants": [{"name": "A", "share": 0.3}, {"name": "B", "share": 0.3, "template": "coupon"}],
            "winner": {"after_hours": 1, "metric": "read"},
        },
    }
    cid = (await (await api.post("/v1/campaigns", body)).json())["id"]
    assert (await api.post(f"/v1/campaigns/{cid}/launch")).status == 200
    await campaign_env.step()
    await campaign_env.step()
    tested = await sent_ids(app, cid, "first")
    assert set(tested.values()) <= {"A", "B"}
    await settle(api, tested)
    await campaign_env.step()  # every test variant sent: the wait begins
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["phase"] == "testing" and view["winner"] is None
    await campaign_env.step(seconds=3600)  # decided, then the rest go
    await campaign_env.step()
    view = await (await api.get(f"/v1/campaigns/{cid}")).json()
    assert view["winner"] in ("A", "B") and view["winner_detail"]["metric"] == "read"
    everything = await sent_ids(app, cid, "first")
    rest = {m for m, v in everything.items() if v == "rest"}
    results = await (await api.get(f"/v1/campaigns/{cid}/results")).json()
    arms = {a["variant"]: a for a in results["variants"]}
    assert arms["rest"]["contacts"] == len(rest) + arms["rest"]["skipped"]
    # The rest got the winner's template.
    winner_template = "coupon" if view["winner"] == "B" else "offer"
    import orjson
    from sqlalchemy import select

    from messages.tables import batches, messages
    from server import DATABASE

    query = select(batches.c.template_ref).join(messages, messages.c.batch_id == batches.c.id)
    async with app[DATABASE].read.connect() as conn:
        refs = (await conn.execute(query.where(messages.c.id.in_(list(rest))))).scalars().all()
    assert rest and {orjson.loads(r)["name"] for r in refs} == {winner_template}


@pytest.mark.parametrize(
    "change, path",
    [
        ({"name": ""}, "/name"),
        ({"segment_id": "nope"}, "/segment_id"),
        ({"throttle": 0}, "/throttle"),
        ({"window": {"start": "25:00", "end": "21:00"}}, "/window/start"),
        ({"time_zone": "Mars/Olympus"}, "/time_zone"),
        ({"traffic_type": "spam"}, "/traffic_type"),
        ({"ab": {"variants": [{"name": "A", "share": 0.5}]}}, "/ab/variants"),
        ({"ab": {"variants": [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.4}]}}, "/ab/variants"),
        ({"ab": {"variants": [{"name": "A", "share": 0.5}, {"name": "rest", "share": 0.5}]}}, "/ab/variants/1/name"),
        (
            {
                "ab": {
                    "variants": [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}],
                    "winner": {"after_hours": 1},
                }
            },
            "/ab/winner",
        ),
        ({"resend": {"after_hours": 0}}, "/resend/after_hours"),
        ({"resend": {"after_hours": 1, "channel": "rcs"}}, "/resend/channel"),
        ({"resend": {"after_hours": 1, "unless": "never"}}, "/resend/unless"),
        ({"variables": {"1x": "name"}}, "/variables/1x"),
        ({"surprise": 1}, "/surprise"),
    ],
)
async def test_a_bad_definition_names_the_field(campaign_env, change, path):
    api = campaign_env.api
    segment = await create_segment(api)
    body = {"name": "x", "template": "offer", "segment_id": segment, **change}
    resp = await api.post("/v1/campaigns", body)
    assert path in [e["path"] for e in (await problem(resp, 422))["errors"]]


async def test_states_and_a_template_that_cannot_go(campaign_env):
    api = campaign_env.api
    segment = await create_segment(api)
    body = {"name": "x", "template": "no_such_template", "segment_id": segment}
    cid = (await (await api.post("/v1/campaigns", body)).json())["id"]
    launch = await api.post(f"/v1/campaigns/{cid}/launch")
    assert (await problem(launch, 422))["errors"][0]["path"] == "/template"
    assert (await api.put(f"/v1/campaigns/{cid}", {**body, "template": "offer"})).status == 200
    assert (await api.post(f"/v1/campaigns/{cid}/resume")).status == 409
    future = {**body, "template": "offer", "start_at": "2027-01-01T09:00:00+08:00"}
    assert (await api.put(f"/v1/campaigns/{cid}", future)).status == 200
    scheduled = await (await api.post(f"/v1/campaigns/{cid}/launch")).json()
    assert scheduled["status"] == "scheduled" and scheduled["template"] == {"name": "offer", "version": 1}
    assert (await api.put(f"/v1/campaigns/{cid}", body)).status == 409
    assert (await api.delete(f"/v1/campaigns/{cid}")).status == 409
    assert (await (await api.post(f"/v1/campaigns/{cid}/cancel")).json())["status"] == "cancelled"
    listed = await (await api.get("/v1/campaigns?status=cancelled")).json()
    assert [c["id"] for c in listed["data"]] == [cid]
    draft = (await (await api.post("/v1/campaigns", body)).json())["id"]
    assert (await api.delete(f"/v1/campaigns/{draft}")).status == 204
    assert (await api.get(f"/v1/campaigns/{draft}")).status == 404


async def test_one_process_at_a_time_runs_a_campaign(campaign_env):
    """Two runners on one database (two processes): the one holding a campaign's lease steps
    it; the other leaves it alone until the lease runs out."""
    from campaigns.runner import CampaignRunner
    from server import CAMPAIGN_RUNNER

    api, app = campaign_env.api, campaign_env.app
    await _launched(api, throttle=2)
    mine = app[CAMPAIGN_RUNNER]
    other = CampaignRunner(
        mine.db, mine.writer, mine.keyring, mine.service, mine.sender, campaign_env.clock, worker_id="other", lease_s=60
    )
    assert await campaign_env.step() > 0  # the app's runner takes the lease: the snapshot
    campaign_env.clock.advance(seconds=1)
    assert await other.run_once() == 0  # leased by the app's runner
    assert await campaign_env.step(seconds=0) > 0
    campaign_env.clock.advance(seconds=61)  # the app's runner stopped: its lease runs out
    assert await other.run_once() > 0
    assert await campaign_env.step() == 0  # now the other holds it
