"""The recipient's pages and the click report over HTTP (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import icalendar
import orjson
import pytest
from linkkit import CALENDAR, CAROUSEL, DIAL, FULL_CARD, MAP, MOBILE_UA, OPEN, REPLY, SCRIPT, TARGET

UA = {"User-Agent": MOBILE_UA}


class Links(HTMLParser):
    """Collects hrefs, form actions and whether any <script> element exists."""

    def __init__(self, html: str):
        super().__init__()
        self.hrefs: dict[str, str] = {}
        self.forms: list[tuple[str, dict]] = []
        self.scripts = 0
        self.text: list[str] = []
        self._a: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self._a = a.get("href")
        elif tag == "form":
            self.forms.append((a["action"], {}))
        elif tag == "input" and self.forms:
            self.forms[-1][1][a["name"]] = a["value"]
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)
        if self._a is not None and data.strip():
            self.hrefs[data.strip()] = self._a
            self._a = None


async def get(env, path, **kw):
    return await env.client.get(path, headers={**UA, **kw.pop("headers", {})}, allow_redirects=False, **kw)


async def test_add_link_url_shape(env):
    token = await env.link()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", token)
    from sqlalchemy import select

    from fallback.shortlinks.service import DEFAULT_TTL_S
    from fallback.shortlinks.tables import short_links

    async with env.links.db.read.connect() as conn:
        row = (await conn.execute(select(short_links).where(short_links.c.token == token))).one()
    assert row.expires_ms - row.created_ms == DEFAULT_TTL_S * 1000
    # Sealed: nothing of the card's personal text is readable in the stored row.
    assert "张三您好".encode() not in row.card_enc and b"generalPurposeCard" not in row.card_enc
    opened = env.links.keyring.open(env.tenant_id, "short_links", "card", token, row.card_enc)
    assert orjson.loads(opened) == FULL_CARD


async def test_landing_page_renders_card_with_strict_headers(env):
    token = await env.link()
    resp = await get(env, f"/s/{token}")
    assert resp.status == 200
    html = await resp.text()
    h = resp.headers
    assert h["X-Robots-Tag"].startswith("noindex")
    assert '<meta name="robots" content="noindex' in html
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "'unsafe-inline'" not in csp
    assert h["Cache-Control"] == "private, no-store" and h["Referrer-Policy"] == "no-referrer"
    page = Links(html)
    assert page.scripts == 0
    text = "".join(page.text)
    assert SCRIPT in text and "张三您好" in text and "【鸿雁银行】" in text  # escaped, shown as text
    assert "&lt;script&gt;" in html
    assert page.hrefs["查看订单"] == f"/s/{token}/a/{OPEN}"
    assert page.hrefs["联系客服"] == "tel:+861095588"
    assert page.hrefs["门店位置"] == f"/s/{token}/map/{MAP}"
    assert page.hrefs["加入日历"] == f"/s/{token}/ics/{CALENDAR}"
    assert page.hrefs["退订"] == f"/s/{token}/opt-out" and page.hrefs["隐私政策"] == f"/s/{token}/privacy"
    assert page.forms == [(f"/s/{token}/r", {"suggestion": str(REPLY)})]
    assert '<img src="https://cdn.example.com/bill.png"' in html


@pytest.mark.parametrize("ua", ["WhatsApp/2.23.20.0 A", "TelegramBot (like TwitterBot)", "curl/8.5.0", ""])
async def test_previews_and_bots_never_see_the_personal_card(env, ua):
    token = await env.link()
    resp = await env.client.get(f"/s/{token}", headers={"User-Agent": ua})
    html = await resp.text()
    assert resp.status == 200 and "【鸿雁银行】" in html
    assert "张三" not in html and "订单" not in html and "noindex" in resp.headers["X-Robots-Tag"]


async def test_carousel_is_a_horizontal_list(env):
    token = await env.link(CAROUSEL)
    html = await (await get(env, f"/s/{token}")).text()
    assert 'class="carousel' in html and html.count('<article class="card carousel') == 3


async def test_open_url_redirects_only_to_the_card_url(env):
    token = await env.link()
    resp = await get(env, f"/s/{token}/a/{OPEN}", params={"url": "https://evil.example"})
    assert resp.status == 302 and resp.headers["Location"] == TARGET
    for n in (DIAL, REPLY, 99, "x", "-1", "²", "٠"):  # ² and ٠ pass str.isdigit (int("²") fails)
        assert (await get(env, f"/s/{token}/a/{n}")).status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/s/AAAAAAAAAAAAAAAA",
        "/s/short",
        "/s/AAAAAAAAAAAAAAAA/a/0",
        "/s/AAAAAAAAAAAAAAAA/ics/4",
        "/s/AAAAAAAAAAAAAAAA/privacy",
    ],
)
async def test_unknown_token_is_a_404_page(env, path):
    resp = await get(env, path)
    assert resp.status == 404 and resp.content_type == "text/html"
    assert "Location" not in resp.headers and "noindex" in resp.headers["X-Robots-Tag"]


async def test_expired_link_is_a_410_page_and_the_hit_is_kept(env):
    now_ms = int(env.clock.now().timestamp() * 1000)
    token = await env.link(expires_ms=now_ms + 1000)
    assert (await get(env, f"/s/{token}")).status == 200
    env.clock.at += timedelta(seconds=2)
    for path in (f"/s/{token}", f"/s/{token}/a/{OPEN}"):
        resp = await get(env, path)
        assert resp.status == 410 and "Location" not in resp.headers
    sent_id = (await env.links.lookup(token)).message_id
    summary = await env.links.clicks_summary(env.tenant_id, message_id=sent_id)
    assert summary["by_kind"]["expired"]["hits"] == 2 and summary["by_kind"]["page"]["hits"] == 1


async def test_ics_download(env):
    token = await env.link()
    resp = await get(env, f"/s/{token}/ics/{CALENDAR}")
    assert resp.status == 200 and resp.content_type == "text/calendar"
    assert "attachment" in resp.headers["Content-Disposition"]
    cal = icalendar.Calendar.from_ical(await resp.read())
    [event] = cal.walk("VEVENT")
    assert str(event["summary"]) == "取件" and event["dtstart"].dt.hour == 1  # 09:00+08:00 in UTC
    assert (await get(env, f"/s/{token}/ics/{OPEN}")).status == 404


async def test_map_page_offers_geo_and_amap_in_gcj02(env):
    token = await env.link()
    resp = await get(env, f"/s/{token}/map/{MAP}")
    assert resp.status == 200
    page = Links(await resp.text())
    geo = next(h for h in page.hrefs.values() if h.startswith("geo:"))
    assert geo.startswith("geo:39.908722,116.397499")
    amap = next(h for h in page.hrefs.values() if h.startswith("https://uri.amap.com/"))
    q = parse_qs(urlsplit(amap).query)
    lng, lat = map(float, q["position"][0].split(","))
    assert q["coordinate"] == ["gaode"]
    # GCJ-02 is offset from WGS-84 by a few hundred metres around Beijing.
    assert 0.0005 < abs(lat - 39.908722) < 0.01 and 0.0005 < abs(lng - 116.397499) < 0.01


async def test_map_outside_china_uses_wgs84_openstreetmap(env):
    from cards.view import SuggestionView
    from fallback.shortlinks.http import map_links

    links = map_links(
        SuggestionView(
            index=0, display_text="x", kind="show_location", latitude=48.8584, longitude=2.2945, label="Tour Eiffel"
        )
    )
    assert links[0].href.startswith("geo:48.858400,2.294500") and "openstreetmap.org" in links[1].href


async def test_postback_form_calls_back_with_the_cards_data(env):
    sent = await env.send()
    token = await env.link(message=sent)
    resp = await env.client.post(f"/s/{token}/r", data={"suggestion": str(REPLY), "postback": "forged"}, headers=UA)
    assert resp.status == 200 and "确认收货" in await resp.text()
    resp = await env.client.post(f"/s/{token}/r/{REPLY}", headers=UA)
    assert resp.status == 200
    mid = sent["messages"][0]["id"]
    assert env.postbacks == [(env.tenant_id, mid, "确认收货", "confirm-42")] * 2
    # Only reply-like suggestions are posted; an openUrl index is not a postback.
    assert (await env.client.post(f"/s/{token}/r", data={"suggestion": str(OPEN)})).status == 404
    assert len(env.postbacks) == 2


async def test_head_has_no_side_effects_but_is_recorded(env):
    sent = await env.send()
    token = await env.link(message=sent)
    resp = await env.client.head(f"/s/{token}/a/{OPEN}", headers=UA, allow_redirects=False)
    assert resp.status == 302
    resp = await env.client.head(f"/s/{token}", headers=UA)
    assert resp.status == 200
    summary = await env.links.clicks_summary(env.tenant_id, message_id=sent["messages"][0]["id"])
    assert summary["head"] == 2 and summary["human_hits"] == 0 and summary["unique_humans"] == 0


async def test_opt_out_needs_a_post(env):
    sent = await env.send()
    token = await env.link(message=sent)
    page = Links(await (await get(env, f"/s/{token}/opt-out")).text())
    assert env.opt_outs == [] and page.forms == [(f"/s/{token}/opt-out", {})]
    resp = await env.client.post(f"/s/{token}/opt-out", headers=UA)
    assert resp.status == 200
    assert env.opt_outs == [(env.tenant_id, sent["messages"][0]["id"])]


PREVIEWERS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
]
BOTS = ["curl/8.5.0", "Wget/1.21.4", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""]


async def test_clicks_report_separates_people_bots_and_previews(env):
    sent = await env.send()
    mid, bid = sent["messages"][0]["id"], sent["batch_id"]
    token = await env.link(message=sent)
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.47"
    for ua in [MOBILE_UA, MOBILE_UA, iphone]:
        await env.client.get(f"/s/{token}", headers={"User-Agent": ua})
    await get(env, f"/s/{token}/a/{OPEN}")
    for ua in PREVIEWERS + BOTS:
        await env.client.get(f"/s/{token}", headers={"User-Agent": ua, **({} if ua else {"User-Agent": ""})})
    resp = await env.client.get("/v1/clicks", params={"message_id": mid}, headers=env.auth)
    assert resp.status == 200, await resp.text()
    got = await resp.json()
    assert got["message_id"] == mid and got["links"] == 1 and got["recipients_clicked"] == 1
    assert got["total_hits"] == 4 + len(PREVIEWERS) + len(BOTS)
    assert got["human_hits"] == 4 and got["unique_humans"] == 2
    assert got["previews"] == len(PREVIEWERS) and got["bots"] == len(BOTS) and got["head"] == 0
    assert got["by_kind"]["page"]["human_hits"] == 3 and got["by_kind"]["page"]["unique_humans"] == 2
    assert got["actions"] == [
        {
            "index": OPEN,
            "kind": "action",
            "hits": 1,
            "human_hits": 1,
            "unique_humans": 1,
            "bots": 0,
            "previews": 0,
            "head": 0,
        }
    ]
    by_batch = await (await env.client.get("/v1/clicks", params={"batch_id": bid}, headers=env.auth)).json()
    assert {k: v for k, v in by_batch.items() if k != "batch_id"} == {k: v for k, v in got.items() if k != "message_id"}


@pytest.mark.parametrize("proxied", [True, False])
async def test_unique_clicks_behind_a_trusted_proxy_count_browsers_not_the_proxy(env, proxied_env, proxied):
    """Every click reaches the app from the proxy's address; with the proxy trusted, the
    X-Forwarded-For client tells people apart (without, a client cannot choose who it is)."""
    links = proxied_env if proxied else env
    sent = await links.send()
    token = await links.link(message=sent)
    for client in ("203.0.113.5", "203.0.113.6", "203.0.113.6"):
        await links.client.get(f"/s/{token}", headers={"User-Agent": MOBILE_UA, "X-Forwarded-For": client})
    got = await (
        await links.client.get("/v1/clicks", params={"message_id": sent["messages"][0]["id"]}, headers=links.auth)
    ).json()
    assert (got["human_hits"], got["unique_humans"]) == (3, 2 if proxied else 1)


async def test_clicks_are_tenant_isolated(env):
    from server import ACCOUNTS

    sent = await env.send()
    token = await env.link(message=sent)
    await get(env, f"/s/{token}")
    _, other_key = await env.client.app[ACCOUNTS].create_tenant("Other brand")
    other = {"Authorization": f"Bearer {other_key}"}
    for params in ({"message_id": sent["messages"][0]["id"]}, {"batch_id": sent["batch_id"]}):
        resp = await env.client.get("/v1/clicks", params=params, headers=other)
        assert resp.status == 404 and resp.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "params,status",
    [
        ({}, 422),
        ({"message_id": "a", "batch_id": "b"}, 422),
        ({"message_id": "x" * 65}, 422),
        ({"message_id": "nope"}, 404),
    ],
)
async def test_clicks_query_errors(env, params, status):
    resp = await env.client.get("/v1/clicks", params=params, headers=env.auth)
    assert resp.status == status and resp.content_type == "application/problem+json"


async def test_clicks_need_an_api_key(env):
    assert (await env.client.get("/v1/clicks", params={"message_id": "x"})).status == 401


async def test_hits_are_written_on_stop(env):
    sent = await env.send()
    token = await env.link(message=sent)
    for _ in range(5):
        await get(env, f"/s/{token}")
    links = env.links
    await links.stop()  # what the cleanup context does on shutdown
    assert links.pending == 0
    from sqlalchemy import func, select

    from fallback.shortlinks.tables import link_clicks

    async with links.db.read.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(link_clicks))).scalar_one()
    assert n == 5
    await links.start()  # the fixture's cleanup stops it again


async def test_stored_click_has_no_ip_or_user_agent(env):
    sent = await env.send()
    token = await env.link(message=sent)
    await get(env, f"/s/{token}")
    await env.links.flush()
    from sqlalchemy import select

    from fallback.shortlinks.tables import link_clicks

    async with env.links.db.read.connect() as conn:
        row = (await conn.execute(select(link_clicks))).one()
    flat = repr(tuple(row)).encode()
    assert b"127.0.0.1" not in flat and b"Android" not in flat and b"Pixel" not in flat
    assert row.agent == "mobile" and len(row.fingerprint) == 16


async def test_postback_callback_failure_is_a_503_page(env):
    token = await env.link()

    async def broken(*event):
        raise RuntimeError("event bus down")

    env.links.on_postback = broken
    resp = await env.client.post(f"/s/{token}/r/{REPLY}", headers=UA)
    assert resp.status == 503 and resp.content_type == "text/html"


async def test_location_given_as_a_query(env):
    from cards.view import SuggestionView
    from fallback.shortlinks.http import map_links

    geo, amap = map_links(SuggestionView(index=0, display_text="x", kind="show_location", label="北京 南站"))
    assert geo.href == "geo:0,0?q=%E5%8C%97%E4%BA%AC%20%E5%8D%97%E7%AB%99"
    assert amap.href.startswith("https://uri.amap.com/search?")


async def test_csp_allows_exactly_the_pages_style(env):
    import base64
    import hashlib

    token = await env.link()
    for path in (f"/s/{token}", f"/s/{token}/privacy", "/s/AAAAAAAAAAAAAAAA"):
        resp = await get(env, path)
        style = re.search(r"<style>(.*?)</style>", await resp.text(), re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in resp.headers["Content-Security-Policy"]


PLACE_MESSAGE = {"message": {"location": {"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场"}}}
FILE_MESSAGE = {
    "message": {
        "file": {
            "mediaUrl": "https://cdn.example.cn/bill-2026-11.pdf",
            "mediaContentType": "application/pdf",
            "mediaFileSize": 1_300_000,
            "fileName": "11月账单.pdf",
        }
    }
}


async def test_a_location_message_page_links_its_map_in_its_own_datum(env):
    """A location message's coordinates are GCJ-02 (the interface's datum): Amap gets them as
    they are, the geo: URI (WGS-84 by RFC 5870) gets them converted."""
    token = await env.link(PLACE_MESSAGE)
    page = Links(await (await get(env, f"/s/{token}")).text())
    assert "人民广场" in "".join(page.text)
    assert page.hrefs["查看地图"] == f"/s/{token}/place"
    resp = await get(env, f"/s/{token}/place")
    assert resp.status == 200
    links = Links(await resp.text()).hrefs.values()
    amap = next(h for h in links if h.startswith("https://uri.amap.com/"))
    q = parse_qs(urlsplit(amap).query)
    assert q["position"] == ["121.473700,31.230400"] and q["coordinate"] == ["gaode"] and q["name"] == ["人民广场"]
    geo = next(h for h in links if h.startswith("geo:"))
    lat, lng = map(float, geo[4:].split("?")[0].split(","))
    assert 0.0005 < abs(lat - 31.2304) < 0.01 and 0.0005 < abs(lng - 121.4737) < 0.01
    # A card without a location has no place page.
    other = await env.link()
    assert (await get(env, f"/s/{other}/place")).status == 404


async def test_a_file_message_page_names_the_file_and_downloads_it(env):
    token = await env.link(FILE_MESSAGE)
    html = await (await get(env, f"/s/{token}")).text()
    page = Links(html)
    assert "11月账单.pdf" in "".join(page.text) and "1.2 MB" in "".join(page.text)
    assert page.hrefs["下载"] == "https://cdn.example.cn/bill-2026-11.pdf"
