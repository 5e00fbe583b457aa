"""The sandbox MaaP: the CN CSP interface on loopback, with magic-number behaviour.

It speaks what `rcs.operators.cn_csp` speaks (token, messages, revoke, media upload, the
capability check) and sends SIGNED callbacks to the platform, so the sandbox exercises the
production client. Behaviour is chosen by the number's ending, longest suffix first
(the README's table of sandbox numbers). A virtual handset page per number shows what arrived and lets a person tap
suggestions; numbers never appear in URL paths or logs. State lives in memory.

Run standalone: python -m rcs.simulator --port 8081 --callback-url http://127.0.0.1:8080/rcs
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import hmac
import logging
import random
import secrets
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
import jinja2
import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from markupsafe import Markup

from rcs.callbacks import signed_headers
from rcs.maap import BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE, SUGGESTION_RESPONSE_TYPE, TEXT_TYPE
from rcs.operators.cn_csp import CnCspSettings, is_e164
from rcs.results import Capability
from security.logs import install as install_pii_filter
from security.logs import mask_phone
from store.clock import rfc3339

log = logging.getLogger(__name__)

MAX_CAPABILITY_BATCH = 10_000  # as Google RBM's users:batchGet
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # CN media limit: video 10 MB


class Behaviour(str, enum.Enum):
    NOT_CAPABLE = "not_capable"  # 0, 9, 00
    NORMAL = "normal"  # 1–6: delivered, then displayed
    NEVER_DELIVERED = "never_delivered"  # 7
    FLAKY = "flaky"  # 8: 503 {"errorCode": -1} to the first sends, then normal


# Longest matching suffix wins; two-digit rows first.
_SUFFIXES: tuple[tuple[str, Behaviour], ...] = (
    ("00", Behaviour.NOT_CAPABLE),
    ("0", Behaviour.NOT_CAPABLE),
    ("9", Behaviour.NOT_CAPABLE),
    ("7", Behaviour.NEVER_DELIVERED),
    ("8", Behaviour.FLAKY),
)


def behaviour_of(number: str) -> Behaviour:
    """The simulated behaviour for a number, by its last digits."""
    for suffix, behaviour in _SUFFIXES:
        if number.endswith(suffix):
            return behaviour
    return Behaviour.NORMAL


def capability_of(number: str) -> Capability:
    """The simulated capability answer for a number."""
    if not is_e164(number):
        return Capability.INVALID
    if behaviour_of(number) is Behaviour.NOT_CAPABLE:
        return Capability.NOT_SUPPORTED
    return Capability.SUPPORTED


@dataclass(frozen=True)
class SimulatorTiming:
    """Delays and failure rates; tests make them tiny, load tests make the operator slow."""

    delivery_delay_s: float = 0.5  # accept → delivered
    display_delay_s: float = 1.0  # delivered → displayed
    revoke_delay_s: float = 0.2  # revoke → revokeOk (within 0.5 s)
    not_capable_delay_s: float = 0.1  # accept → failed(2) for a not-capable number
    latency_s: float = 0.0  # added to every MaaP answer
    failure_rate: float = 0.0  # share of sends answered 503 {"errorCode": -1}
    flaky_failures: int = 2  # how many sends of an …8 message get 503
    callback_batch: int = 200  # statuses per deliveryNotification request at most
    max_messages: int = 200_000  # oldest messages are forgotten beyond this
    token_lifetime_s: int = 7200


@dataclass
class SimMessage:
    message_id: str
    number: str
    handset_id: str
    parts: list[dict]
    conversation_id: str | None
    contribution_id: str | None
    reports: frozenset[str]
    state: str = "accepted"  # accepted, delivered, displayed, failed, revoked
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)


@dataclass
class Handset:
    handset_id: str
    number: str
    message_ids: list[str] = field(default_factory=list)


class RouteAccessLogger(AbstractAccessLogger):
    """Access log naming the route template, never the concrete path or query (no PII)."""

    def log(self, request, response, time):  # noqa: A002 - aiohttp's signature
        try:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "-"
        except AttributeError:
            route = "-"
        self.logger.info("%s %s %s %s %.1fms", request.remote, request.method, route, response.status, time * 1000)


def collect_suggestions(node) -> list[dict]:
    """Every suggestion in a card or chip list, in document order."""
    found: list[dict] = []

    def walk(n):
        if isinstance(n, dict):
            for key, value in n.items():
                if key == "suggestions" and isinstance(value, list):
                    found.extend(s for s in value if isinstance(s, dict))
                else:
                    walk(value)
        elif isinstance(n, list):
            for item in n:
                walk(item)

    walk(node)
    return found


def suggestion_label(s: dict) -> str:
    body = s.get("reply") or s.get("action") or {}
    return str(body.get("displayText") or "?")


def default_card_html(content_type: str, content_text: str) -> Markup:
    """A readable rendering of one message part: the card's text, media and the JSON."""
    if content_type == TEXT_TYPE:
        return Markup('<p class="text">{}</p>').format(content_text)
    try:
        data = orjson.loads(content_text)
    except orjson.JSONDecodeError:
        return Markup("<pre>{}</pre>").format(content_text)
    pieces = []
    message = data.get("message", {}) if isinstance(data, dict) else {}
    cards = []
    if "generalPurposeCard" in message:
        cards = [message["generalPurposeCard"].get("content", {})]
    elif "generalPurposeCardCarousel" in message:
        cards = message["generalPurposeCardCarousel"].get("content", [])
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, dict):
            continue
        media = card.get("media") or {}
        block = Markup('<div class="card">')
        if media.get("mediaUrl"):
            block += Markup('<div class="media">[{}] {}</div>').format(
                media.get("mediaContentType", "media"), media["mediaUrl"]
            )
        if card.get("title"):
            block += Markup("<h3>{}</h3>").format(card["title"])
        if card.get("description"):
            block += Markup("<p>{}</p>").format(card["description"])
        pieces.append(block + Markup("</div>"))
    pretty = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    pieces.append(Markup("<details><summary>{}</summary><pre>{}</pre></details>").format(content_type, pretty))
    return Markup("").join(pieces)


_PAGES = jinja2.Environment(
    autoescape=True,
    loader=jinja2.DictLoader(
        {
            "index.html": """<!doctype html><html><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>MaaP simulator handsets</title></head><body>
<h1>Virtual handsets</h1>
{% if not handsets %}<p>No messages yet.</p>{% endif %}
<ul>{% for h in handsets %}<li><a href="/handset/{{ h.handset_id }}">{{ mask(h.number) }}</a>
({{ h.message_ids|length }} messages)</li>{% endfor %}</ul></body></html>""",
            "handset.html": """<!doctype html><html><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>{{ mask(handset.number) }}</title>
<style>.msg{border:1px solid #ccc;border-radius:8px;margin:1em 0;padding:.5em}
.card{background:#f6f6f6;padding:.5em} button{margin:.2em}</style></head><body>
<p><a href="/handset">all handsets</a></p><h1>{{ mask(handset.number) }}</h1>
{% for m in messages %}<div class="msg" id="m-{{ m.message_id }}">
<div class="meta">{{ m.message_id }} — {{ m.state }}</div>
{% for part in m.parts %}{{ render(part.get("contentType", ""), part.get("contentText", "")) }}{% endfor %}
{% for s in suggestions(m) %}<form method="post" action="/handset/{{ handset.handset_id }}/tap" style="display:inline">
<input type="hidden" name="message_id" value="{{ m.message_id }}"><input type="hidden" name="index" value="{{ loop.index0 }}">
<button type="submit">{{ label(s) }}</button></form>{% endfor %}
{% for t in m.taps %}<div class="tap">tapped: {{ t }}</div>{% endfor %}
</div>{% endfor %}
<form method="post" action="/handset/{{ handset.handset_id }}/reply">
<input name="text" maxlength="2000"><button type="submit">Send reply</button></form>
</body></html>""",
        }
    ),
)


# The sandbox chatbot's identity and credentials (public by design: they open only the simulator).
SANDBOX_CHATBOT_ID = "sip:hongyan@botplatform.sandbox.local"
SANDBOX_APP_ID = "sandbox-app"
SANDBOX_APP_KEY = "sandbox-key"
SANDBOX_CALLBACK_TOKEN = "sandbox-callback-token"


class MaapSimulator:
    """An in-process MaaP on loopback speaking the CN CSP interface (see module doc)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_base_url: str | None = None,
        callback_token: str = SANDBOX_CALLBACK_TOKEN,
        *,
        app_id: str = SANDBOX_APP_ID,
        app_key: str = SANDBOX_APP_KEY,
        chatbot_id: str = SANDBOX_CHATBOT_ID,
        api_version: str = "v1",
        timing: SimulatorTiming = SimulatorTiming(),
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        render_card: Callable[[str, str], str] = default_card_html,
        id_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
    ):
        self.host, self.port = host, port
        self.callback_base_url = callback_base_url.rstrip("/") if callback_base_url else None
        self.callback_token = callback_token
        self.app_id, self.app_key = app_id, app_key
        self.chatbot_id = chatbot_id
        self.api_version = api_version
        self.timing = timing
        self.clock = clock
        self.rng = rng or random.Random()
        self.render_card = render_card
        self.new_id = id_factory
        self.messages: dict[str, SimMessage] = {}
        self.handsets: dict[str, Handset] = {}
        self._handset_by_number: dict[str, str] = {}
        self._send_attempts: dict[str, int] = {}
        self._token: str | None = None
        self._token_expires = 0.0
        self.tokens_issued = 0
        self.media: dict[str, tuple[bytes, str]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.callbacks_sent = 0
        self.callbacks_failed = 0
        self._outbox: list[dict] = []
        self._outbox_ready = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client_settings(self) -> CnCspSettings:
        """Settings for `CnCspMaap` pointing at this simulator."""
        return CnCspSettings(
            server_root=f"{self.host}:{self.port}",
            chatbot_id=self.chatbot_id,
            app_id=self.app_id,
            app_key=self.app_key,
            api_version=self.api_version,
            scheme="http",
        )

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 64 * 1024)
        bot = f"/bot/{self.api_version}/{{chatbotId}}"
        app.add_routes(
            [
                web.post(f"{bot}/accessToken", self._access_token),
                web.post(f"{bot}/messages", self._messages),
                web.post(f"{bot}/revoke", self._revoke),
                web.post(f"{bot}/medias/upload", self._upload),
                web.post(f"{bot}/capabilities", self._capability),
                web.post(f"{bot}/capabilities/batch", self._capabilities),
                web.get("/media/{media_id}", self._download),
                web.get("/handset", self._handset_index),
                web.get("/handset/message/{message_id}", self._handset_for_message),
                web.get("/handset/{handset_id}", self._handset_page),
                web.post("/handset/{handset_id}/tap", self._tap),
                web.post("/handset/{handset_id}/reply", self._reply),
            ]
        )
        return app

    async def start(self) -> None:
        """Serve on host:port (port 0 picks a free one; `self.port` then holds it)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=64)
        )
        self._runner = web.AppRunner(self.make_app(), access_log_class=RouteAccessLogger)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._spawn(self._flush_statuses())
        log.info("MaaP simulator on %s", self.url)

    async def stop(self) -> None:
        for m in self.messages.values():
            for t in m.timers:
                t.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> MaapSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _answer(status: int, body: dict, headers: dict | None = None) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return self._answer(status, {"errorCode": code, "errorMessage": message})

    def _authorised(self, request: web.Request) -> web.Response | None:
        if request.match_info["chatbotId"] != self.chatbot_id:
            return self._error(404, 40005, "unknown chatbot")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "accesstoken" or not self._token or not hmac.compare_digest(token, self._token):
            return self._error(401, 40001, "invalid accessToken")
        if self.clock() >= self._token_expires:
            return self._error(401, 42001, "accessToken expired")
        return None

    async def _json(self, request: web.Request) -> dict | None:
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    async def _latency(self) -> None:
        if self.timing.latency_s > 0:
            await asyncio.sleep(self.timing.latency_s)

    def _later(self, message: SimMessage, delay: float, fn: Callable[[], None]) -> None:
        message.timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _now_iso(self) -> str:
        return rfc3339(datetime.fromtimestamp(self.clock(), UTC))

    def _forget_oldest(self) -> None:
        """Bound memory on long load runs: drop the oldest message (and an emptied handset)."""
        old = self.messages.pop(next(iter(self.messages)))
        for t in old.timers:
            t.cancel()
        handset = self.handsets[old.handset_id]
        handset.message_ids.remove(old.message_id)
        if not handset.message_ids:
            del self.handsets[handset.handset_id]
            del self._handset_by_number[handset.number]

    def _handset(self, number: str) -> Handset:
        hid = self._handset_by_number.get(number)
        if hid is None:
            hid = secrets.token_urlsafe(9)
            self._handset_by_number[number] = hid
            self.handsets[hid] = Handset(hid, number)
        return self.handsets[hid]

    # -- outbound callbacks -----------------------------------------------------------------

    async def _callback(self, path: str, body: dict) -> bool:
        """POST a signed callback to the platform, retrying a few times."""
        if self.callback_base_url is None or self._session is None:
            return False
        url = f"{self.callback_base_url}/{path}"
        raw = orjson.dumps(body)
        for attempt in range(3):
            headers = {"content-type": "application/json", **signed_headers(self.callback_token, self.clock())}
            try:
                async with self._session.post(url, data=raw, headers=headers) as resp:
                    await resp.read()
                    if resp.status < 300:
                        self.callbacks_sent += 1
                        return True
                    if 400 <= resp.status < 500:
                        break  # the platform refused it; repeating will not help
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.05 * 2**attempt)
        self.callbacks_failed += 1
        log.warning("callback to %s failed", path.split("/", 1)[0])
        return False

    def _status(self, message: SimMessage, status: str, error_code: int | None = None, error: str = "") -> None:
        if status not in ("failed", "revokeOk", "revokeFail") and status not in message.reports:
            return
        info = {
            "messageId": message.message_id,
            "status": status,
            "dateTime": self._now_iso(),
            "destinationAddress": f"tel:{message.number}",
        }
        if error_code is not None:
            info["errorCode"] = error_code
            info["errorMessage"] = error
        self._outbox.append(info)
        self._outbox_ready.set()

    async def _flush_statuses(self) -> None:
        """Send queued statuses as deliveryInfoList batches, one request at a time, so the
        statuses of a message arrive in the order they happened."""
        path = f"deliveryNotification/{quote(self.chatbot_id, safe='')}/status"
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = self._outbox[: self.timing.callback_batch]
                del self._outbox[: len(batch)]
                await self._callback(path, {"deliveryInfoList": batch})

    def _deliver(self, message: SimMessage) -> None:
        if message.state != "accepted":
            return
        message.state = "delivered"
        self._status(message, "delivered")
        self._later(message, self.timing.display_delay_s, lambda: self._display(message))

    def _display(self, message: SimMessage) -> None:
        if message.state == "delivered":
            message.state = "displayed"
            self._status(message, "displayed")

    def _fail_not_capable(self, message: SimMessage) -> None:
        if message.state == "accepted":
            message.state = "failed"
            self._status(message, "failed", 2, "not a 5G message terminal")

    # -- the MaaP interface ----------------------------------------------------------------

    async def _access_token(self, request: web.Request) -> web.Response:
        await self._latency()
        if request.match_info["chatbotId"] != self.chatbot_id:
            return self._error(404, 40005, "unknown chatbot")
        body = await self._json(request) or {}
        if body.get("appId") != self.app_id or body.get("appKey") != self.app_key:
            return self._error(401, 40014, "invalid appId or appKey")
        # A new token invalidates the previous one (CSP interface V1.0.4).
        self._token = secrets.token_urlsafe(24)
        self._token_expires = self.clock() + self.timing.token_lifetime_s
        self.tokens_issued += 1
        return self._answer(200, {"errorCode": 0, "accessToken": self._token, "expires": self.timing.token_lifetime_s})

    async def _messages(self, request: web.Request) -> web.Response:
        await self._latency()
        if (denied := self._authorised(request)) is not None:
            return denied
        body = await self._json(request)
        if body is None:
            return self._error(400, 40005, "body must be a JSON object")
        mid = body.get("messageId")
        dest = body.get("destinationAddress")
        parts = body.get("messageList")
        if not isinstance(mid, str) or not mid:
            return self._error(400, 40005, "messageId required")
        if not (isinstance(dest, list) and len(dest) == 1 and isinstance(dest[0], str) and dest[0].startswith("tel:")):
            return self._error(400, 40006, "destinationAddress must hold one tel: URI")
        number = dest[0][4:]
        if not is_e164(number):
            return self._error(400, 40006, "destinationAddress is not a valid number")
        if (
            not isinstance(parts, list)
            or not parts
            or not all(
                isinstance(p, dict)
                and isinstance(p.get("contentType"), str)
                and isinstance(p.get("contentText"), (str, list))
                for p in parts
            )
        ):
            return self._error(400, 40007, "messageList must hold contentType/contentText entries")
        if mid in self.messages:  # a repeated send of an accepted message is answered, not redone
            return self._answer(200, {"errorCode": 0, "messageId": mid})
        behaviour = behaviour_of(number)
        if behaviour is Behaviour.FLAKY:
            attempts = self._send_attempts.get(mid, 0) + 1
            self._send_attempts[mid] = attempts
            if attempts <= self.timing.flaky_failures:
                return self._error(503, -1, "system busy")
        if self.timing.failure_rate > 0 and self.rng.random() < self.timing.failure_rate:
            return self._error(503, -1, "system busy")
        reports = body.get("reportRequest")
        handset = self._handset(number)
        message = SimMessage(
            message_id=mid,
            number=number,
            handset_id=handset.handset_id,
            parts=parts,
            conversation_id=body.get("conversationId"),
            contribution_id=body.get("contributionId"),
            reports=frozenset(reports) if isinstance(reports, list) else frozenset({"delivered", "displayed"}),
        )
        self._send_attempts.pop(mid, None)
        self.messages[mid] = message
        handset.message_ids.append(mid)
        if len(self.messages) > self.timing.max_messages:
            self._forget_oldest()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("accepted %s for %s (%s)", mid, mask_phone(number), behaviour.value)
        if behaviour is Behaviour.NOT_CAPABLE:
            self._later(message, self.timing.not_capable_delay_s, lambda: self._fail_not_capable(message))
        elif behaviour is not Behaviour.NEVER_DELIVERED:
            self._later(message, self.timing.delivery_delay_s, lambda: self._deliver(message))
        return self._answer(200, {"errorCode": 0, "messageId": mid})

    async def _revoke(self, request: web.Request) -> web.Response:
        await self._latency()
        if (denied := self._authorised(request)) is not None:
            return denied
        body = await self._json(request) or {}
        message = self.messages.get(body.get("messageId") or "")
        if message is None:
            return self._error(404, 40005, "unknown messageId")
        if message.state == "accepted":
            for t in message.timers:
                t.cancel()
            message.state = "revoked"
            self._later(message, self.timing.revoke_delay_s, lambda: self._status(message, "revokeOk"))
        else:
            self._later(message, self.timing.revoke_delay_s, lambda: self._status(message, "revokeFail"))
        return self._answer(200, {"errorCode": 0, "messageId": message.message_id})

    async def _upload(self, request: web.Request) -> web.Response:
        await self._latency()
        if (denied := self._authorised(request)) is not None:
            return denied
        if not request.content_type.startswith("multipart/"):
            return self._error(400, 40005, "multipart/form-data expected")
        infos = []
        reader = await request.multipart()
        until = request.headers.get("UploadMode", "temp")
        async for part in reader:
            data = await part.read(decode=False)
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            media_id = self.new_id()
            self.media[media_id] = (bytes(data), ctype)
            infos.append(
                {
                    "type": "thumbnail" if part.name == "thumbnail" else "file",
                    "url": f"{self.url}/media/{media_id}",
                    "contentType": ctype,
                    "fileSize": len(data),
                    "fileName": part.filename,
                    "until": None if until == "perm" else self._now_iso(),
                }
            )
        if not any(i["type"] == "file" for i in infos):
            return self._error(400, 40005, "no file part")
        return self._answer(200, {"errorCode": 0, "fileInfo": infos})

    async def _download(self, request: web.Request) -> web.Response:
        item = self.media.get(request.match_info["media_id"])
        if item is None:
            raise web.HTTPNotFound()
        return web.Response(body=item[0], content_type=item[1])

    async def _capability(self, request: web.Request) -> web.Response:
        await self._latency()
        if (denied := self._authorised(request)) is not None:
            return denied
        body = await self._json(request) or {}
        number = body.get("phoneNumber")
        if not isinstance(number, str):
            return self._error(400, 40005, "phoneNumber required")
        return self._answer(200, {"errorCode": 0, "capability": capability_of(number).value})

    async def _capabilities(self, request: web.Request) -> web.Response:
        await self._latency()
        if (denied := self._authorised(request)) is not None:
            return denied
        body = await self._json(request) or {}
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return self._error(400, 40005, "phoneNumbers must be a list of strings")
        if len(numbers) > MAX_CAPABILITY_BATCH:
            return self._error(400, 40006, f"at most {MAX_CAPABILITY_BATCH} numbers a request")
        answers = [{"phoneNumber": n, "capability": capability_of(n).value} for n in numbers]
        return self._answer(200, {"errorCode": 0, "capabilities": answers})

    # -- virtual handsets ---------------------------------------------------------------------

    def _page(self, name: str, **ctx) -> web.Response:
        html = _PAGES.get_template(name).render(mask=mask_phone, **ctx)
        return web.Response(text=html, content_type="text/html", headers={"X-Robots-Tag": "noindex"})

    async def _handset_index(self, request: web.Request) -> web.Response:
        return self._page("index.html", handsets=list(self.handsets.values()))

    async def _handset_for_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            raise web.HTTPNotFound()
        raise web.HTTPSeeOther(f"/handset/{message.handset_id}#m-{message.message_id}")

    async def _handset_page(self, request: web.Request) -> web.Response:
        handset = self.handsets.get(request.match_info["handset_id"])
        if handset is None:
            raise web.HTTPNotFound()
        messages = [self.messages[m] for m in handset.message_ids if m in self.messages]

        def render(ctype: str, text) -> Markup:
            if not isinstance(text, str):
                text = orjson.dumps(text).decode()
            return Markup(self.render_card(ctype, text))

        return self._page(
            "handset.html",
            handset=handset,
            messages=messages,
            render=render,
            suggestions=self.suggestions_of,
            label=suggestion_label,
        )

    def suggestions_of(self, message: SimMessage) -> list[dict]:
        """The suggestions a message offers, from its card and chip-list parts."""
        found = []
        for part in message.parts:
            if part.get("contentType") in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE) and isinstance(
                part.get("contentText"), str
            ):
                try:
                    found.extend(collect_suggestions(orjson.loads(part["contentText"])))
                except orjson.JSONDecodeError:
                    continue
        return found

    def _user_body(
        self, handset: Handset, content_type: str, content_text: str, in_reply_to: SimMessage | None
    ) -> dict:
        body = {
            "messageId": self.new_id(),
            "senderAddress": f"tel:{handset.number}",
            "destinationAddress": self.chatbot_id,
            "dateTime": self._now_iso(),
            "contributionId": self.new_id(),
            "messageList": [{"contentType": content_type, "contentText": content_text}],
        }
        if in_reply_to is not None:
            body["conversationId"] = in_reply_to.conversation_id
            body["inReplyToContributionId"] = in_reply_to.contribution_id
        return body

    async def _send_user_message(self, body: dict) -> bool:
        return await self._callback(f"messageNotification/{quote(self.chatbot_id, safe='')}/messages", body)

    async def tap(self, message_id: str, index: int) -> bool:
        """Tap suggestion `index` of a message on its handset: a signed suggestion-response
        callback to the platform. True when the platform took it."""
        message = self.messages[message_id]
        suggestion = self.suggestions_of(message)[index]
        kind = "reply" if "reply" in suggestion else "action"
        chosen = suggestion[kind]
        response = {kind: {k: v for k, v in chosen.items() if k in ("displayText", "postback")}}
        content = orjson.dumps({"response": response}).decode()
        handset = self.handsets[message.handset_id]
        ok = await self._send_user_message(self._user_body(handset, SUGGESTION_RESPONSE_TYPE, content, message))
        message.taps.append(f"{chosen.get('displayText', '?')} ({'delivered' if ok else 'callback failed'})")
        return ok

    async def _tap(self, request: web.Request) -> web.Response:
        handset = self.handsets.get(request.match_info["handset_id"])
        if handset is None:
            raise web.HTTPNotFound()
        form = await request.post()
        mid = str(form.get("message_id", ""))
        try:
            index = int(str(form.get("index", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="index must be a number") from None
        message = self.messages.get(mid)
        if message is None or message.handset_id != handset.handset_id:
            raise web.HTTPNotFound()
        if not 0 <= index < len(self.suggestions_of(message)):
            raise web.HTTPBadRequest(text="no such suggestion")
        await self.tap(mid, index)
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}#m-{mid}")

    async def _reply(self, request: web.Request) -> web.Response:
        handset = self.handsets.get(request.match_info["handset_id"])
        if handset is None:
            raise web.HTTPNotFound()
        text = str((await request.post()).get("text", "")).strip()
        if text:
            last = self.messages[handset.message_ids[-1]] if handset.message_ids else None
            await self._send_user_message(self._user_body(handset, TEXT_TYPE, text, last))
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rcs.simulator", description="Sandbox MaaP simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--callback-url", default=None, help="platform base URL for callbacks")
    p.add_argument("--callback-token", default=SANDBOX_CALLBACK_TOKEN)
    p.add_argument("--app-id", default=SANDBOX_APP_ID)
    p.add_argument("--app-key", default=SANDBOX_APP_KEY)
    p.add_argument("--chatbot-id", default="sip:hongyan@botplatform.sandbox.local")
    p.add_argument("--delivery-delay", type=float, default=0.5)
    p.add_argument("--display-delay", type=float, default=1.0)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--failure-rate", type=float, default=0.0)
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = MaapSimulator(
        args.host,
        args.port,
        args.callback_url,
        args.callback_token,
        app_id=args.app_id,
        app_key=args.app_key,
        chatbot_id=args.chatbot_id,
        timing=SimulatorTiming(
            delivery_delay_s=args.delivery_delay,
            display_delay_s=args.display_delay,
            latency_s=args.latency,
            failure_rate=args.failure_rate,
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"MaaP simulator on {sim.url} (chatbot {sim.chatbot_id})", flush=True)
        await stop.wait()


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_pii_filter()  # a second line of defence: nothing we log should carry a number
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
