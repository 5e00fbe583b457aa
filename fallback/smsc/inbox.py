"""The sandbox SMSC's SMS inbox: per number, the SMS that reached it (a long message joined from
its parts) and what its user replied, on a web page where a person replies (TD, 1, free text)
with a real mobile-originated SMS (deliver_sm) to the platform.

Pages are served on the simulator's HTTP side (`SmscSimulator(http_port=…)`): `/sms` lists the
inboxes and opens one by number (in the form, never in a path), `/sms/{inbox id}` is one inbox.
Numbers are masked in titles and lists. Memory is bounded: MAX_INBOXES numbers (the least
recently used go), MAX_ITEMS items per inbox, MAX_PARTIAL unfinished long messages per inbox.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import jinja2
from aiohttp import web

from api.livepage import LOOK_BAR, LOOK_NAMES, REFRESH_SCRIPT, page_headers
from cards.looks import body_class, page_choices, page_css
from security.logs import mask_phone

MAX_INBOXES = 10_000
MAX_ITEMS = 200
MAX_PARTIAL = 50
MAX_REPLY = 1000  # characters a person may reply with (split by the phone into parts)


@dataclass
class SmsItem:
    """One SMS in an inbox: received from `sender` (the brand's number with its extension code)
    or sent by the number's user (`mine`)."""

    sender: str
    text: str
    at: datetime
    mine: bool = False
    delivered: bool | None = None  # of a reply: the platform's bind took it
    # A long message's parts as they arrived, in order (one part: just the text).
    segments: list[str] = field(default_factory=list)


@dataclass
class SmsInbox:
    inbox_id: str
    number: str  # E.164
    items: deque[SmsItem] = field(default_factory=lambda: deque(maxlen=MAX_ITEMS))
    # Parts of long messages still coming: (sender, reference, total) → {sequence: text}.
    partial: OrderedDict[tuple[str, int, int], dict[int, str]] = field(default_factory=OrderedDict)
    version: int = 0

    def add(self, item: SmsItem) -> None:
        self.items.append(item)
        self.version += 1

    def part(self, sender: str, concat: tuple[int, int, int] | None, text: str, at: datetime) -> None:
        """One part as it arrived (`concat`: reference, total, sequence from its UDH); the
        message shows once its last missing part is here, joined in order."""
        if concat is None or concat[1] <= 1:
            self.add(SmsItem(sender, text, at, segments=[text]))
            return
        ref, total, seq = concat
        key = (sender, ref, total)
        parts = self.partial.setdefault(key, {})
        parts[seq] = text
        if len(parts) >= total:
            del self.partial[key]
            ordered = [parts[i] for i in sorted(parts)]
            self.add(SmsItem(sender, "".join(ordered), at, segments=ordered))
        else:
            self.version += 1  # a part of a long message is shown as it arrives
        while len(self.partial) > MAX_PARTIAL:
            self.partial.popitem(last=False)

    def waiting(self) -> list[tuple[str, int, dict[int, str]]]:
        """Long messages still coming: (sender, parts in all, {sequence: text} so far)."""
        return [(sender, total, dict(parts)) for (sender, _, total), parts in self.partial.items()]

    def reply_to(self) -> str | None:
        """Where a reply goes: the sender of the newest SMS received."""
        return next((i.sender for i in reversed(self.items) if not i.mine), None)


class SmsInboxes:
    """Every number's inbox (in memory, bounded) and their web pages."""

    def __init__(
        self,
        send_mo: Callable[[str, str, str], Awaitable[None]],
        now: Callable[[], datetime],
        id_factory: Callable[[], str] = lambda: secrets.token_urlsafe(9),
    ):
        self._send_mo = send_mo
        self._now = now
        self._new_id = id_factory
        self.inboxes: dict[str, SmsInbox] = {}
        self._by_number: OrderedDict[str, str] = OrderedDict()

    def of(self, number: str) -> SmsInbox:
        """The inbox of `number` (E.164), opened if it has none yet."""
        inbox_id = self._by_number.get(number)
        if inbox_id is None:
            inbox_id = self._new_id()
            self.inboxes[inbox_id] = SmsInbox(inbox_id, number)
            self._by_number[number] = inbox_id
            while len(self._by_number) > MAX_INBOXES:
                _, old = self._by_number.popitem(last=False)
                del self.inboxes[old]
        self._by_number.move_to_end(number)
        return self.inboxes[inbox_id]

    def received(self, number: str, sender: str, concat: tuple[int, int, int] | None, text: str) -> None:
        """A part the SMSC accepted for `number` from `sender`."""
        self.of(number).part(sender, concat, text, self._now())

    async def reply(self, inbox: SmsInbox, text: str, to: str | None = None) -> bool:
        """The number's user replies: a mobile-originated SMS to `to` (default: the sender of
        the newest SMS). True when a bound receiver took it."""
        destination = to or inbox.reply_to()
        if destination is None:
            raise ValueError("nothing to reply to: no SMS has reached this number")
        item = SmsItem(destination, text, self._now(), mine=True)
        inbox.add(item)
        try:
            await self._send_mo(inbox.number, destination, text)
            item.delivered = True
        except ConnectionError:
            item.delivered = False
        inbox.version += 1
        return item.delivered

    # -- the pages ---------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sms", self._index),
            web.post("/sms", self._open),
            web.get(SCRIPT_PATH, self._script),
            web.get("/sms/{inbox_id}", self._page),
            web.get("/sms/{inbox_id}/version", self._version),
            web.post("/sms/{inbox_id}/reply", self._reply),
        ]

    def _inbox_of(self, request: web.Request) -> SmsInbox:
        inbox = self.inboxes.get(request.match_info["inbox_id"])
        if inbox is None:
            raise web.HTTPNotFound()
        return inbox

    @staticmethod
    def _render(request: web.Request, name: str, **ctx) -> web.Response:
        # Drawn in the handset look, theme and language chosen on the page (remembered).
        chosen, remember = page_choices(request.query, request.cookies, tuple(WORDS))
        html = _PAGES.get_template(name).render(
            mask=mask_phone,
            body_class=body_class(chosen["look"], chosen["theme"]),
            words=WORDS[chosen["lang"]],
            looks=LOOK_NAMES,
            **chosen,
            **ctx,
        )
        response = web.Response(text=html, content_type="text/html", headers=HEADERS)
        for key, value in remember.items():
            response.set_cookie(key, value, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
        return response

    async def _index(self, request: web.Request) -> web.Response:
        return self._render(request, "index.html", inboxes=list(self.inboxes.values()))

    async def _open(self, request: web.Request) -> web.Response:
        number = str((await request.post()).get("number", "")).strip().replace(" ", "")
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            raise web.HTTPBadRequest(text="a number in E.164 form, e.g. +8613800001231")
        raise web.HTTPSeeOther(f"/sms/{self.of(number).inbox_id}")

    async def _page(self, request: web.Request) -> web.Response:
        inbox = self._inbox_of(request)
        return self._render(request, "inbox.html", inbox=inbox, reply_to=inbox.reply_to())

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self._inbox_of(request).version}, headers=HEADERS)

    async def _script(self, request: web.Request) -> web.Response:
        return web.Response(text=REFRESH_SCRIPT, content_type="text/javascript", headers=HEADERS)

    async def _reply(self, request: web.Request) -> web.Response:
        inbox = self._inbox_of(request)
        text = str((await request.post()).get("text", "")).strip()[:MAX_REPLY]
        if text:
            try:
                await self.reply(inbox, text)
            except ValueError as exc:
                raise web.HTTPConflict(text=str(exc)) from None
        raise web.HTTPSeeOther(f"/sms/{inbox.inbox_id}")


# The pages' one style block (allowed by its hash) and one script file of this server ('self':
# the live refresh, which waits while a person is typing). What an SMS says is shown as text. The
# look is the virtual handset's (cards/looks.py): an SMS thread as a messaging app draws it, a
# long message joined as the phone shows it with the segments it arrived in underneath.
_SMS_CSS = """body{margin:0;min-height:100vh;display:flex;flex-direction:column}
.hs-top h1{margin:0;font-size:inherit;font-weight:inherit}
.hs-looks{display:flex;flex-wrap:wrap;gap:4px 10px;padding:4px 12px;font-size:12px;color:var(--muted)}
.hs-looks a{color:var(--accent);text-decoration:none}.hs-looks a[aria-current]{font-weight:700;text-decoration:underline}
.thread{flex:1;display:flex;flex-direction:column;gap:10px;padding:12px;max-width:560px;width:100%;margin:0 auto}
.sms{display:flex;flex-direction:column;gap:4px;max-width:86%;align-self:flex-start}
.sms.mine{align-self:flex-end;align-items:flex-end}
.sms .text{padding:10px 12px;white-space:pre-wrap;overflow-wrap:anywhere;background:var(--surface);border-radius:var(--bubble-radius)}
.sms.mine .text{background:var(--mine);color:var(--mine-ink);border-radius:var(--mine-radius)}
.sms.lost .text{outline:2px solid #d33}
.meta{color:var(--muted);font-size:11px}
.segments{margin:2px 0 0;padding:6px 8px;list-style:none;display:flex;flex-direction:column;gap:4px;border:1px dashed var(--muted);border-radius:10px;font-size:12px}
.segments li{display:flex;gap:6px;align-items:baseline}.segments .seq{flex:none;font-weight:700;color:var(--accent)}
.segments .part{white-space:pre-wrap;overflow-wrap:anywhere;color:var(--ink)}
.joined{font-size:11px;color:var(--accent)}
.sms.waiting .text{opacity:.7;font-style:italic}
.hs-list{list-style:none;margin:0 auto;padding:0;max-width:560px;width:100%}
.hs-list li a{display:flex;gap:12px;align-items:center;padding:12px;color:var(--ink);text-decoration:none;border-bottom:1px solid var(--line)}
.hs-open,.hs-empty{padding:12px;max-width:560px;width:100%;margin:0 auto}.hs-empty{color:var(--muted)}"""
STYLE = page_css() + "\n" + _SMS_CSS
SCRIPT_PATH = "/sms/static/refresh.js"
HEADERS = page_headers(STYLE)

WORDS = {
    "en": {
        "inboxes": "SMS inboxes",
        "none": "No SMS yet.",
        "open_label": "Open the inbox of a number (E.164)",
        "open": "Open",
        "all": "all inboxes",
        "you": "you",
        "lost": "not delivered (no bound receiver)",
        "reply": "Reply to",
        "send": "Send",
        "sms": "SMS",
        "joined": "long SMS: {n} segments joined",
        "waiting": "long SMS: {got} of {n} segments received",
        "light": "Light",
        "dark": "Dark",
    },
    "zh-CN": {
        "inboxes": "短信收件箱",
        "none": "还没有短信。",
        "open_label": "打开一个号码的收件箱（E.164）",
        "open": "打开",
        "all": "全部收件箱",
        "you": "我",
        "lost": "未送达（没有绑定的接收方）",
        "reply": "回复",
        "send": "发送",
        "sms": "短信",
        "joined": "长短信：由 {n} 条拼接",
        "waiting": "长短信：已收到 {got}/{n} 条",
        "light": "浅色",
        "dark": "深色",
    },
}
_PAGES = jinja2.Environment(
    autoescape=True,
    loader=jinja2.DictLoader(
        {
            "looks": LOOK_BAR,
            "index.html": """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>SMSC simulator inboxes</title><style>"""
            + STYLE
            + """</style></head><body class="{{ body_class }}">
<header class="hs-top"><div class="hs-title"><h1 class="hs-name">{{ words.inboxes }}</h1></div></header>
{% include "looks" %}
{% if not inboxes %}<p class="hs-empty">{{ words.none }}</p>{% endif %}
<ul class="hs-list">{% for i in inboxes %}<li><a href="/sms/{{ i.inbox_id }}"><span class="hs-logo" aria-hidden="true">✉</span>
<div class="hs-title"><span class="hs-name">{{ mask(i.number) }}</span><span class="hs-sub">({{ i.items|length }} SMS)</span></div></a></li>{% endfor %}</ul>
<form method="post" action="/sms" class="hs-open"><label>{{ words.open_label }}
<input name="number" placeholder="+8613800001231" maxlength="16" required></label>
<button type="submit">{{ words.open }}</button></form></body></html>""",
            "inbox.html": """<!doctype html><html lang="{{ lang }}" data-version="{{ inbox.version }}"
data-version-url="/sms/{{ inbox.inbox_id }}/version"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>SMS {{ mask(inbox.number) }}</title>
<style>"""
            + STYLE
            + '</style><script src="'
            + SCRIPT_PATH
            + """" defer></script></head><body class="{{ body_class }}">
<header class="hs-top"><a class="hs-back" href="/sms" aria-label="{{ words.all }}">‹</a><span class="hs-logo" aria-hidden="true">✉</span>
<div class="hs-title"><span class="hs-name" data-testid="sms-sender">{{ reply_to or words.sms }}</span><h1 class="hs-sub">SMS {{ mask(inbox.number) }}</h1></div></header>
{% include "looks" %}
<main class="thread">
{% if not inbox.items %}<p class="hs-empty">{{ words.none }}</p>{% endif %}
{% for item in inbox.items %}<div class="sms{% if item.mine %} mine{% endif %}{% if item.delivered == false %} lost{% endif %}" data-testid="{{ 'sms-mine' if item.mine else 'sms' }}">
<div class="meta">{% if item.mine %}{{ words.you }} → {{ item.sender }}{% if item.delivered == false %} · {{ words.lost }}{% endif %}{% else %}{{ item.sender }}{% endif %} · {{ item.at.strftime("%H:%M:%S") }}</div>
<div class="text">{{ item.text }}</div>
{% if item.segments|length > 1 %}<span class="joined" data-testid="sms-joined">{{ words.joined.format(n=item.segments|length) }}</span>
<ol class="segments" data-testid="sms-segments">{% for part in item.segments %}<li data-testid="sms-segment"><span class="seq">{{ loop.index }}/{{ loop.length }}</span><span class="part">{{ part }}</span></li>{% endfor %}</ol>{% endif %}
</div>
{% endfor %}
{% for sender, total, parts in inbox.waiting() %}<div class="sms waiting" data-testid="sms-waiting">
<div class="meta">{{ sender }}</div><span class="joined">{{ words.waiting.format(got=parts|length, n=total) }}</span>
<ol class="segments">{% for seq, part in parts|dictsort %}<li data-testid="sms-segment"><span class="seq">{{ seq }}/{{ total }}</span><span class="part">{{ part }}</span></li>{% endfor %}</ol></div>
{% endfor %}
</main>
{% if reply_to %}<form method="post" action="/sms/{{ inbox.inbox_id }}/reply" class="hs-compose">
<input name="text" maxlength="1000" autofocus aria-label="{{ words.reply }} {{ reply_to }}" placeholder="{{ words.reply }} {{ reply_to }}" data-testid="sms-reply-text">
<button type="submit" data-testid="sms-reply-send">{{ words.send }}</button></form>{% endif %}
</body></html>""",
        }
    ),
)
