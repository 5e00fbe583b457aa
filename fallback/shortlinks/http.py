"""The recipient's pages behind a short link (public, no API key) and the click reports.

`/s/<token>` shows the card (rendered by `cards.render_html`, the template set the editor
preview uses); each suggestion goes to a tracked route below it. Nothing here redirects to
a URL taken from the request: the only redirect target is the URL in the card.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, urlencode, urlsplit

import eviltransform
import jinja2
from aiohttp import web

from api.middleware import TENANT_ID, client_address
from api.problems import FieldError, Problem, pointer
from api.responses import json_response
from cards import Footer, calendar_ics, geo_uri, landing_href, render_html, suggestion_at, web_map_url
from cards.model import parse_document
from cards.view import FileView, MediaView, SuggestionView, document_view
from fallback.shortlinks.agents import classify
from fallback.shortlinks.service import DEFAULT_TTL_S, Link, ShortLinks
from security.numbers import ascii_digits

log = logging.getLogger(__name__)

SHORTLINKS = web.AppKey("shortlinks", ShortLinks)
routes = web.RouteTableDef()

# Suggestions a tap answers with a form POST (recorded as the RCS tap would be).
FORM_KINDS = frozenset({"reply", "request_location", "device", "settings"})
OSM_URL = "https://www.openstreetmap.org/"

_PAGE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The page holds the recipient's personal text: no shared cache may keep it.
    "Cache-Control": "private, no-store",
}
_STYLE_RE = re.compile(r"<style>(.*?)</style>", re.S)


@lru_cache(maxsize=64)
def _csp(style: str) -> str:
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    # No script at all; the one inline style block is allowed by its hash. Media may come
    # from the brand's https host (the recipient's browser fetches it, never we).
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self' https: data:; media-src https:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def page_csp(html: str) -> str:
    """The Content-Security-Policy for a page: its one inline style block allowed by hash."""
    m = _STYLE_RE.search(html)
    return _csp(m.group(1) if m else "")


def html_response(html: str, status: int = 200, headers: dict | None = None, *, csp: str | None = None) -> web.Response:
    """An HTML page with the strict headers every short-link page carries."""
    hdrs = {**_PAGE_HEADERS, "Content-Security-Policy": csp or page_csp(html)}
    if headers:
        hdrs.update(headers)
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8", headers=hdrs)


@lru_cache(maxsize=1)
def _notices() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fallback.shortlinks", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    return env.get_template("notice.html.j2")


@dataclass(frozen=True)
class _Link:
    href: str
    text: str
    download: bool = False


@dataclass(frozen=True)
class _Form:
    action: str
    button: str
    fields: dict


def notice(
    heading: str,
    *lines: str,
    status: int = 200,
    brand: str | None = None,
    links: list[_Link] = (),
    form: _Form | None = None,
) -> web.Response:
    """A plain page (not found, gone, thanks, map, privacy, opt-out)."""
    html = _notices().render(heading=heading, lines=lines, brand=brand, links=list(links), form=form)
    return html_response(html, status)


def not_found() -> web.Response:
    return notice("链接无效", "这个链接不存在或已被撤回。", "This link does not exist.", status=404)


def gone(link: Link) -> web.Response:
    return notice("链接已过期", "这个链接已过有效期。", "This link has expired.", status=410, brand=link.signature)


# -- rendering the card --------------------------------------------------------------------
def _base(link: Link) -> str:
    return f"/s/{link.token}"


def suggestion_href(link: Link):
    """The `render_html` hook: where each suggestion on this link's page goes."""
    base = _base(link)
    cards_href = landing_href(base)

    def href(index: int, s: SuggestionView) -> str | None:
        if s.kind == "calendar":
            return f"{base}/ics/{index}" if cards_href(index, s) else None
        if s.kind == "show_location":
            # Our own page offers both the geo: URI and a web map (one href per button).
            return f"{base}/map/{index}" if s.latitude is not None or s.label else None
        return cards_href(index, s)

    return href


def media_src(media: MediaView) -> str | None:
    """Show the brand's https image/video as is (fetched by the recipient's browser, never by us)."""
    url = media.thumbnail_url if media.kind == "image" and media.thumbnail_url else media.url
    return url if url and url.startswith("https://") else None


def file_href(file: FileView) -> str | None:
    """A file message downloads straight from its https URL (the recipient's browser fetches it)."""
    url = file.media.url
    return url if url and url.startswith("https://") else None


def render_page(link: Link) -> str:
    """The landing page HTML of a link (cached on the link while it is cached)."""
    html = link.rendered.get("page")
    if html is None:
        base = _base(link)
        html = render_html(
            link.card,
            suggestion_href=suggestion_href(link),
            form_action=f"{base}/r",
            media_src=media_src,
            file_href=file_href,
            place_href=lambda _location: f"{base}/place",
            brand=link.signature,
            footer=Footer(signature=link.signature, opt_out_url=f"{base}/opt-out", privacy_url=f"{base}/privacy"),
        )
        link.rendered["page"] = html
        link.rendered["csp"] = page_csp(html)
    return html


def render_card_page(card: dict, *, signature: str, media_src=None, lang: str = "zh-CN") -> str:
    """The recipient page of a card without a link (the editor's H5 preview): the same page as
    `/s/<token>` shows, with every button inert and the links (a file's download, a location's
    map, the footer's) going nowhere."""
    return render_html(
        card,
        media_src=media_src,
        file_href=lambda _file: "#",
        place_href=lambda _place: "#",
        brand=signature or None,
        lang=lang,
        footer=Footer(signature=signature or None, opt_out_url="#", privacy_url="#"),
    )


# -- handlers ------------------------------------------------------------------------------
async def _resolve(request: web.Request) -> tuple[ShortLinks, Link | None, bool]:
    links = request.app[SHORTLINKS]
    link = await links.lookup(request.match_info["token"])
    live = link is not None and link.expires_ms > links.now_ms()
    return links, link, live


def _record(request: web.Request, links: ShortLinks, link: Link, kind: str, action: int | None = None):
    return links.record(
        link,
        kind,
        action,
        head=request.method == "HEAD",
        remote=client_address(request),  # behind a trusted proxy: the browser's, not the proxy's
        user_agent=request.headers.get("User-Agent"),
    )


async def _live_link(request: web.Request, kind: str, action: int | None = None):
    """(links, link) for a live link with the hit recorded, or the 404/410 answer to give."""
    links, link, live = await _resolve(request)
    if link is None:
        return None, not_found()
    if not live:
        _record(request, links, link, "expired", action)
        return None, gone(link)
    _record(request, links, link, kind, action)
    return (links, link), None


def _suggestion(link: Link, raw: str) -> SuggestionView | None:
    if not ascii_digits(raw) or len(raw) > 3 or not link.card:
        return None
    try:
        return suggestion_at(link.card, int(raw))
    except (IndexError, ValueError):
        return None


async def _suggestion_hit(request: web.Request, kind: str, raw: str | None, kinds: frozenset[str]):
    """(links, link, suggestion) for a live link's suggestion of one of `kinds`, the hit recorded;
    or the 404/410 answer to give."""
    links, link, live = await _resolve(request)
    if link is None:
        return None, not_found()
    if raw is None:
        form = await request.post()
        raw = str(form.get("suggestion", ""))
    if not live:
        # Checked first: an expired link's card may already be purged.
        _record(request, links, link, "expired", int(raw) if ascii_digits(raw) and len(raw) <= 3 else None)
        return None, gone(link)
    s = _suggestion(link, raw)
    if s is None or s.kind not in kinds:
        return None, not_found()
    _record(request, links, link, kind, s.index)
    return (links, link, s), None


@routes.get("/s/{token}")
async def landing_page(request: web.Request) -> web.Response:
    found, answer = await _live_link(request, "page")
    if answer is not None:
        return answer
    links, link = found
    if not classify(request.headers.get("User-Agent")).human:
        # Chat apps' preview fetchers and crawlers would copy the recipient's personal text
        # onto third-party servers (and into a preview others may see): they get the brand only.
        return notice(
            f"{link.signature}的消息",
            "请在手机浏览器中打开此链接查看。",
            "Open this link on your phone to see the message.",
            brand=link.signature,
        )
    html = render_page(link)
    return html_response(html, csp=link.rendered["csp"])


@routes.get("/s/{token}/a/{n}")
async def open_url(request: web.Request) -> web.Response:
    """Tracked redirect, only ever to the URL that is in the card at suggestion n."""
    links, link, live = await _resolve(request)
    if link is None:
        return not_found()
    raw = request.match_info["n"]
    if not live:
        _record(request, links, link, "expired", int(raw) if ascii_digits(raw) and len(raw) <= 3 else None)
        return gone(link)
    target = link.rendered.get(("a", raw))
    if target is None:
        s = _suggestion(link, raw)
        url = s.url if s is not None and s.kind == "open_url" else None
        if url is None or urlsplit(url).scheme.lower() not in ("http", "https"):
            return not_found()
        target = link.rendered[("a", raw)] = url
    _record(request, links, link, "action", int(raw))
    return web.Response(
        status=302,
        headers={
            "Location": target,
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex, nofollow",
        },
    )


@routes.get("/s/{token}/ics/{n}")
async def calendar(request: web.Request) -> web.Response:
    found, answer = await _suggestion_hit(request, "ics", request.match_info["n"], frozenset({"calendar"}))
    if answer is not None:
        return answer
    links, link, s = found
    n = s.index
    stamp = datetime.fromtimestamp(link.created_ms / 1000, UTC)
    try:
        body = calendar_ics(s, uid=f"{link.message_id}-{n}@hongyan", stamp=stamp)
    except ValueError:
        return not_found()
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={**_PAGE_HEADERS, "Content-Disposition": f'attachment; filename="event-{n}.ics"'},
    )


def map_links(s: SuggestionView) -> list[_Link]:
    """geo: URI for the phone's map app plus a web map: Amap (GCJ-02) inside mainland China."""
    if s.latitude is None or s.longitude is None:
        return [
            _Link("geo:0,0?q=" + quote(s.label or "", safe=""), "在地图应用中打开 / Open in maps"),
            _Link(web_map_url(None, None, s.label), "高德地图 / Amap"),
        ]
    # A suggestion's showLocation is GPS (WGS-84), as RCS has it.
    return place_links(s.latitude, s.longitude, s.label, "wgs84")


def place_links(latitude: float, longitude: float, label: str | None, crs: str) -> list[_Link]:
    """Links for a place whose coordinates are in datum `crs` (wgs84 or gcj02): the geo: URI
    (WGS-84, RFC 5870) and a web map — Amap in GCJ-02 inside mainland China, else OSM."""
    if crs == "gcj02":
        wgs_lat, wgs_lng = eviltransform.gcj2wgs(latitude, longitude)
        gcj_lat, gcj_lng = latitude, longitude
    else:
        wgs_lat, wgs_lng = latitude, longitude
        gcj_lat, gcj_lng = eviltransform.wgs2gcj(latitude, longitude)
    out = [_Link(geo_uri(wgs_lat, wgs_lng, label), "在地图应用中打开 / Open in maps")]
    if eviltransform.outOfChina(wgs_lat, wgs_lng):
        query = urlencode({"mlat": f"{wgs_lat:.6f}", "mlon": f"{wgs_lng:.6f}"})
        out.append(_Link(f"{OSM_URL}?{query}#map=17/{wgs_lat:.6f}/{wgs_lng:.6f}", "OpenStreetMap"))
    else:
        out.append(_Link(web_map_url(gcj_lat, gcj_lng, label, coordinate="gaode"), "高德地图 / Amap"))
    return out


@routes.get("/s/{token}/place")
async def show_place(request: web.Request) -> web.Response:
    """The map links of a location message."""
    found, answer = await _live_link(request, "map")
    if answer is not None:
        return answer
    _links, link = found
    loc = document_view(parse_document(link.card)).location if link.card else None
    if loc is None:
        return not_found()
    return notice(
        loc.label or "位置 / Location",
        loc.coordinates,
        brand=link.signature,
        links=place_links(loc.latitude, loc.longitude, loc.label, loc.crs) + [_Link(_base(link), "返回 / Back")],
    )


@routes.get("/s/{token}/map/{n}")
async def show_map(request: web.Request) -> web.Response:
    found, answer = await _suggestion_hit(request, "map", request.match_info["n"], frozenset({"show_location"}))
    if answer is not None:
        return answer
    links, link, s = found
    return notice(
        s.label or s.display_text,
        s.display_text,
        brand=link.signature,
        links=map_links(s) + [_Link(_base(link), "返回 / Back")],
    )


async def _postback(request: web.Request, raw_index: str | None) -> web.Response:
    found, answer = await _suggestion_hit(request, "postback", raw_index, FORM_KINDS)
    if answer is not None:
        return answer
    links, link, s = found
    if links.on_postback is not None:
        try:
            await links.on_postback(link.tenant_id, link.message_id, s.display_text, s.postback)
        except Exception:
            log.exception("postback callback failed for message %s", link.message_id)
            return notice(
                "请稍后再试",
                "暂时无法提交，请稍后再试。",
                "Please try again later.",
                status=503,
                brand=link.signature,
                links=[_Link(_base(link), "返回 / Back")],
            )
    return notice(
        "已收到",
        f"您选择了：{s.display_text}",
        "谢谢！Thank you.",
        brand=link.signature,
        links=[_Link(_base(link), "返回 / Back")],
    )


@routes.post("/s/{token}/r")
async def postback_form(request: web.Request) -> web.Response:
    """A reply tapped on the page (the card template posts the suggestion's index)."""
    return await _postback(request, None)


@routes.post("/s/{token}/r/{n}")
async def postback(request: web.Request) -> web.Response:
    return await _postback(request, request.match_info["n"])


@routes.get("/s/{token}/opt-out")
async def opt_out_page(request: web.Request) -> web.Response:
    links, link, _ = await _resolve(request)
    if link is None:
        return not_found()
    lines = [
        f"不想再收到{link.signature}的营销短信，请回复 R 或 TD 到发来短信的号码。",
        "To stop marketing messages, reply R or TD to the SMS.",
    ]
    form = _Form(f"{_base(link)}/opt-out", "退订 / Unsubscribe", {}) if links.on_opt_out else None
    return notice("退订", *lines, brand=link.signature, form=form)


@routes.post("/s/{token}/opt-out")
async def opt_out(request: web.Request) -> web.Response:
    if request.app[SHORTLINKS].on_opt_out is None:
        return not_found()
    found, answer = await _live_link(request, "opt_out")
    if answer is not None:
        return answer
    links, link = found
    try:
        await links.on_opt_out(link.tenant_id, link.message_id)
    except Exception:
        log.exception("opt-out callback failed for message %s", link.message_id)
        return notice("请稍后再试", "暂时无法退订，请稍后再试，或回复 R 退订。", status=503, brand=link.signature)
    return notice("已退订", f"您将不再收到{link.signature}的营销短信。", "You are unsubscribed.", brand=link.signature)


@routes.get("/s/{token}/privacy")
async def privacy(request: web.Request) -> web.Response:
    links, link, _ = await _resolve(request)
    if link is None:
        return not_found()
    return notice(
        "隐私说明 / Privacy",
        "此页面由短信发送方通过鸿雁平台提供，内容仅对持有此链接的人可见。",
        "我们记录每次打开和点击的时间与按钮，用于统计；不记录您的 IP 地址或浏览器标识，仅保存其不可逆的加密摘要用于去重。",
        "页面不使用 Cookie，也不加载第三方脚本。",
        f"链接在发送后 {DEFAULT_TTL_S // 86400} 天内有效。",
        "We record when this page and its buttons are opened, never your IP address or browser "
        "identity (only a keyed one-way digest, to count unique visitors). No cookies, no third-party scripts.",
        brand=link.signature,
        links=[_Link(_base(link), "返回 / Back")],
    )


# -- reports -------------------------------------------------------------------------------
@routes.get("/v1/clicks")
async def clicks(request: web.Request) -> web.Response:
    """Click counts for one message (`message_id`) or one batch (`batch_id`) of this tenant."""
    q = request.query
    message_id, batch_id = q.get("message_id"), q.get("batch_id")
    if (message_id is None) == (batch_id is None):
        raise Problem(
            422,
            "give exactly one of message_id or batch_id",
            [FieldError(pointer("message_id"), "message_id or batch_id is required, not both")],
        )
    for name, value in (("message_id", message_id), ("batch_id", batch_id)):
        if value is not None and not 0 < len(value) <= 64:
            raise Problem(422, f"{name} is not an id this API returned", [FieldError(pointer(name), "bad length")])
    summary = await request.app[SHORTLINKS].clicks_summary(request[TENANT_ID], message_id=message_id, batch_id=batch_id)
    if summary is None:
        raise Problem(404, "no short link was sent for this " + ("message" if message_id else "batch"))
    return json_response(summary)


def _seconds(value) -> int:
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
