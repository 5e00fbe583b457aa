"""Segments: table-driven filters (filter → members) over attributes, tags and behaviour from
the messages tables, on SQLite and PostgreSQL; saved segments, live counts, member pages; bad
filters as problem+json naming the field; members for a later campaign (iter_segment_members)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert

from audiences.segments import iter_segment_members
from fallback.shortlinks.tables import link_clicks, short_links
from messages.http import LEDGER
from messages.tables import batches, message_events, messages
from server import DATABASE, KEYRING
from store.ids import new_id
from store.writer import WriteBatch
from tests.conftest import problem

DAY = 86_400_000
PEOPLE = {
    "p1": {
        "phone": "+8613800138001",
        "attributes": {"city": "杭州", "level": 3, "renewal": "2027-01-31"},
        "tags": ["vip", "new"],
    },
    "p2": {"phone": "+8613800138002", "attributes": {"city": "上海", "level": 5, "score": 2.5}, "tags": ["vip"]},
    "p3": {
        "phone": "+8613800138003",
        "attributes": {"city": "杭州", "level": 1, "renewal": "2026-06-30"},
        "tags": ["old"],
    },
    "p4": {"phone": "+8613800138004"},
    "p5": {"phone": "+14155550100", "attributes": {"city": "3"}, "tags": ["new"]},
}
ALL = set(PEOPLE)

# filter → the people it holds (the messages of setup_behaviour: b1 went to p1, p2, p3; p1
# delivered and read a day ago; p2 delivered by SMS 10 days ago and clicked 2 days ago; p3 got
# nothing back but a bot's visit and replied 3 days ago; b2 went to p4, read 40 days ago; another
# tenant's read to p5).
CASES = [
    ({"all": []}, ALL),
    ({"any": []}, set()),
    ({"attribute": "city", "op": "eq", "value": "杭州"}, {"p1", "p3"}),
    ({"attribute": "city", "op": "ne", "value": "杭州"}, {"p2", "p4", "p5"}),
    ({"attribute": "city", "op": "in", "value": ["杭州", "上海"]}, {"p1", "p2", "p3"}),
    ({"attribute": "city", "op": "eq", "value": 3}, set()),  # a number never equals text
    ({"attribute": "city", "op": "eq", "value": "3"}, {"p5"}),
    ({"attribute": "level", "op": "eq", "value": 3}, {"p1"}),
    ({"attribute": "level", "op": "in", "value": [1, 5, "3"]}, {"p2", "p3"}),
    ({"attribute": "level", "op": "gt", "value": 2}, {"p1", "p2"}),
    ({"attribute": "level", "op": "gte", "value": 3}, {"p1", "p2"}),
    ({"attribute": "level", "op": "lt", "value": 3}, {"p3"}),
    ({"attribute": "level", "op": "lte", "value": 1.0}, {"p3"}),
    ({"attribute": "score", "op": "gt", "value": 2.4}, {"p2"}),
    ({"attribute": "renewal", "op": "lt", "value": "2027-01-01"}, {"p3"}),
    ({"attribute": "renewal", "op": "gte", "value": "2027-01-31"}, {"p1"}),
    ({"attribute": "renewal", "op": "eq", "value": "2027-01-31"}, {"p1"}),
    ({"attribute": "score", "op": "exists"}, {"p2"}),
    ({"attribute": "score", "op": "exists", "value": False}, ALL - {"p2"}),
    ({"tags": "any", "values": ["vip", "old"]}, {"p1", "p2", "p3"}),
    ({"tags": "all", "values": ["vip", "new"]}, {"p1"}),
    ({"tags": "none", "values": ["vip"]}, {"p3", "p4", "p5"}),
    ({"behaviour": "sent", "batch_id": "b1"}, {"p1", "p2", "p3"}),
    ({"behaviour": "sent", "within_days": 30}, {"p1", "p2", "p3", "p4"}),
    ({"behaviour": "delivered", "within_days": 7}, {"p1"}),
    ({"behaviour": "delivered", "within_days": 30}, {"p1", "p2"}),
    ({"behaviour": "read", "within_days": 60}, {"p1", "p4"}),
    ({"behaviour": "read", "batch_id": "b1"}, {"p1"}),
    ({"behaviour": "read", "batch_id": "b2", "within_days": 30}, set()),
    ({"behaviour": "clicked", "within_days": 7}, {"p2"}),
    ({"behaviour": "clicked", "within_days": 1}, set()),
    ({"behaviour": "clicked", "batch_id": "b1"}, {"p2"}),
    ({"behaviour": "not_read", "batch_id": "b1"}, {"p2", "p3"}),
    ({"behaviour": "replied", "within_days": 7}, {"p3"}),
    ({"behaviour": "replied", "within_days": 1}, set()),
    ({"behaviour": "replied", "batch_id": "b1"}, {"p3"}),
    ({"behaviour": "replied", "batch_id": "b2"}, set()),
    ({"not": {"behaviour": "read", "batch_id": "b1"}}, ALL - {"p1"}),
    (
        {"all": [{"tags": "any", "values": ["vip"]}, {"not": {"behaviour": "read", "within_days": 30}}]},
        {"p2"},
    ),
    (
        {"any": [{"attribute": "level", "op": "gt", "value": 4}, {"tags": "all", "values": ["new"]}]},
        {"p1", "p2", "p5"},
    ),
    (
        {
            "all": [
                {"attribute": "city", "op": "eq", "value": "杭州"},
                {"any": [{"behaviour": "not_read", "batch_id": "b1"}, {"attribute": "level", "op": "gt", "value": 2}]},
            ]
        },
        {"p1", "p3"},
    ),
]


async def _people(api) -> dict[str, str]:
    ids = {}
    for name, body in PEOPLE.items():
        resp = await api.post("/v1/contacts", body)
        assert resp.status == 201, await resp.text()
        ids[name] = (await resp.json())["id"]
    return ids


async def _behaviour(api) -> None:
    """Messages, events and link visits as the platform records them."""
    app, now = api.client.app, int(time.time() * 1000)
    keyring, db = app[KEYRING], app[DATABASE]
    other = await api.new_tenant()

    def batch(batch_id: str, tenant_id: str) -> dict:
        return {
            "id": batch_id,
            "tenant_id": tenant_id,
            "created_ms": now - 50 * DAY,
            "traffic_type": "marketing",
            "ttl_s": 3600,
            "recipient_count": 1,
            "fallback": "sms",
        }

    rows_b, rows_m, rows_e, rows_l, rows_c = (
        [batch("b1", api.tenant_id), batch("b2", api.tenant_id), batch("bx", other.tenant_id)],
        [],
        [],
        [],
        [],
    )

    def message(batch_id: str, who: str, tenant_id: str, days_ago: int) -> str:
        mid = new_id()
        rows_m.append(
            {
                "id": mid,
                "tenant_id": tenant_id,
                "batch_id": batch_id,
                "seq": len(rows_m),
                "to_enc": keyring.seal(tenant_id, "messages", "to", mid, PEOPLE[who]["phone"].encode()),
                "to_bidx": keyring.blind_index(tenant_id, PEOPLE[who]["phone"]),
                "status": "rcs_sent",
                "created_ms": now - days_ago * DAY,
                "updated_ms": now,
                "expires_ms": now + DAY,
                "attempts": 1,
            }
        )
        return mid

    def event(mid: str, tenant_id: str, kind: str, days_ago: int) -> None:
        rows_e.append(
            {
                "id": new_id(),
                "message_id": mid,
                "tenant_id": tenant_id,
                "type": kind,
                "at_ms": now - days_ago * DAY,
                "source": "test",
                "chained": True,
            }
        )

    def click(mid: str, batch_id: str, days_ago: int, *, bot: bool = False) -> None:
        token = new_id()
        rows_l.append(
            {
                "token": token,
                "tenant_id": api.tenant_id,
                "message_id": mid,
                "batch_id": batch_id,
                "created_ms": now - 20 * DAY,
                "expires_ms": now + DAY,
            }
        )
        rows_c.append(
            {
                "id": new_id(),
                "token": token,
                "tenant_id": api.tenant_id,
                "message_id": mid,
                "batch_id": batch_id,
                "at_ms": now - days_ago * DAY,
                "kind": "page",
                "head": False,
                "bot": bot,
                "preview": False,
                "agent": "bot" if bot else "mobile",
                "fingerprint": b"f",
            }
        )

    t = api.tenant_id
    m1, m2, m3 = (message("b1", who, t, 20) for who in ("p1", "p2", "p3"))
    event(m1, t, "rcs_delivered", 1)
    event(m1, t, "rcs_read", 1)
    event(m2, t, "sms_delivered", 10)
    click(m2, "b1", 2)
    click(m3, "b1", 2, bot=True)
    m4 = message("b2", "p4", t, 25)
    event(m4, t, "rcs_read", 40)
    mx = message("bx", "p5", other.tenant_id, 1)
    event(mx, other.tenant_id, "rcs_read", 1)
    async with db.write.begin() as conn:
        await conn.execute(insert(batches), rows_b)
        await conn.execute(insert(messages), rows_m)
        await conn.execute(insert(message_events), rows_e)
        await conn.execute(insert(short_links), rows_l)
        await conn.execute(insert(link_clicks), rows_c)
    # Replies are recorded by the lifecycle as the inbound paths do (a spam report is no reply).
    ledger = app[LEDGER]
    for mid, kind, days_ago in ((m3, "text", 3), (m2, "spam_report", 3)):
        event = {"kind": kind, "at": "", "source": "sms", "text": "好的", "postback": None, "display_text": None}
        statement = ledger.lifecycle.user_event(mid, event, now - days_ago * DAY, t)
        await ledger.writer.write(WriteBatch().run(statement))


async def _members(api, segment_id: str, limit: int = 2) -> list[str]:
    found, cursor = [], None
    while True:
        resp = await api.get(
            f"/v1/segments/{segment_id}/contacts?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        )
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        found += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_filters_hold_the_expected_members(api):
    ids = await _people(api)
    await _behaviour(api)
    names = {cid: name for name, cid in ids.items()}
    wrong = {}
    for i, (segment_filter, expected) in enumerate(CASES):
        resp = await api.post("/v1/segments", {"name": f"case {i}", "filter": segment_filter})
        assert resp.status == 201, (segment_filter, await resp.text())
        segment = await resp.json()
        assert segment["filter"] == segment_filter
        members = await _members(api, segment["id"])
        assert members == sorted(members)  # id order, no repeats across pages
        count = (await (await api.get(f"/v1/segments/{segment['id']}/count")).json())["count"]
        preview = (await (await api.post("/v1/segments/preview", {"filter": segment_filter})).json())["count"]
        got = {names[m] for m in members}
        if got != expected or count != len(expected) or preview != len(expected):
            wrong[i] = {"filter": segment_filter, "got": sorted(got), "count": count, "preview": preview}
    assert wrong == {}


async def test_members_for_a_campaign_come_in_keyset_pages(api):
    ids = await _people(api)
    db, keyring = api.client.app[DATABASE], api.client.app[KEYRING]
    segment_filter = {"attribute": "city", "op": "exists"}
    opened = [
        m
        async for m in iter_segment_members(
            db, api.tenant_id, segment_filter, limit=2, keyring=keyring, open_numbers=True
        )
    ]
    assert [m[0] for m in opened] == sorted(ids[n] for n in ("p1", "p2", "p3", "p5"))
    assert {m[2] for m in opened} == {PEOPLE[n]["phone"] for n in ("p1", "p2", "p3", "p5")}
    assert opened[0][1] == keyring.blind_index(api.tenant_id, opened[0][2])
    assert opened[0][3] == PEOPLE[min(("p1", "p2", "p3", "p5"), key=lambda n: ids[n])]["attributes"]
    sealed = [
        m async for m in iter_segment_members(db, api.tenant_id, segment_filter, after=opened[1][0], keyring=keyring)
    ]
    assert [m[0] for m in sealed] == [m[0] for m in opened[2:]]
    assert all(isinstance(m[2], bytes) and m[2] != m[0].encode() for m in sealed)


async def test_saved_segments_change_and_go(api):
    await _people(api)
    made = await api.post("/v1/segments", {"name": " VIPs ", "filter": {"tags": "any", "values": ["vip"]}})
    assert made.status == 201
    segment = await made.json()
    assert segment["name"] == "VIPs"
    listed = await (await api.get("/v1/segments")).json()
    assert [s["id"] for s in listed["data"]] == [segment["id"]] and listed["next_cursor"] is None
    resp = await api.put(f"/v1/segments/{segment['id']}", {"name": "old", "filter": {"tags": "any", "values": ["old"]}})
    assert resp.status == 200 and (await resp.json())["name"] == "old"
    assert (await (await api.get(f"/v1/segments/{segment['id']}/count")).json()) == {"id": segment["id"], "count": 1}
    # The count is live: a new contact with the tag is counted at once.
    await api.post("/v1/contacts", {"phone": "+8613900139000", "tags": ["old"]})
    assert (await (await api.get(f"/v1/segments/{segment['id']}/count")).json())["count"] == 2
    assert (await api.client.delete(f"/v1/segments/{segment['id']}", headers=api.auth)).status == 204
    await problem(await api.get(f"/v1/segments/{segment['id']}"), 404)
    await problem(await api.put(f"/v1/segments/{segment['id']}", {"name": "x", "filter": {"all": []}}), 404)


def _deep(levels: int) -> dict:
    node: dict = {"all": []}
    for _ in range(levels):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    ("segment_filter", "path"),
    [
        ({"attribute": "level", "op": "gt", "value": "abc"}, "/filter/value"),
        ({"attribute": "level", "op": "between", "value": 1}, "/filter/op"),
        ({"attribute": "level", "op": "in", "value": []}, "/filter/value"),
        ({"attribute": "phone", "op": "eq", "value": "x"}, "/filter/attribute"),
        ({"attribute": "level", "op": "exists", "value": "yes"}, "/filter/value"),
        ({"attribute": "level", "op": "eq", "value": 1, "extra": 1}, "/filter/extra"),
        ({"tags": "some", "values": ["a"]}, "/filter/tags"),
        ({"tags": "any", "values": []}, "/filter/values"),
        ({"tags": "any", "values": ["ok", ""]}, "/filter/values/1"),
        ({"behaviour": "read"}, "/filter"),
        ({"behaviour": "read", "within_days": 0}, "/filter/within_days"),
        ({"behaviour": "read", "within_days": True}, "/filter/within_days"),
        ({"behaviour": "not_read", "within_days": 3}, "/filter/batch_id"),
        ({"behaviour": "bought", "within_days": 7}, "/filter/behaviour"),
        ({"all": [{"attribute": "x", "op": "eq", "value": True}]}, "/filter/all/0/value"),
        ({"any": [{"tags": "all", "values": ["a"]}, {"bogus": 1}]}, "/filter/any/1"),
        ({"all": {}}, "/filter/all"),
        ({"all": [], "any": []}, "/filter"),
        ({"not": {"all": []}, "x": 1}, "/filter"),
        ([], "/filter"),
        (_deep(9), "/filter" + "/not" * 7),
    ],
)
async def test_bad_filters_are_problems_naming_the_field(api, segment_filter, path):
    for url, body in (
        ("/v1/segments", {"name": "bad", "filter": segment_filter}),
        ("/v1/segments/preview", {"filter": segment_filter}),
    ):
        found = await problem(await api.post(url, body), 422)
        assert path in [e["path"] for e in found["errors"]], found
    assert (await (await api.get("/v1/segments")).json())["data"] == []


async def test_a_segment_body_needs_a_name_and_a_filter(api):
    found = await problem(await api.post("/v1/segments", {"filter": {"all": []}, "colour": 1}), 422)
    assert {e["path"] for e in found["errors"]} == {"/name", "/colour"}
    found = await problem(await api.post("/v1/segments", {"name": "x"}), 422)
    assert [e["path"] for e in found["errors"]] == ["/filter"]
    found = await problem(await api.post("/v1/segments/preview", {}), 422)
    assert [e["path"] for e in found["errors"]] == ["/filter"]
