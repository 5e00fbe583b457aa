"""Share links over HTTP: the tenant's API under /v1/templates/{id}/versions/{version}/shares and
the public, read-only page at /share/{token} where someone without an account approves a version
or asks for changes.

The page is plain HTML without script (readable anywhere, `noindex`), in the viewer's language
(`?lang=en|zh`, else Accept-Language); its phone and H5 previews are two framed documents of its
own at /share/{token}/phone and /share/{token}/h5. An unknown or altered link answers 404, an
expired or revoked one 410, each as a page saying so.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import jinja2
from aiohttp import web

from api.audit import audit
from api.audit import record as audit_record
from api.bodies import read_json
from api.livepage import page_headers
from api.middleware import TENANT_ID
from api.problems import Problem
from api.responses import json_response
from cards.compose import off_loop
from cards.store.service import MAX_VERSION
from editor import share_openapi as _openapi  # noqa: F401  (registers the API description)
from editor.preview import Previewer, PreviewRequest
from editor.shares import ACTIVE, EXPIRED, MAX_COMMENT, MAX_NAME, Opened, ShareLinks
from fallback.compose import MARKETING_TRAFFIC
from fallback.http import UNSUBSCRIBE_TEXT
from security.numbers import ascii_digits


@dataclass(frozen=True)
class SharePages:
    """What the share routes need: the links, a previewer, the public base URL, and the tenant
    facts a preview shows (signature, SMS price)."""

    links: ShareLinks
    previewer: Previewer
    base_url: str
    tenant_of: Callable[[str], Awaitable[Mapping | None]]


SHARES = web.AppKey("share_pages", SharePages)
routes = web.RouteTableDef()
API = "/v1/templates/{id}/versions/{version}/shares"

# -- the tenant's API -------------------------------------------------------------------------


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    if ascii_digits(raw) and len(raw) <= len(str(MAX_VERSION)) and 1 <= int(raw) <= MAX_VERSION:
        return int(raw)
    raise Problem(404, "no such template version")


def _with_url(pages: SharePages, share: dict) -> dict:
    return {**share, "url": f"{pages.base_url}/share/{share['token']}"}


@routes.post(API)
async def create_share(request: web.Request) -> web.Response:
    pages = request.app[SHARES]
    body = await read_json(request) if request.can_read_body else {}
    share = await pages.links.create(request[TENANT_ID], request.match_info["id"], _version(request), body)
    audit(request, "templates.shares.create", target=("share_links", share["id"]))
    made = _with_url(pages, share)
    return json_response(made, status=201, headers={"Location": f"{request.path}/{made['id']}"})


@routes.get(API)
async def list_version_shares(request: web.Request) -> web.Response:
    pages = request.app[SHARES]
    found = await pages.links.of_template(request[TENANT_ID], request.match_info["id"], _version(request))
    return json_response({"data": [_with_url(pages, s) for s in found]})


@routes.get("/v1/templates/{id}/shares")
async def list_template_shares(request: web.Request) -> web.Response:
    pages = request.app[SHARES]
    found = await pages.links.of_template(request[TENANT_ID], request.match_info["id"])
    return json_response({"data": [_with_url(pages, s) for s in found]})


@routes.get(API + "/{share_id}")
async def get_share(request: web.Request) -> web.Response:
    pages = request.app[SHARES]
    share = await pages.links.get(
        request[TENANT_ID], request.match_info["id"], _version(request), request.match_info["share_id"]
    )
    return json_response(_with_url(pages, share))


@routes.post(API + "/{share_id}/revoke")
async def revoke_share(request: web.Request) -> web.Response:
    pages = request.app[SHARES]
    share_id = request.match_info["share_id"]
    share = await pages.links.revoke(request[TENANT_ID], request.match_info["id"], _version(request), share_id)
    audit(request, "templates.shares.revoke", target=("share_links", share_id))
    return json_response(_with_url(pages, share))


# -- the public page --------------------------------------------------------------------------

STRINGS = {
    "zh-CN": {
        "title": "审阅预览",
        "kicker": "请审阅这版卡片",
        "version": "版本 {n}",
        "read_only": "只读预览",
        "expires": "链接有效期至 {at}",
        "phone": "手机上的 5G 消息",
        "sms": "不支持 5G 消息时的短信",
        "segments": "共 {n} 条短信",
        "no_sms": "这张卡片没有短信回落。",
        "h5": "短信链接打开的网页",
        "decide": "您的意见",
        "decide_hint": "您的姓名和意见会告知这张卡片的设计者。",
        "name": "姓名",
        "comment": "意见（要求修改时必填）",
        "approve": "通过",
        "changes": "需要修改",
        "done_approved": "谢谢！您已通过这个版本，设计者会看到您的意见。",
        "done_changes_requested": "谢谢！您的修改意见已记录，设计者会看到。",
        "name_error": "请填写姓名（最多 {n} 个字符）。",
        "comment_error": "意见最多 {n} 个字符。",
        "comment_required": "请说明需要修改什么。",
        "decision_error": "请选择“通过”或“需要修改”。",
        "not_found": "链接无效",
        "not_found_text": "这个审阅链接不存在，或者链接不完整。请向发送链接的人确认。",
        "expired": "链接已过期",
        "expired_text": "这个审阅链接已过有效期。如仍需审阅，请向设计者索取新链接。",
        "revoked": "链接已撤回",
        "revoked_text": "设计者已撤回这个审阅链接。",
        "other": "English",
    },
    "en": {
        "title": "Preview for approval",
        "kicker": "Please review this version of the card",
        "version": "Version {n}",
        "read_only": "Read-only preview",
        "expires": "This link works until {at}",
        "phone": "On the phone (5G message)",
        "sms": "The SMS sent without 5G messaging",
        "segments": "{n} SMS part(s)",
        "no_sms": "This card has no SMS fallback.",
        "h5": "The web page the SMS links to",
        "decide": "Your decision",
        "decide_hint": "Your name and comment go to the card's designer.",
        "name": "Your name",
        "comment": "Comment (required when asking for changes)",
        "approve": "Approve",
        "changes": "Request changes",
        "done_approved": "Thank you! You approved this version; the designer will see your comment.",
        "done_changes_requested": "Thank you! Your request for changes is recorded; the designer will see it.",
        "name_error": "Enter your name (at most {n} characters).",
        "comment_error": "A comment has at most {n} characters.",
        "comment_required": "Say what should change.",
        "decision_error": "Choose Approve or Request changes.",
        "not_found": "This link is not valid",
        "not_found_text": "This review link does not exist or is incomplete. Check it with whoever sent it.",
        "expired": "This link has expired",
        "expired_text": "This review link is past its end date. Ask the designer for a new link if a review is still needed.",
        "revoked": "This link was withdrawn",
        "revoked_text": "The designer withdrew this review link.",
        "other": "中文",
    },
}

STYLE = """*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;background:#f2f3f5;color:#202124}
.top{display:flex;justify-content:space-between;align-items:center;padding:10px 16px;background:#fff;border-bottom:1px solid #dee0e4}
.brand{font-weight:600}.lang{color:#1a73e8}
main{max-width:1180px;margin:0 auto;padding:16px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:15px;margin:0 0 10px}
.kicker{margin:0;color:#5f6368}.meta{margin:0;color:#5f6368;display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center}
.pill{background:#e8f0fe;color:#174ea6;border-radius:10px;padding:1px 10px;font-weight:600}
.head{margin-bottom:14px}
.previews{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px;align-items:start}
.box{background:#fff;border:1px solid #dee0e4;border-radius:12px;padding:14px;min-width:0}
.phone{margin:0 auto;max-width:340px;border:10px solid #202124;border-radius:30px;overflow:hidden;background:#f2f3f5}
.phone iframe{display:block;width:100%;height:560px;border:0}
iframe.h5{display:block;width:100%;height:560px;border:1px solid #dee0e4;border-radius:8px}
.sms{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;padding:10px 12px;background:#e9e9eb;border-radius:14px;font:inherit}
.muted{color:#5f6368}
.decide{margin-top:14px;max-width:640px}
label{display:block;margin:10px 0 4px;font-weight:600}
input,textarea{width:100%;font:inherit;padding:8px 10px;border:1px solid #bdc1c6;border-radius:8px;background:#fff;color:inherit}
[aria-invalid=true]{border-color:#d93025}.error{color:#d93025;margin:4px 0 0}
.buttons{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
button{font:inherit;padding:9px 18px;border-radius:18px;cursor:pointer;border:1px solid #1a73e8}
.approve{background:#1a73e8;color:#fff}.changes{background:#fff;color:#1a73e8}
.done{background:#e6f4ea;color:#137333;border:1px solid #a8dab5;border-radius:10px;padding:10px 14px}
.gone{max-width:520px;margin:40px auto}
@media (prefers-color-scheme:dark){
body{background:#111;color:#e8eaed}.top,.box{background:#202124;border-color:#3c4043}
.kicker,.meta,.muted{color:#9aa0a6}.pill{background:#174ea6;color:#e8f0fe}.lang{color:#8ab4f8}
.phone{border-color:#5f6368;background:#111}iframe.h5{border-color:#3c4043}
.sms{background:#303134}input,textarea{background:#303134;border-color:#5f6368}
.changes{background:#202124;color:#8ab4f8;border-color:#8ab4f8}.approve{background:#8ab4f8;color:#202124;border-color:#8ab4f8}
.done{background:#0d3a1d;color:#81c995;border-color:#137333}}"""

PHONE_STYLE = "body{background:#f2f3f5;margin:0;padding:10px}"
# The editor's dark phone (editor/static/js/preview.js), for a viewer whose system is dark.
PHONE_DARK = """@media (prefers-color-scheme:dark){body{background:#111;color:#e8eaed}
.card,.bubble,.brand{background:#202124;border-color:#3c4043;color:#e8eaed}
.text p{color:#bdc1c6}.media{background:#303134}.placeholder{color:#9aa0a6}
.actions .sg,.actions .sg-form{border-color:#3c4043}.sg{color:#8ab4f8}
.chips .sg,.menu .sg,.menu summary{background:#202124;border-color:#8ab4f8;color:#8ab4f8}}"""
_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("editor", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    return env.get_template("share.html.j2")


def viewer_language(request: web.Request) -> str:
    """`zh-CN` or `en`: the `lang` query first, then Accept-Language (by its q weights)."""
    asked = request.query.get("lang", "")
    if asked in ("en", "zh", "zh-CN"):
        return "en" if asked == "en" else "zh-CN"
    weighted = []
    for i, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        weighted.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(weighted):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "zh-CN"


def _page(lang: str, status: int = 200, **context) -> web.Response:
    s = STRINGS[lang]
    code = "en" if lang == "en" else "zh"
    base = context.pop("base", "")
    html = _template().render(
        lang=lang,
        lang_code=code,
        s=s,
        style=STYLE,
        title=context.pop("title", s["title"]),
        brand=context.pop("brand", "鸿雁 Hongyan"),
        base=base,
        other_lang={
            "href": f"?lang={'zh' if lang == 'en' else 'en'}",
            "lang": "zh-CN" if lang == "en" else "en",
            "label": s["other"],
        },
        version=context.pop("version", None),
        done=context.pop("done", None),
        sms=context.pop("sms", None),
        expires=context.pop("expires", ""),
        form=context.pop("form", {"name": "", "comment": ""}),
        errors=context.pop("errors", {}),
        heading=context.pop("heading", ""),
        lines=context.pop("lines", []),
    )
    headers = page_headers(STYLE, frames=True)
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8", headers=headers)


def _ended(lang: str, opened: Opened | None) -> web.Response:
    """The page of a link that shows nothing: unknown or altered (404), expired or revoked (410)."""
    s = STRINGS[lang]
    if opened is None:
        return _page(lang, 404, title=s["not_found"], heading=s["not_found"], lines=[s["not_found_text"]])
    key = "expired" if opened.state == EXPIRED else "revoked"
    return _page(lang, 410, title=s[key], heading=s[key], lines=[s[f"{key}_text"]])


async def _preview(request: web.Request, opened: Opened, lang: str) -> dict:
    pages = request.app[SHARES]
    v = opened.version
    assert v is not None
    tenant = dict(await pages.tenant_of(opened.tenant_id) or {})
    unsubscribe = request.app.get(UNSUBSCRIBE_TEXT)
    if unsubscribe is not None and v.traffic_type in MARKETING_TRAFFIC:
        tenant["unsubscribe_text"] = await unsubscribe(opened.tenant_id)
    req = PreviewRequest(card=v.card, variables=v.sample or {}, locale=lang, traffic_type=v.traffic_type)
    try:
        answer = await off_loop(pages.previewer.preview, req, tenant)
    except Problem:  # a stored version always composes; a refused template shows nothing
        answer = {"phone_html": None, "sms": None, "h5_html": None}
    answer["brand"] = tenant.get("signature") or tenant.get("name") or ""
    return answer


def _expires(ms: int, lang: str) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC") if lang == "en" else at.strftime("%Y年%m月%d日 %H:%M（UTC）")


async def _show(request: web.Request, lang: str, status: int = 200, **extra) -> web.Response:
    opened = await request.app[SHARES].links.open(request.match_info["token"])
    if opened is None or opened.state != ACTIVE or opened.version is None:
        return _ended(lang, opened)
    preview = await _preview(request, opened, lang)
    s, v = STRINGS[lang], opened.version
    sms = preview.get("sms")
    return _page(
        lang,
        status,
        title=f"{v.name} · {s['title']}",
        brand=preview["brand"] or "鸿雁 Hongyan",
        base=f"/share/{request.match_info['token']}",
        version={"name": v.name, "version": v.version},
        sms=sms,
        expires=_expires(opened.expires_ms, lang),
        **extra,
    )


@routes.get("/share/{token}")
async def share_page(request: web.Request) -> web.Response:
    lang = viewer_language(request)
    done = request.query.get("done")
    message = STRINGS[lang].get(f"done_{done}") if done in ("approved", "changes_requested") else None
    return await _show(request, lang, done=message)


@routes.post("/share/{token}")
async def share_decide(request: web.Request) -> web.Response:
    lang = viewer_language(request)
    s = STRINGS[lang]
    origin = request.headers.get("Origin")
    if origin is not None and origin not in ("null", f"{request.scheme}://{request.host}"):
        raise web.HTTPForbidden(text="cross-origin form refused")
    form = await request.post()
    decision, name, comment = (str(form.get(k, "")) for k in ("decision", "name", "comment"))
    token = request.match_info["token"]
    try:
        opened = await request.app[SHARES].links.decide(token, decision, name, comment)
    except Problem as problem:
        if problem.status == 410:
            return _ended(lang, await request.app[SHARES].links.open(token))
        if problem.status != 422:
            raise web.HTTPConflict(text=problem.detail) from None
        errors = {}
        for e in problem.errors:
            field = e.path.strip("/")
            if field == "name":
                errors["name"] = s["name_error"].format(n=MAX_NAME)
            elif field == "comment":
                key = "comment_required" if e.code == "share_comment_required" else "comment_error"
                errors["comment"] = s[key].format(n=MAX_COMMENT)
            else:
                errors["name"] = errors.get("name") or s["decision_error"]
        return await _show(request, lang, 422, form={"name": name[:MAX_NAME], "comment": comment}, errors=errors)
    if opened is None:
        return _ended(lang, None)
    await audit_record(
        request,
        "templates.shares.decide",
        ("share_links", opened.share_id),
        201,
        tenant_id=opened.tenant_id,
        actor=("anonymous", "", "share link"),
        detail={"decision": decision},
    )
    code = "en" if lang == "en" else "zh"
    raise web.HTTPSeeOther(f"/share/{token}?lang={code}&done={decision}")


def _framed(style: str, body: str, lang: str) -> web.Response:
    html = f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><style>{style}</style></head><body>{body}</body></html>'
    headers = page_headers(style, images=True, framed=True)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


async def _framed_preview(request: web.Request, which: str) -> web.Response:
    lang = viewer_language(request)
    opened = await request.app[SHARES].links.open(request.match_info["token"])
    if opened is None or opened.state != ACTIVE or opened.version is None:
        return _ended(lang, opened)
    html = (await _preview(request, opened, lang)).get(which) or ""
    # One style block per document (the CSP allows it by hash): the card's CSS, then the frame's.
    styles = _STYLE_BLOCK.findall(html)
    if which == "h5_html":
        head = re.search(r"<body>(.*)</body>", html, re.S)
        body = _STYLE_BLOCK.sub("", head.group(1) if head else html)
        return _framed("".join(styles), body, lang)
    return _framed("".join(styles) + PHONE_STYLE + PHONE_DARK, _STYLE_BLOCK.sub("", html), lang)


@routes.get("/share/{token}/phone")
async def share_phone(request: web.Request) -> web.Response:
    return await _framed_preview(request, "phone_html")


@routes.get("/share/{token}/h5")
async def share_h5(request: web.Request) -> web.Response:
    return await _framed_preview(request, "h5_html")
