"""What every Chinese SMS gateway client shares (CMPP, SMGP, SGIP): one supervised connection
that logs in and is kept alive (or, `on_demand`, made again only when a submit needs it),
requests written in a window and matched to their answers by sequence number, a pause for the
whole connection on a flow-control answer, the parts of a long message submitted one by one, and
their receipts rolled up per message (`fallback.receipts`).

A protocol module subclasses `GatewayClient` with its PDUs: the login and how to judge its
answer, one submit per part, how to read a submit's answer, and what to do with a request the
gateway sends (a deliver: a receipt or a mobile-originated message). As with SMPP, a part that
went on the wire and got no answer is never resubmitted here: the submit fails *in doubt*.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fallback.framing import FrameWriter
from fallback.gateways.pdu import Pdu, PduError, Protocol
from fallback.receipts import ReceiptBook, Tracked
from fallback.route import BeforeWrite, InboundSms, MessageOutcome, SubmitError, SubmitResult, route_options
from fallback.segmentation import GSM7, Segmentation, segment_sms
from fallback.udh import concat_udh

log = logging.getLogger("hongyan.gateways")
CHINA = ZoneInfo("Asia/Shanghai")  # the gateways' timestamps are China time


_TEXT_CODECS = {0: "ascii", 8: "utf-16-be", 15: "gbk"}


@dataclass(frozen=True)
class PartReceipt:
    message_id: str
    stat: str
    err: str | None = None


# A report's stat beyond the standard ones is a gateway's own error code (MA:0001, MK:0005, …):
# the part will not arrive.
STANDARD_STATS = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"})


def part_receipt(message_id: str, stat: str, err: str | None = None) -> PartReceipt:
    """A report as a receipt: a gateway's own error code becomes UNDELIV with that code."""
    if stat in STANDARD_STATS:
        return PartReceipt(message_id, stat, err)
    return PartReceipt(message_id, "UNDELIV", stat)


def terminal_id(e164: str) -> str:
    """A number as the gateways' terminal ids carry it: Chinese mobiles as their 11 national digits,
    other numbers as their international digits."""
    digits = e164.lstrip("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def e164_of(terminal: str) -> str:
    digits = terminal.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return "+" + digits


def decode_content(content: bytes, fmt: int) -> str:
    """A deliver's content as text by its format (0 ASCII, 8 UCS-2, 15 GBK, the same numbers
    in CMPP, SGIP and SMGP; binary as Latin-1)."""
    return content.decode(_TEXT_CODECS.get(fmt, "latin-1"), errors="replace")


def part_payloads(seg: Segmentation, reference: int) -> tuple[bool, list[bytes]]:
    """Whether a message's parts go as ASCII (else UCS-2), and each part's content, with a
    concatenation UDH when there are several."""
    ascii_text = seg.encoding == GSM7
    total = len(seg.parts)
    payloads = []
    for number, part in enumerate(seg.parts, start=1):
        content = part.text.encode("ascii" if ascii_text else "utf-16-be")
        payloads.append(concat_udh(reference, total, number) + content if total > 1 else content)
    return ascii_text, payloads


# The tuning options a routes file may give any gateway route (GatewayClient's keywords).
TUNING: dict[str, Callable[[Any], Any]] = {
    "window": int,
    "keepalive_interval": float,
    "response_timeout": float,
    "submit_timeout": float,
    "reconnect_delay": float,
    "max_reconnect_delay": float,
    "throttle_delay": float,
    "max_throttle_delay": float,
}


class GatewayError(SubmitError):
    """A submit was refused or failed; `status` is the gateway's result code (or "timeout"…)."""


@dataclass(frozen=True)
class Answer:
    """A submit's answer as the protocol reads it."""

    ok: bool
    part_id: str = ""
    status: object = 0
    throttled: bool = False
    transient: bool = False
    text: str = ""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: FrameWriter
    pending: dict[Any, asyncio.Future] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class ConnectionLost(Exception):
    def __init__(self, message: str = "connection closed", *, written: bool = False):
        super().__init__(message)
        self.written = written


class GatewayClient:
    """A client connected to one gateway. Subclasses give `protocol`, `login`, `login_error`,
    `submit_parts`, `read_answer` and `answer_request`."""

    protocol: Protocol
    keepalive = "active_test"
    goodbye = ""  # the PDU that ends a session politely ("" none)
    # Connect again only when there is something to send once a session that logged in has
    # ended (SGIP: gateways close idle connections; the protocol has no heartbeat).
    on_demand = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        window: int = 16,
        keepalive_interval: float = 30.0,
        response_timeout: float = 10.0,
        submit_timeout: float = 60.0,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 30.0,
        throttle_delay: float = 0.1,
        max_throttle_delay: float = 10.0,
        receipt_ttl: float = 72 * 3600.0,
        on_outcome: Callable[[MessageOutcome], Awaitable[None] | None] | None = None,
        on_inbound: Callable[[InboundSms], Awaitable[None] | None] | None = None,
        on_throttle: Callable[[], None] | None = None,
        reference_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(CHINA),
        rng: random.Random | None = None,
    ):
        self.host, self.port = host, port
        self.keepalive_interval, self.response_timeout = keepalive_interval, response_timeout
        self.submit_timeout = submit_timeout
        self.reconnect_delay, self.max_reconnect_delay = reconnect_delay, max_reconnect_delay
        self.throttle_delay, self.max_throttle_delay = throttle_delay, max_throttle_delay
        self._on_outcome, self._on_inbound = on_outcome, on_inbound
        self.on_throttle = on_throttle
        self._new_reference, self._clock, self.now = reference_factory, clock, now
        self._rng = rng or random.Random()
        self._window = asyncio.Semaphore(window)
        self.outcomes: asyncio.Queue[MessageOutcome] = asyncio.Queue()
        self.inbound: asyncio.Queue[InboundSms] = asyncio.Queue()
        self.receipts = ReceiptBook(
            lambda outcome: self.hand_on(self._on_outcome, self.outcomes, outcome), clock, receipt_ttl=receipt_ttl
        )
        self._conn: _Connection | None = None
        self._bound = asyncio.Event()
        self._wanted = asyncio.Event()
        self._wanted.set()  # the first connection is made at start
        self._stopping = False
        self._supervisor: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._seq = 0
        self._concat_ref = self._rng.randrange(256)
        self._throttled_until = 0.0
        self._throttled_at = 0.0
        self._throttle_streak = 0
        self.counts = {"logins": 0, "submitted": 0, "throttled": 0, "receipts": 0}

    # --- what a protocol gives ----------------------------------------------------------------

    def login(self) -> tuple[str, dict]:
        """The login PDU's name and fields."""
        raise NotImplementedError

    def login_error(self, sent: dict, answer: Pdu) -> str | None:
        """Why the gateway refused the login (None: logged in)."""
        raise NotImplementedError

    def submit_parts(self, dest: str, source: str, seg: Segmentation, reference: int) -> list[tuple[str, dict]]:
        """One submit PDU (name, fields) per part of the message."""
        raise NotImplementedError

    def read_answer(self, answer: Pdu) -> Answer:
        raise NotImplementedError

    def answer_request(self, pdu: Pdu) -> tuple[str, dict] | None:
        """Handle a request the gateway sent (a deliver, …); return the answer to write."""
        raise NotImplementedError

    def next_sequence(self) -> Any:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def segment(self, text: str) -> Segmentation:
        """The parts a text goes in: GSM-7 sized as ASCII when it is ASCII, else UCS-2."""
        return segment_sms(text, "gsm", ucs2=not text.isascii())

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def start(self) -> None:
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_bound(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._bound.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        conn = self._conn
        if conn is not None and self.bound and self.goodbye:
            try:
                await self._request(conn, self.goodbye, {}, min(1.0, self.response_timeout))
            except (TimeoutError, ConnectionLost, OSError):
                pass
        if conn is not None:
            conn.writer.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> GatewayClient:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping:
            await self._wanted.wait()
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.warning("%s connect to %s:%d failed: %s", self.protocol.name, self.host, self.port, exc)
            else:
                conn = _Connection(reader, FrameWriter(writer))
                try:
                    if await self._run_connection(conn):
                        delay = self.reconnect_delay
                        if self.on_demand:
                            self._wanted.clear()
                            continue
                except Exception:
                    log.exception("%s connection to %s:%d failed", self.protocol.name, self.host, self.port)
            if self._stopping:
                break
            await asyncio.sleep(delay * self._rng.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _run_connection(self, conn: _Connection) -> bool:
        reader_task = asyncio.get_running_loop().create_task(self._read_loop(conn))
        keepalive: asyncio.Task | None = None
        bound = False
        try:
            name, fields = self.login()
            answer = await self._request(conn, name, fields)
            error = self.login_error(fields, answer)
            if error is not None:
                log.error("%s login to %s:%d refused: %s", self.protocol.name, self.host, self.port, error)
                return False
            bound = True
            self._conn = conn
            self.counts["logins"] += 1
            self._bound.set()
            keepalive = asyncio.get_running_loop().create_task(self._keep_alive(conn))
            await conn.closed.wait()
        except (TimeoutError, ConnectionLost, OSError) as exc:
            log.warning("%s connection lost: %s", self.protocol.name, exc or type(exc).__name__)
        finally:
            self._bound.clear()
            if self._conn is conn:
                self._conn = None
            for task in (reader_task, keepalive):
                if task is not None:
                    task.cancel()
            conn.writer.close()
            conn.closed.set()
            self._fail_pending(conn)
        return bound

    def _fail_pending(self, conn: _Connection) -> None:
        for future in conn.pending.values():
            if not future.done():
                future.set_exception(ConnectionLost())
        conn.pending.clear()

    async def _keep_alive(self, conn: _Connection) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval)
            try:
                await self._request(conn, self.keepalive, {})
            except (TimeoutError, ConnectionLost, OSError):
                log.warning("%s %s unanswered; reconnecting", self.protocol.name, self.keepalive)
                conn.writer.abort()
                conn.closed.set()
                return

    # --- wire ---------------------------------------------------------------------------------

    async def _request(self, conn: _Connection, name: str, fields: dict, timeout: float | None = None) -> Pdu:
        if conn.closed.is_set():
            raise ConnectionLost()
        seq = self.next_sequence()
        frame = self.protocol.encode(name, seq, fields)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        conn.pending[seq] = future
        timer = loop.call_later(timeout or self.response_timeout, _expire, future)
        try:
            ticket = conn.writer.send(frame)
            if not ticket:
                raise ConnectionLost("connection closing")
            try:
                await conn.writer.drain()
                return await future
            except (ConnectionLost, ConnectionError) as exc:
                raise ConnectionLost(type(exc).__name__, written=conn.writer.was_written(ticket)) from None
        finally:
            timer.cancel()
            conn.pending.pop(seq, None)

    async def _read_loop(self, conn: _Connection) -> None:
        try:
            while True:
                header = await conn.reader.readexactly(4)
                frame = header + await conn.reader.readexactly(self.protocol.frame_length(header) - 4)
                self._dispatch(conn, frame)
        except (asyncio.IncompleteReadError, ConnectionError, PduError) as exc:
            log.info("%s connection closed: %s", self.protocol.name, exc or type(exc).__name__)
        except Exception:
            log.exception("%s read loop failed; dropping the connection", self.protocol.name)
        finally:
            conn.closed.set()
            self._fail_pending(conn)

    def _dispatch(self, conn: _Connection, frame: bytes) -> None:
        pdu = self.protocol.decode(frame)
        if pdu.definition.command_id & 0x80000000:
            future = conn.pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        answer = self.answer_request(pdu)
        if answer is not None:
            conn.writer.send(self.protocol.encode(answer[0], pdu.sequence, answer[1]))
        if pdu.name in ("terminate", "exit", "unbind"):
            conn.closed.set()

    # --- submitting ---------------------------------------------------------------------------

    async def submit(
        self,
        dest_e164: str,
        text: str,
        source_addr: str,
        *,
        reference: str | None = None,
        segmentation: Segmentation | None = None,
        before_write: BeforeWrite | None = None,
    ) -> SubmitResult:
        """Send `text` to `dest_e164` part by part; returns once every part is accepted. The
        rolled-up receipt comes later as a `MessageOutcome` under `reference`."""
        seg = segmentation or self.segment(text)
        reference = reference or self._new_reference()
        self._concat_ref = (self._concat_ref + 1) % 256
        parts = self.submit_parts(dest_e164, source_addr, seg, self._concat_ref)
        tracked = self.receipts.open(reference, len(parts))
        deadline = asyncio.get_running_loop().time() + self.submit_timeout
        latency = 0.0
        try:
            for index, (name, fields) in enumerate(parts):
                part_id, took = await self._submit_part(
                    name, fields, deadline, tracked, before_write if index == 0 else None
                )
                latency += took
                self.receipts.register(tracked, index, part_id)
        except BaseException:
            self.receipts.forget(tracked)
            raise
        self.counts["submitted"] += 1
        return SubmitResult(reference, tuple(i or "" for i in tracked.ids), seg, latency)

    async def _submit_part(
        self, name: str, fields: dict, deadline: float, tracked: Tracked, before_write: BeforeWrite | None
    ) -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            wait = self._throttled_until - loop.time()
            if wait > 0:
                if wait >= remaining:
                    raise self._error("flow control", "the gateway keeps asking to slow down", tracked, throttled=True)
                await asyncio.sleep(wait)  # the connection's pause, shared by every submit
                continue
            if not self._bound.is_set():
                self._wanted.set()
                try:
                    await asyncio.wait_for(self._bound.wait(), max(remaining, 0))
                except TimeoutError:
                    raise self._error("unbound", "no login within the submit timeout", tracked) from None
            conn = self._conn
            if conn is None:
                continue
            try:
                async with self._window:
                    if before_write is not None:
                        await before_write()
                        before_write = None
                    started, written_at = self._clock(), loop.time()
                    answer = self.read_answer(await self._request(conn, name, fields))
            except ConnectionLost as exc:
                if exc.written:
                    raise self._error(
                        "connection lost",
                        "the connection dropped before the submit was answered",
                        tracked,
                        in_doubt=True,
                    ) from None
                continue
            except TimeoutError:
                raise self._error("timeout", "submit unanswered", tracked, in_doubt=True) from None
            if answer.ok:
                self._throttle_streak = 0
                return answer.part_id, self._clock() - started
            if answer.throttled:
                self.counts["throttled"] += 1
                if written_at < self._throttled_at:
                    continue  # written before the pause began: the same congestion
                if self.on_throttle is not None:
                    self.on_throttle()
                self._throttle_streak += 1
                pause = min(
                    self.throttle_delay * 2 ** (self._throttle_streak - 1), self.max_throttle_delay
                ) * self._rng.uniform(0.8, 1.2)
                self._throttled_at = loop.time()
                self._throttled_until = max(self._throttled_until, self._throttled_at + pause)
                continue
            raise self._error(answer.status, f"submit refused: {answer.text}", tracked, transient=answer.transient)

    def _error(
        self,
        status: object,
        message: str,
        tracked: Tracked,
        *,
        transient: bool = True,
        in_doubt: bool = False,
        throttled: bool = False,
    ) -> GatewayError:
        accepted = tuple(i for i in tracked.ids if i)
        return GatewayError(
            status, message, transient=transient, part_ids=accepted, in_doubt=in_doubt, throttled=throttled
        )

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        """Roll up receipts for a message submitted earlier (e.g. before a restart)."""
        self.receipts.track(reference, part_ids)

    def hand_on(self, callback, queue: asyncio.Queue, item) -> None:
        """Give an outcome or an inbound message to its hook (or its queue without one)."""
        if callback is None:
            queue.put_nowait(item)
            return
        result = callback(item)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def gateway_route(kind: str, client: Callable[..., Any], account: str, tuning: dict, name: str, options, hooks):
    """A gateway client from a routes-file entry: `host`, `port`, the `account` option (the SP's
    code or client id), `secret` (the shared secret) and the kind's `tuning` options."""
    given, tuned = route_options(kind, name, options, ("host", "port", account, "secret"), tuning)
    try:
        return client(str(given["host"]), int(given["port"]), str(given[account]), str(given["secret"]),
                      on_outcome=hooks.on_outcome, on_inbound=hooks.on_inbound, on_throttle=hooks.on_throttle,
                      **tuned)  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"{kind} route {name}: {exc}") from None
