"""Conversions and funnels through HTTP, with messages that really went through the sandbox
(RCS read, SMS delivered, SMS undelivered, a page click, a reply); every figure checked against
a recount of what happened."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from fallback.shortlinks import SHORTLINKS
from server import SANDBOX
from tests.conftest import card, problem
from tests.dispatch.conftest import wait_for

READ, SMS, UNDELIVERED = "+8613800002101", "+8613800002110", "+8613800002119"
FINAL = {"rcs_read", "sms_delivered", "sms_failed"}
PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/108.0 Mobile Safari/537.36"}


async def _batch(api, numbers: list[str]) -> tuple[str, dict[str, str]]:
    resp = await api.post("/v1/messages", json={"recipients": [{"to": n} for n in numbers], "card": card()})
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    return body["batch_id"], {m["to"]: m["id"] for m in body["messages"]}


async def _funnel(api, query: str) -> dict:
    resp = await api.get(f"/v1/analytics/funnel?{query}")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_funnel_counts_what_happened_per_channel_and_conversion(sandbox_api):
    api, app = sandbox_api, sandbox_api.client.app
    batch, ids = await _batch(api, [READ, SMS, UNDELIVERED])
    for mid in ids.values():
        await wait_for(api, mid, lambda v: v["status"] in FINAL)
    # The SMS recipient opens the page and taps the card's suggestion; the RCS one taps it too.
    view = await wait_for(api, ids[SMS], lambda v: "short_link" in v)
    token = view["short_link"].rsplit("/s/", 1)[1]
    assert (await api.client.get(f"/s/{token}", headers=PHONE)).status == 200
    assert (await api.client.post(f"/s/{token}/r/0", headers=PHONE)).status == 200
    assert await app[SANDBOX].maap.tap(ids[READ], 0)
    await app[SHORTLINKS].flush()  # page hits are buffered for a moment

    bought = {"message_id": ids[READ], "name": "purchase", "value": "199.90", "id": "order-1"}
    first = await api.post("/v1/conversions", json=bought)
    assert first.status == 201, await first.text()
    again = await api.post("/v1/conversions", json=bought)
    assert again.status == 200 and (await again.json())["id"] == (await first.json())["id"]
    by_link = await api.post("/v1/conversions", json={"short_link": view["short_link"], "value": 10})
    assert by_link.status == 201 and (await by_link.json())["source"] == "link"
    assert (await by_link.json())["message_id"] == ids[SMS]

    async def replied() -> bool:
        got = await _funnel(api, f"batch_id={batch}")
        return got["data"][0]["replied"] == 2

    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not await replied():
        assert datetime.now(UTC) < deadline, "the taps were not recorded"

    [row] = (await _funnel(api, f"batch_id={batch}"))["data"]
    assert row["group"] == "all"
    expected = {"accepted": 3, "delivered": 2, "read": 1, "clicked": 1, "replied": 2, "converted": 2, "failed": 1}
    assert {k: row[k] for k in expected} == expected
    assert row["rates"]["delivered_of_accepted"] == round(2 / 3, 4) and row["rates"]["read_of_delivered"] == 0.5
    assert row["conversion_value"] == {"CNY": "209.9000"}
    assert row["opted_out"] == 0 and row["complaint_rate"] == 0 and not row["complaint_rate_over_limit"]

    # The SMS recipient unsubscribes on the page: a complaint, over the 0.5 % line at this size.
    assert (await api.client.post(f"/s/{token}/opt-out", headers=PHONE)).status == 200
    await app[SHORTLINKS].flush()
    [row] = (await _funnel(api, f"batch_id={batch}"))["data"]
    assert row["opted_out"] == 1 and row["complaint_rate"] == 0.5 and row["complaint_rate_over_limit"]

    channels = {r["group"]: r for r in (await _funnel(api, f"batch_id={batch}&group_by=channel"))["data"]}
    assert {g: (r["accepted"], r["delivered"], r["converted"]) for g, r in channels.items()} == {
        "rcs": (1, 1, 1),
        "sms": (2, 1, 1),
    }
    hours = (await _funnel(api, f"batch_id={batch}&group_by=hour"))["data"]
    assert sum(r["accepted"] for r in hours) == 3 and all(0 <= r["group"] <= 23 for r in hours)

    [today] = (await _funnel(api, f"batch_id={batch}&group_by=day"))["data"]
    china = datetime.now(UTC) + timedelta(hours=8)
    assert today["group"] in {china.date().isoformat(), (china - timedelta(minutes=1)).date().isoformat()}
    assert today["accepted"] == 3

    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    by_time = (await _funnel(api, f"since={quote(since)}&group_by=batch"))["data"]
    assert [(r["group"], r["accepted"]) for r in by_time] == [(batch, 3)]

    exported = await api.get(f"/v1/analytics/funnel?batch_id={batch}&group_by=channel&format=csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(await exported.text())))
    assert lines[0][:8] == ["group", "accepted", "delivered", "read", "clicked", "replied", "converted", "opted_out"]
    assert sorted(line[0] for line in lines[1:]) == ["rcs", "sms"]

    listed = await (await api.get(f"/v1/messages/{ids[READ]}/conversions")).json()
    assert [(c["name"], c["value"], c["currency"]) for c in listed["data"]] == [("purchase", "199.9000", "CNY")]
    # Another tenant sees none of it.
    other = await api.new_tenant()
    assert (await _funnel(other, f"batch_id={batch}"))["data"] == []
    await problem(await other.post("/v1/conversions", json={"message_id": ids[READ]}), 422)


BAD_CONVERSIONS = [
    ({}, "/message_id"),
    ({"message_id": "m1", "short_link": "abcdefgh"}, "/message_id"),
    ({"short_link": "https://x.example/nothing here"}, "/short_link"),
    ({"message_id": "nosuchmessage"}, "/message_id"),
    ({"message_id": "m1", "value": "-1"}, "/value"),
    ({"message_id": "m1", "value": "1.00001"}, "/value"),
    ({"message_id": "m1", "value": 1.5}, "/value"),
    ({"message_id": "m1", "currency": "CNY"}, "/currency"),
    ({"message_id": "m1", "value": "1", "currency": "yuan"}, "/currency"),
    ({"message_id": "m1", "name": "a b"}, "/name"),
    ({"message_id": "m1", "occurred_at": "2999-01-01T00:00:00Z"}, "/occurred_at"),
    ({"message_id": "m1", "occurred_at": "yesterday"}, "/occurred_at"),
    ({"message_id": "m1", "colour": "red"}, "/colour"),
]


@pytest.mark.parametrize(("body", "path"), BAD_CONVERSIONS)
async def test_a_bad_conversion_names_its_field(api, body, path):
    got = await problem(await api.post("/v1/conversions", json=body), 422)
    assert path in [e["path"] for e in got["errors"]]


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("", "/since"),
        ("group_by=carrier&batch_id=b1", "/group_by"),
        ("format=xml&batch_id=b1", "/format"),
        ("since=2026-01-01T00:00:00Z&until=2026-12-01T00:00:00Z", "/until"),
        ("since=yesterday", "/since"),
        ("batch_id=" + "x" * 40, "/batch_id"),
    ],
)
async def test_a_bad_funnel_query_names_its_parameter(api, query, path):
    got = await problem(await api.get(f"/v1/analytics/funnel?{query}"), 422)
    assert path in [e["path"] for e in got["errors"]]
