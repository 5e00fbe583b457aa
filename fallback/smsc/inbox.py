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

from api.livepage import REFRESH_SCRIPT, page_headers
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
            self.add(SmsItem(sender, text, at))
            return
        ref, total, seq = concat
        key = (sender, ref, total)
        parts = self.partial.setdefault(key, {})
        parts[seq] = text
        if len(parts) >= total:
            del self.partial[key]
            self.add(SmsItem(sender, "".join(parts[i] for i in sorted(parts)), at))
        while len(self.partial) > MAX_PARTIAL:
            self.partial.popitem(last=False)

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
    def _render(name: str, **ctx) -> web.Response:
        html = _PAGES.get_template(name).render(mask=mask_phone, **ctx)
        return web.Response(text=html, content_type="text/html", headers=HEADERS)

    async def _index(self, request: web.Request) -> web.Response:
        return self._render("index.html", inboxes=list(self.inboxes.values()))

    async def _open(self, request: web.Request) -> web.Response:
        number = str((await request.post()).get("number", "")).strip().replace(" ", "")
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            raise web.HTTPBadRequest(text="a number in E.164 form, e.g. +8613800001231")
        raise web.HTTPSeeOther(f"/sms/{self.of(number).inbox_id}")

    async def _page(self, request: web.Request) -> web.Response:
        inbox = self._inbox_of(request)
        return self._render("inbox.html", inbox=inbox, reply_to=inbox.reply_to())

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
# the live refresh, which waits while a person is typing). What an SMS says is shown as text.
STYLE = """.sms{border:1px solid #ccc;border-radius:8px;margin:.6em 0;padding:.5em;max-width:36em;white-space:pre-wrap}
.sms.mine{margin-left:auto;background:#e7f3ff;border-color:#9cc8f0} .sms.lost{border-color:#d33}
.meta{color:#666;font-size:.85em} input[name=text]{width:24em}"""
SCRIPT_PATH = "/sms/static/refresh.js"
HEADERS = page_headers(STYLE)

_PAGES = jinja2.Environment(
    autoescape=True,
    loader=jinja2.DictLoader(
        {
            "index.html": """<!doctype html><html><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>SMSC simulator inboxes</title></head><body>
<h1>SMS inboxes</h1>
{% if not inboxes %}<p>No SMS yet.</p>{% endif %}
<ul>{% for i in inboxes %}<li><a href="/sms/{{ i.inbox_id }}">{{ mask(i.number) }}</a>
({{ i.items|length }} SMS)</li>{% endfor %}</ul>
<form method="post" action="/sms"><label>Open the inbox of a number (E.164)
<input name="number" placeholder="+8613800001231" maxlength="16" required></label>
<button type="submit">Open</button></form></body></html>""",
            "inbox.html": """<!doctype html><html data-version="{{ inbox.version }}"
data-version-url="/sms/{{ inbox.inbox_id }}/version"><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>SMS {{ mask(inbox.number) }}</title>
<style>"""
            + STYLE
            + '</style><script src="'
            + SCRIPT_PATH
            + """" defer></script></head><body>
<p><a href="/sms">all inboxes</a></p><h1>SMS {{ mask(inbox.number) }}</h1>
{% if not inbox.items %}<p>No SMS yet.</p>{% endif %}
{% for item in inbox.items %}<div class="sms{% if item.mine %} mine{% endif %}{% if item.delivered == false %} lost{% endif %}" data-testid="{{ 'sms-mine' if item.mine else 'sms' }}">
<div class="meta">{% if item.mine %}you → {{ item.sender }}{% if item.delivered == false %} · not delivered (no bound receiver){% endif %}{% else %}{{ item.sender }}{% endif %} · {{ item.at.strftime("%H:%M:%S") }}</div>
<div class="text">{{ item.text }}</div></div>
{% endfor %}
{% if reply_to %}<form method="post" action="/sms/{{ inbox.inbox_id }}/reply">
<label>Reply to {{ reply_to }} <input name="text" maxlength="1000" autofocus data-testid="sms-reply-text"></label>
<button type="submit" data-testid="sms-reply-send">Send</button></form>{% endif %}
</body></html>""",
        }
    ),
)
