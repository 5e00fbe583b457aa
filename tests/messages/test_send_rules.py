"""Send windows and frequency caps: each rule, its refusal or deferral, and caps exact under
concurrency (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from messages.rules import DEFAULT_RULES, Cap, Window, next_allowed, next_allowed_ms, parse_rules, zones_of
from messages.send_rules import CapLedger, Move, cap_sends
from store import open_database
from tests.conftest import ApiClient, card

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = "+8613800138001"
US = "+12025550123"  # Washington DC: America/New_York


@dataclass
class MovableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def rules_api(aiohttp_client, settings):
    """A tenant on the default rules, with a clock the test sets (10:00 in Shanghai to start)."""
    from server import ACCOUNTS, Wiring, create_app

    clock = MovableClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI).astimezone(UTC))
    client = await aiohttp_client(create_app(settings, Wiring(clock=clock, webhook_options={"allow_http": True})))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Rules brand")
    api = ApiClient(client, tenant.id, key)
    api.clock = clock  # type: ignore[attr-defined]
    return api


def local(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


async def send(api, traffic_type: str, to: str = CN, **extra):
    return await api.post("/v1/messages", {"to": to, "card": card(), "traffic_type": traffic_type, **extra})


# -- send windows --------------------------------------------------------------------------------

WINDOW_CASES = [
    # (local time of the send, traffic type, expected status, expected local send time or None)
    ((10, 0), "marketing", "accepted", None),
    ((8, 0), "marketing", "accepted", None),
    ((20, 59), "marketing", "accepted", None),
    ((21, 0), "marketing", "scheduled", (8, 0, 3)),
    ((23, 30), "marketing", "scheduled", (8, 0, 3)),
    ((6, 15), "marketing", "scheduled", (8, 0, 2)),
    ((23, 30), "notification", "accepted", None),
    ((3, 0), "otp", "accepted", None),
]


@pytest.mark.parametrize("at,traffic,status,send_at", WINDOW_CASES)
async def test_marketing_outside_its_window_waits_for_the_next_opening(rules_api, at, traffic, status, send_at):
    rules_api.clock.at = local(*at)
    resp = await send(rules_api, traffic)
    assert resp.status == 202, await resp.text()
    item = (await resp.json())["messages"][0]
    assert item["status"] == status
    view = await (await rules_api.get(f"/v1/messages/{item['id']}")).json()
    if send_at is None:
        assert [e["type"] for e in view["events"]] == ["accepted"]
        return
    scheduled = view["events"][-1]
    assert scheduled["type"] == "scheduled"
    assert scheduled["detail"]["rule"] == "send_window" and scheduled["detail"]["time_zone"] == "Asia/Shanghai"
    assert scheduled["detail"]["window"] == {"start": "08:00", "end": "21:00"}
    hour, minute, day = send_at
    assert scheduled["detail"]["send_at"] == local(hour, minute, day).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # The TTL counts from the deferred send, not from the night before.
    expires = datetime.fromisoformat(view["expires_at"].replace("Z", "+00:00"))
    assert expires == local(hour, minute, day) + timedelta(days=1)


async def test_a_scheduled_send_inside_the_window_keeps_its_time_and_one_outside_moves(rules_api):
    inside = local(9, 30, 5).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside = local(22, 0, 5).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = await (await send(rules_api, "marketing", send_at=inside)).json()
    second = await (await send(rules_api, "marketing", to="+8613800138002", send_at=outside)).json()
    views = [await (await rules_api.get(f"/v1/messages/{m['messages'][0]['id']}")).json() for m in (first, second)]
    assert views[0]["events"][-1]["detail"] == {"send_at": local(9, 30, 5).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    assert views[1]["events"][-1]["detail"]["send_at"] == local(8, 0, 6).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_the_window_is_the_recipients_local_time(rules_api):
    # 10:00 on the 2nd in Shanghai is 21:00 on the 1st in Washington (EST): 08:00 there is 13:00 UTC.
    resp = await send(rules_api, "marketing", to=US)
    item = (await resp.json())["messages"][0]
    assert item["status"] == "scheduled"
    view = await (await rules_api.get(f"/v1/messages/{item['id']}")).json()
    detail = view["events"][-1]["detail"]
    assert detail["time_zone"] == "America/New_York"
    assert detail["send_at"] == "2026-12-02T13:00:00.000Z"  # 08:00 EST on the 2nd


# -- frequency caps --------------------------------------------------------------------------------


async def test_a_second_code_within_a_minute_is_a_429_naming_the_cap(rules_api):
    assert (await send(rules_api, "otp")).status == 202
    refused = await send(rules_api, "otp")
    assert refused.status == 429
    problem = await refused.json()
    assert problem["rule"] == "frequency_cap" and problem["cap"] == {"limit": 1, "period": "1m"}
    assert problem["errors"][0]["path"] == "/to"
    assert refused.headers["Retry-After"] == "60"
    # Another recipient, and another traffic type, are not affected.
    assert (await send(rules_api, "otp", to="+8613800138002")).status == 202
    assert (await send(rules_api, "notification")).status == 202
    rules_api.clock.at += timedelta(seconds=61)
    assert (await send(rules_api, "otp")).status == 202


CAP_CASES = [
    # (traffic type, sends spaced by seconds, how many go through with the defaults)
    ("otp", [0, 30, 61, 122, 183, 244, 305, 366], 5),  # 1/min lets 6 through, 5/h stops the 6th
    ("marketing", [0, 3600, 86_401], 2),  # 1/day
    ("notification", [0, 0, 0, 0], 4),  # unrestricted
]


@pytest.mark.parametrize("traffic,offsets,passing", CAP_CASES)
async def test_default_caps(rules_api, traffic, offsets, passing):
    start = rules_api.clock.at
    statuses = []
    for offset in offsets:
        rules_api.clock.at = start + timedelta(seconds=offset)
        statuses.append((await send(rules_api, traffic)).status)
    assert statuses.count(202) == passing and set(statuses) <= {202, 429}


async def test_in_a_batch_the_recipient_over_the_cap_is_rejected_and_the_rest_go(rules_api):
    body = {"recipients": [{"to": CN}, {"to": CN}, {"to": "+8613800138002"}], "card": card(), "traffic_type": "otp"}
    resp = await rules_api.post("/v1/messages", body)
    assert resp.status == 202
    items = (await resp.json())["messages"]
    assert [i["status"] for i in items] == ["accepted", "rejected", "accepted"]
    assert items[1]["reason"] == "frequency_cap"
    view = await (await rules_api.get(f"/v1/messages/{items[1]['id']}")).json()
    assert view["events"][0]["detail"]["cap"] == {"limit": 1, "period": "1m"}


@pytest.mark.parametrize("limit", [1, 5])
async def test_concurrent_sends_never_exceed_a_cap(rules_api, limit):
    put = await rules_api.put("/v1/compliance/send-rules", {"caps": {"otp": [{"limit": limit, "period": "1h"}]}})
    assert put.status == 200, await put.text()
    results = await asyncio.gather(*(send(rules_api, "otp") for _ in range(24)))
    statuses = [r.status for r in results]
    assert statuses.count(202) == limit and statuses.count(429) == 24 - limit


# -- caps again when a send moves after accept (the ledger; the dispatcher: tests/dispatch/test_caps_moved.py)

OTP = DEFAULT_RULES.caps["otp"]
MARKETING = DEFAULT_RULES.caps["marketing"]
NEW_MEMBER = DEFAULT_RULES.segment_caps["new_member"]["marketing"]
MARKETING_WINDOW = DEFAULT_RULES.windows["marketing"]
T = int(local(10, 0).timestamp() * 1000)  # 10:00 on the 2nd in Shanghai
S, H, D = 1000, 3_600_000, 86_400_000
BIDX = b"recipient-1"


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def window_opening(at_ms: int) -> int:
    return next_allowed_ms(MARKETING_WINDOW, ("Asia/Shanghai",), at_ms)


MOVE_CASES = [
    # (traffic type, its segment, the recipient's other sends, reserved at, moves to, latest,
    #  window?, where it goes (None: nowhere), the cap that deferred it)
    pytest.param(
        "otp", None, [T - 120 * S], T, T + 50 * S, T + H, False, T + 50 * S, None, id="keeps its caps: on time"
    ),
    pytest.param("otp", None, [], T, T + 10 * S, T + H, False, T + 10 * S, None, id="never counts itself"),
    pytest.param(
        "otp", None, [T + 61 * S], T, T + 50 * S, T + H, False, T + 121 * S, OTP[0], id="1/min: waits for the cap"
    ),
    pytest.param(
        "otp", None, [T + 61 * S], T, T + 50 * S, T + 100 * S, False, None, OTP[0], id="1/min past its TTL: nowhere"
    ),
    pytest.param(
        "otp",
        None,
        [T - 50 * 60 * S + i * 10 * 60 * S for i in range(5)],  # 5 in the last hour, 10 min apart
        T - 2 * H,
        T,
        T + H,
        False,
        T + 10 * 60 * S,  # once the first of them is an hour old (1/min holds: the last was 10 min ago)
        OTP[1],
        id="5/h: waits for the oldest to leave the hour",
    ),
    pytest.param(
        "marketing",
        None,
        [ms(local(20, 59, 3)) + 30 * S],  # B: accepted for 20:59:30 on the 3rd
        ms(local(20, 59, 2)),  # A: reserved 20:59 on the 2nd, cannot go before 21:00
        ms(local(21, 5, 2)),
        ms(local(21, 5, 2)) + 5 * D,
        True,
        ms(local(20, 59, 4)) + 30 * S,  # not 08:00 on the 3rd (B's day): a day after B
        MARKETING[0],
        id="window then 1/day: a day after the other",
    ),
    pytest.param(
        "marketing",
        None,
        [ms(local(21, 30, 3))],  # reserved out of hours (a rule changed since)
        ms(local(20, 59, 2)),
        ms(local(21, 5, 2)),
        ms(local(21, 5, 2)) + 5 * D,
        True,
        ms(local(8, 0, 5)),  # the cap frees at 21:30 on the 4th, the window opens at 08:00 on the 5th
        MARKETING[0],
        id="cap then window, repeated",
    ),
    pytest.param(
        "marketing",
        "new_member",
        [T - k * (D + H) for k in range(1, 5)],  # 4 in 30 days, each more than a day apart
        T - 40 * D,  # a tagged reservation, from before those four
        T,
        T + H,
        False,
        None,
        NEW_MEMBER[0],
        id="a segment's cap: its own caps again",
    ),
    pytest.param(
        "marketing",
        None,
        [T - k * (D + H) for k in range(1, 5)],
        T - 40 * D,
        T,
        T + H,
        False,
        T,
        None,
        id="untagged: its traffic type's caps only",
    ),
    pytest.param("otp", None, [], None, T, T + H, False, T, None, id="not reserved yet: reserved now"),
]


@pytest.mark.parametrize("traffic,segment,others,reserved,wish,latest,windowed,expected,cap", MOVE_CASES)
async def test_a_moved_send_is_checked_at_its_new_time(
    settings, traffic, segment, others, reserved, wish, latest, windowed, expected, cap
):
    rules = DEFAULT_RULES
    db = open_database(settings.db_url)
    try:
        earlier = [(f"other-{i}", BIDX, at, ()) for i, at in enumerate(others)]
        assert await CapLedger(db).reserve("t1", traffic, earlier, T) == {}  # no caps: always recorded
        if reserved is not None:
            mine = [("mine", BIDX, reserved, rules.caps_for(traffic, segment))]
            assert await CapLedger(db).reserve("t1", traffic, mine, reserved) == {}
        move = Move("mine", BIDX, wish, latest, window_opening if windowed else (lambda at: at))
        async with db.write.begin() as conn:
            moved = await conn.run_sync(
                lambda c: CapLedger.move_in(c, "t1", traffic, [move], partial(rules.caps_for, traffic))
            )
        assert moved["mine"].at_ms == expected
        assert (moved["mine"].refusal.cap if moved["mine"].refusal else None) == cap
        async with db.read.connect() as conn:
            rows = (await conn.execute(select(cap_sends.c.at_ms).where(cap_sends.c.message_id == "mine"))).all()
        # Its reservation went with it, or was given back.
        assert [r.at_ms for r in rows] == ([] if expected is None else [expected])
    finally:
        await db.dispose()


def most_in_any_period(times: list[int], period_ms: int) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - a < period_ms) for i, a in enumerate(times)), default=0)


@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrent_moves_and_accepts_never_exceed_a_cap(settings, limit):
    """Sends accepted long ago whose retries all go now, and new accepts for now, each in its own
    transaction at once (on PostgreSQL, as many connections): exactly `limit` go."""
    caps = (Cap(limit, 3600),)
    db = open_database(settings.db_url)
    try:
        old = [(f"old-{i}", BIDX, T - (i + 2) * 10 * H, caps) for i in range(8)]  # 10 h apart: all fit
        assert await CapLedger(db).reserve("t1", "otp", old, T) == {}

        # On PostgreSQL every transaction is open before any decides; SQLite has one writer.
        everyone = asyncio.Barrier(1 if db.sqlite else 16)

        async def move(i: int) -> bool:
            async with db.write.begin() as conn:
                await conn.execute(select(1))
                await everyone.wait()
                moved = await conn.run_sync(
                    lambda c: CapLedger.move_in(c, "t1", "otp", [Move(f"old-{i}", BIDX, T, T + H // 2)], lambda s: caps)
                )
            return moved[f"old-{i}"].at_ms == T

        async def accept(i: int) -> bool:
            async with db.write.begin() as conn:
                await conn.execute(select(1))
                await everyone.wait()
                refused = await conn.run_sync(
                    lambda c: CapLedger.reserve_in(c, "t1", "otp", [(f"new-{i}", BIDX, T, caps)], T)
                )
            return not refused

        going = await asyncio.gather(*(move(i) for i in range(8)), *(accept(i) for i in range(8)))
        assert sum(going) == limit
        async with db.read.connect() as conn:
            times = [
                r.at_ms for r in await conn.execute(select(cap_sends.c.at_ms).where(cap_sends.c.tenant_id == "t1"))
            ]
        assert most_in_any_period(times, 3600 * 1000) == limit
        assert sum(1 for t in times if t == T) == limit
    finally:
        await db.dispose()


# -- segment caps: in addition to the traffic type's --------------------------------------------

SEGMENT_CASES = [
    # (segment tag, days between marketing sends, how many of them go with the defaults)
    ("new_member", [0, 1.01, 2.02, 3.03, 4.04, 5.05], 4),  # 1/day and 4 in 30 days
    (None, [0, 1.01, 2.02, 3.03, 4.04, 5.05], 6),  # 1/day only
    ("vip", [0, 1.01, 2.02, 3.03, 4.04, 5.05], 6),  # a segment without caps of its own
    ("new_member", [0, 0.5, 1.01], 2),  # the traffic type's 1/day still holds
    ("new_member", [0, 1.01, 2.02, 3.03, 30.01, 31.02], 6),  # a month on, the first left the window
]


@pytest.mark.parametrize("segment,days,passing", SEGMENT_CASES)
async def test_segment_caps_apply_as_well_as_the_traffic_types(rules_api, segment, days, passing):
    start = rules_api.clock.at
    statuses = []
    for d in days:
        rules_api.clock.at = start + timedelta(days=d)
        statuses.append((await send(rules_api, "marketing", segment=segment)).status)
    assert statuses.count(202) == passing and set(statuses) <= {202, 429}, statuses


async def test_a_segment_cap_refusal_names_the_segment(rules_api):
    put = await rules_api.put(
        "/v1/compliance/send-rules",
        {"caps": {"marketing": []}, "segment_caps": {"new_member": {"marketing": [{"limit": 1, "period": "30d"}]}}},
    )
    assert put.status == 200, await put.text()
    assert (await send(rules_api, "marketing")).status == 202  # untagged: counted, not capped
    refused = await send(rules_api, "marketing", segment="new_member")  # 1 already this month
    assert refused.status == 429
    problem = await refused.json()
    assert problem["segment"] == "new_member" and problem["cap"] == {"limit": 1, "period": "30d"}
    assert "segment new_member" in problem["errors"][0]["message"]
    body = {
        "recipients": [{"to": CN, "segment": "new_member"}, {"to": "+8613800138002", "segment": "new_member"}],
        "card": card(),
        "traffic_type": "marketing",
    }
    items = (await (await rules_api.post("/v1/messages", body)).json())["messages"]
    assert [i["status"] for i in items] == ["rejected", "accepted"]
    view = await (await rules_api.get(f"/v1/messages/{items[0]['id']}")).json()
    assert view["events"][0]["detail"]["segment"] == "new_member"


@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrent_sends_never_exceed_a_segment_cap(rules_api, limit):
    rules = {
        "caps": {"marketing": []},
        "segment_caps": {"new_member": {"marketing": [{"limit": limit, "period": "1h"}]}},
    }
    assert (await rules_api.put("/v1/compliance/send-rules", rules)).status == 200
    results = await asyncio.gather(*(send(rules_api, "marketing", segment="new_member") for _ in range(24)))
    statuses = [r.status for r in results]
    assert statuses.count(202) == limit and statuses.count(429) == 24 - limit


@pytest.mark.parametrize(
    "body,path",
    [
        ({"to": CN, "card": card(), "segment": "New Member"}, "/segment"),
        ({"to": CN, "card": card(), "segment": 7}, "/segment"),
        ({"recipients": [{"to": CN, "segment": "-x"}], "card": card()}, "/recipients/0/segment"),
        ({"recipients": [{"to": CN}], "segment": "new_member", "card": card()}, "/segment"),
    ],
)
async def test_a_bad_segment_is_422_naming_the_field(rules_api, body, path):
    resp = await rules_api.post("/v1/messages", body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json())["errors"]]


async def test_segment_caps_read_change_and_remove(rules_api):
    got = await (await rules_api.get("/v1/compliance/send-rules")).json()
    assert got["segment_caps"] == {"new_member": {"marketing": [{"limit": 4, "period": "30d"}]}}
    put = await rules_api.put(
        "/v1/compliance/send-rules",
        {"segment_caps": {"lapsed": {"marketing": [{"limit": 2, "period": "7d"}], "otp": []}, "new_member": None}},
    )
    assert put.status == 200
    now = await (await rules_api.get("/v1/compliance/send-rules")).json()
    assert now["segment_caps"] == {"lapsed": {"marketing": [{"limit": 2, "period": "7d"}]}, "new_member": None}


# -- the daily volume --------------------------------------------------------------------------------


async def test_the_daily_volume_alerts_once_and_limits(rules_api):
    from messages.send_rules import daily_volumes
    from server import DATABASE
    from webhooks.tables import webhook_deliveries

    hook = await rules_api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["tenant.daily_volume"]})
    assert hook.status == 201, await hook.text()
    put = await rules_api.put("/v1/compliance/send-rules", {"daily_volume": {"alert_at": 3, "limit": 5}})
    assert put.status == 200
    batch = {"recipients": [{"to": f"+86138001380{i:02d}"} for i in range(2)], "card": card()}
    assert (await rules_api.post("/v1/messages", batch)).status == 202  # 2
    assert (await rules_api.post("/v1/messages", batch)).status == 202  # 4: crosses 3
    assert (await rules_api.post("/v1/messages", batch)).status == 429  # 6 > 5: refused, not counted
    refused = await rules_api.post("/v1/messages", batch)
    assert (await refused.json())["rule"] == "daily_volume" and int(refused.headers["Retry-After"]) > 0
    assert (await send(rules_api, "notification")).status == 202  # 5: still fits
    got = await (await rules_api.get("/v1/compliance/volume")).json()
    assert got == {"day": "2026-12-02", "count": 5, "alert_at": 3, "limit": 5}
    async with rules_api.client.app[DATABASE].read.connect() as conn:
        from sqlalchemy import select

        alerts = (await conn.execute(select(webhook_deliveries.c.event_type))).scalars().all()
        counted = (await conn.execute(select(daily_volumes.c.count))).scalars().all()
    assert alerts == ["tenant.daily_volume"] and counted == [5]
    # The next day in China starts again from zero.
    rules_api.clock.at = local(0, 0, 3)
    assert (await rules_api.post("/v1/messages", batch)).status == 202
    assert (await (await rules_api.get("/v1/compliance/volume")).json())["count"] == 2


async def test_concurrent_requests_at_the_daily_volume_limit_count_exactly(rules_api):
    """Requests that meet in one group commit are decided together: those past the limit are
    refused, their recipients neither counted nor holding a cap reservation, one alert."""
    from sqlalchemy import func, select

    from messages.send_rules import cap_sends, daily_volumes
    from server import DATABASE
    from webhooks.tables import webhook_deliveries

    hook = await rules_api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["tenant.daily_volume"]})
    assert hook.status == 201, await hook.text()
    put = await rules_api.put("/v1/compliance/send-rules", {"daily_volume": {"alert_at": 3, "limit": 7}})
    assert put.status == 200

    def batch(n: int) -> dict:  # new recipients each: the marketing caps refuse none of them
        recipients = [{"to": f"+8613800138{n:02d}{i}"} for i in range(2)]
        return {"recipients": recipients, "card": card(), "traffic_type": "marketing"}

    results = await asyncio.gather(*(rules_api.post("/v1/messages", batch(n)) for n in range(12)))
    statuses = sorted(r.status for r in results)
    assert statuses == [202] * 3 + [429] * 9  # 3 × 2 fit under 7; a fourth batch would make 8
    async with rules_api.client.app[DATABASE].read.connect() as conn:
        counted = (await conn.execute(select(daily_volumes.c.count))).scalars().all()
        reserved = (await conn.execute(select(func.count()).select_from(cap_sends))).scalar()
        alerts = (await conn.execute(select(webhook_deliveries.c.event_type))).scalars().all()
    assert counted == [6] and reserved == 6 and alerts == ["tenant.daily_volume"]


# -- the rules API ---------------------------------------------------------------------------------


async def test_rules_read_change_and_apply(rules_api):
    got = await (await rules_api.get("/v1/compliance/send-rules")).json()
    assert got["windows"] == {"notification": None, "marketing": {"start": "08:00", "end": "21:00"}, "otp": None}
    assert got["caps"]["otp"] == [
        {"limit": 1, "period": "1m"},
        {"limit": 5, "period": "1h"},
        {"limit": 10, "period": "1d"},
    ]
    new = {"windows": {"marketing": {"start": "09:30", "end": "20:00"}}, "caps": {"marketing": []}}
    put = await rules_api.put("/v1/compliance/send-rules", new)
    assert put.status == 200
    now = await (await rules_api.get("/v1/compliance/send-rules")).json()
    assert now["windows"]["marketing"] == {"start": "09:30", "end": "20:00"} and now["caps"]["marketing"] == []
    assert now["caps"]["otp"] == got["caps"]["otp"]  # left out: kept
    rules_api.clock.at = local(9, 0)
    item = (await (await send(rules_api, "marketing")).json())["messages"][0]
    assert item["status"] == "scheduled"
    rules_api.clock.at = local(12, 0)
    assert [(await send(rules_api, "marketing")).status for _ in range(3)] == [202, 202, 202]  # no cap now


BAD_RULES = [
    ({"windows": {"marketing": {"start": "8:00", "end": "21:00"}}}, "/windows/marketing/start"),
    ({"windows": {"marketing": {"start": "0٨:00", "end": "21:00"}}}, "/windows/marketing/start"),
    ({"caps": {"otp": [{"limit": 1, "period": "١m"}]}}, "/caps/otp/0/period"),
    ({"windows": {"marketing": {"start": "08:00", "end": "08:00"}}}, "/windows/marketing/end"),
    ({"windows": {"marketing": {"start": "08:00"}}}, "/windows/marketing"),
    ({"windows": {"spam": None}}, "/windows/spam"),
    ({"caps": {"otp": [{"limit": 0, "period": "1m"}]}}, "/caps/otp/0/limit"),
    ({"caps": {"otp": [{"limit": 1, "period": "1w"}]}}, "/caps/otp/0/period"),
    ({"caps": {"otp": [{"limit": 1, "period": "32d"}]}}, "/caps/otp/0/period"),
    ({"caps": {"otp": {"limit": 1}}}, "/caps/otp"),
    ({"quota": 3}, "/quota"),
    ({"daily_volume": {"alert_at": 0}}, "/daily_volume/alert_at"),
    ({"daily_volume": {"limit": "many"}}, "/daily_volume/limit"),
    ({"daily_volume": 5}, "/daily_volume"),
    ({"segment_caps": {"New": {"marketing": []}}}, "/segment_caps/New"),
    ({"segment_caps": {"new_member": {"spam": []}}}, "/segment_caps/new_member/spam"),
    (
        {"segment_caps": {"new_member": {"marketing": [{"limit": 0, "period": "30d"}]}}},
        "/segment_caps/new_member/marketing/0/limit",
    ),
    (
        {"segment_caps": {"new_member": {"marketing": [{"limit": 4, "period": "60d"}]}}},
        "/segment_caps/new_member/marketing/0/period",
    ),
    ({"segment_caps": []}, "/segment_caps"),
    ({"segment_caps": {"new_member": 4}}, "/segment_caps/new_member"),
]


@pytest.mark.parametrize("body,path", BAD_RULES)
async def test_bad_rules_are_422_naming_the_field(rules_api, body, path):
    resp = await rules_api.put("/v1/compliance/send-rules", body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json())["errors"]]
    # Nothing changed.
    assert (await (await rules_api.get("/v1/compliance/send-rules")).json()) == DEFAULT_RULES.to_json()


async def test_rules_need_the_compliance_scope(rules_api):

    made = await rules_api.post("/v1/api-keys", {"scopes": ["messages"]})
    assert made.status == 201, await made.text()
    narrow = ApiClient(rules_api.client, rules_api.tenant_id, (await made.json())["api_key"])
    assert (await narrow.get("/v1/compliance/send-rules")).status == 403


# -- units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window,at,expected",
    [
        (Window(time(8), time(21)), local(7, 59), local(8, 0)),
        (Window(time(8), time(21)), local(8, 0), local(8, 0)),
        (Window(time(8), time(21)), local(21, 0), local(8, 0, 3)),
        (Window(time(22), time(6)), local(23, 0), local(23, 0)),  # across midnight
        (Window(time(22), time(6)), local(5, 59), local(5, 59)),
        (Window(time(22), time(6)), local(6, 0), local(22, 0)),
        (None, local(3, 0), local(3, 0)),
    ],
)
def test_next_allowed(window, at, expected):
    assert next_allowed(window, ("Asia/Shanghai",), at) == expected


@pytest.mark.parametrize(
    "window,zones,start",
    [
        (Window(time(8), time(21)), ("Asia/Shanghai",), local(7, 58)),  # the opening
        (Window(time(8), time(21)), ("Asia/Shanghai",), local(20, 58)),  # the closing
        (Window(time(22), time(6)), ("Asia/Shanghai",), local(5, 58)),  # across midnight
        (Window(time(8), time(21)), ("Asia/Kathmandu",), datetime(2026, 12, 2, 2, 13, tzinfo=UTC)),  # +05:45
        # New York's clocks go forward at 02:00 local on 8 March 2026 (07:00 UTC)
        (Window(time(3), time(21)), ("America/New_York",), datetime(2026, 3, 8, 6, 58, tzinfo=UTC)),
        (Window(time(9), time(21)), ("America/New_York", "America/Chicago"), datetime(2026, 12, 2, 13, 58, tzinfo=UTC)),
    ],
)
def test_next_allowed_ms_agrees_with_next_allowed_at_every_instant(window, zones, start):
    """Remembered per UTC minute, the answer is still the one computed for each instant: every
    7 seconds (and the last millisecond of each minute) over four minutes around a boundary."""
    instants = [start + timedelta(seconds=s) for s in range(0, 240, 7)]
    instants += [start + timedelta(minutes=m, milliseconds=59_999) for m in range(4)]
    for at in instants:
        at_ms = int(at.timestamp() * 1000)
        expected = next_allowed(window, zones, datetime.fromtimestamp(at_ms / 1000, UTC))
        assert next_allowed_ms(window, zones, at_ms) == int(expected.timestamp() * 1000), at
        assert next_allowed_ms(window, zones, at_ms) == int(expected.timestamp() * 1000), at  # from the memory


def test_zones_of_numbers():
    assert zones_of(CN) == ("Asia/Shanghai",)
    assert zones_of(US) == ("America/New_York",)
    assert zones_of("+80012345678") == ("Asia/Shanghai",)  # non-geographic: the default


def test_rules_round_trip_through_json():
    rules, errors = parse_rules(DEFAULT_RULES.to_json())
    assert not errors and rules == DEFAULT_RULES
