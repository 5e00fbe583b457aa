"""SMPP 3.4 client (ESME) over asyncio.

One transceiver bind per client, kept alive with enquire_link and re-established after a drop.
submit_sm requests are windowed and matched to their responses by sequence number. Long texts
go out as concatenated parts (our own segmentation, 8-bit reference UDH), each with
registered_delivery=1; the per-part receipts are rolled up into one `MessageOutcome` per message:
every part DELIVRD → delivered, any part UNDELIV/REJECTD/EXPIRED/DELETED/UNKNOWN → failed.
Throttling (ESME_RTHROTTLED, ESME_RMSGQFUL) slows the whole bind and the part is resubmitted.
A part that went on the wire and got no answer (the bind dropped, the response timed out) is
never resubmitted here: the submit fails *in doubt*, and the route's policy decides. `query`
asks the SMSC (query_sm) for the state of a part it accepted.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smpp.pdu import operations, pdu_types

from fallback import smpp
from fallback.receipts import ReceiptBook, Tracked
from fallback.route import (
    BeforeWrite,
    InboundSms,
    MessageOutcome,
    PartState,
    RouteHooks,
    SubmitError,
    SubmitResult,
    route_options,
)
from fallback.segmentation import Segmentation, segment_sms
from fallback.udh import LongReplies

log = logging.getLogger("hongyan.smpp")


class SmppError(SubmitError):
    """submit_sm was refused; `status` is the SMPP command status (or "timeout", "unbound"…)."""

    def __init__(
        self,
        status: pdu_types.CommandStatus | str,
        message: str,
        *,
        transient: bool,
        part_ids: tuple[str, ...] = (),
        in_doubt: bool = False,
    ):
        super().__init__(
            status,
            message,
            transient=transient,
            part_ids=part_ids,
            throttled=status in smpp.THROTTLE_STATUSES,
            in_doubt=in_doubt,
        )


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: smpp.FrameWriter
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class ConnectionLost(Exception):
    """The bind went away while a request was in flight; `written`: the request may have gone
    on the wire (so the peer may have acted on it)."""

    def __init__(self, message: str = "connection closed", *, written: bool = False):
        super().__init__(message)
        self.written = written


Callback = Callable[[object], Awaitable[None] | None]


class SmppClient:
    """An ESME bound as transceiver to one SMSC route.

    `on_outcome(MessageOutcome)` and `on_inbound(InboundSms)` may be plain or async callables;
    without them outcomes and inbound messages go to the `outcomes` / `inbound` queues.
    `on_throttle()` (a plain callable, also settable as an attribute) hears every throttle
    response, e.g. to slow the route in a `CarrierRouter`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        system_type: str = "",
        window: int = 16,
        enquire_link_interval: float = 30.0,
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
        rng: random.Random | None = None,
    ):
        self.host, self.port = host, port
        # SMPP 3.4 §5.2: system_id is at most 15 octets, password at most 8. Checked here, so
        # the PDU encoder never fails later with the password in its message.
        if len(system_id.encode()) > 15:
            raise ValueError("system_id is longer than SMPP's 15 characters")
        if len(password.encode()) > 8:
            raise ValueError("the password is longer than SMPP's 8 characters")
        self.system_id, self._password, self.system_type = system_id, password, system_type
        self.enquire_link_interval = enquire_link_interval
        self.response_timeout = response_timeout
        self.submit_timeout = submit_timeout
        self.reconnect_delay, self.max_reconnect_delay = reconnect_delay, max_reconnect_delay
        self.throttle_delay, self.max_throttle_delay = throttle_delay, max_throttle_delay
        self.receipt_ttl = receipt_ttl
        self._on_outcome, self._on_inbound = on_outcome, on_inbound
        self.on_throttle = on_throttle
        self._new_reference = reference_factory
        self._clock = clock
        self._rng = rng or random.Random()
        self._window = asyncio.Semaphore(window)
        self.outcomes: asyncio.Queue[MessageOutcome] = asyncio.Queue()
        self.inbound: asyncio.Queue[InboundSms] = asyncio.Queue()
        self._conn: _Connection | None = None
        self._bound = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._seq = 0
        self._concat_ref = self._rng.randrange(256)
        self._throttled_until = 0.0
        self._throttled_at = 0.0  # when the current pause began
        self._throttle_streak = 0
        self.long_replies = LongReplies(clock)
        self.receipts = ReceiptBook(
            lambda outcome: self._deliver(self._on_outcome, self.outcomes, outcome),
            clock,
            receipt_ttl=receipt_ttl,
            spellings=_id_spellings,
        )
        self.counts = {"binds": 0, "submitted": 0, "throttled": 0, "receipts": 0}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting and binding in the background (see `wait_bound`)."""
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_bound(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._bound.wait(), timeout)

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def stop(self) -> None:
        """Unbind politely, close the connection and stop reconnecting."""
        self._stopping = True
        conn = self._conn
        if conn is not None and self.bound:
            try:
                await self._request(conn, operations.Unbind(), min(1.0, self.response_timeout))
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

    async def __aenter__(self) -> SmppClient:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.warning("SMPP connect to %s:%d failed: %s", self.host, self.port, exc)
            else:
                conn = _Connection(reader, smpp.FrameWriter(writer))
                try:
                    if await self._run_connection(conn):
                        delay = self.reconnect_delay
                except Exception:
                    # A bug must not silently end the bind for good: say so, and try again later.
                    log.exception("SMPP connection to %s:%d failed", self.host, self.port)
            if self._stopping:
                break
            # Jitter keeps many clients from reconnecting in lock step after an SMSC restart.
            await asyncio.sleep(delay * self._rng.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _run_connection(self, conn: _Connection) -> bool:
        """Bind and serve one connection until it closes; True if the bind succeeded."""
        reader_task = asyncio.get_running_loop().create_task(self._read_loop(conn))
        keepalive: asyncio.Task | None = None
        bound = False
        try:
            resp = await self._request(
                conn,
                operations.BindTransceiver(
                    system_id=self.system_id,
                    password=self._password,
                    system_type=self.system_type,
                    interface_version=smpp.INTERFACE_VERSION,
                ),
            )
            if resp.status != smpp.Status.ESME_ROK:
                log.error("SMPP bind to %s:%d refused: %s", self.host, self.port, resp.status.name)
                return False
            bound = True
            self._conn = conn
            self.counts["binds"] += 1
            self._bound.set()
            log.info("SMPP bound to %s:%d as %s", self.host, self.port, self.system_id)
            keepalive = asyncio.get_running_loop().create_task(self._keepalive(conn))
            await conn.closed.wait()
        except (TimeoutError, ConnectionLost, OSError) as exc:
            log.warning("SMPP connection to %s:%d lost: %s", self.host, self.port, exc or type(exc).__name__)
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
                future.set_exception(ConnectionLost("connection closed"))
        conn.pending.clear()

    async def _keepalive(self, conn: _Connection) -> None:
        while True:
            await asyncio.sleep(self.enquire_link_interval)
            try:
                await self._request(conn, operations.EnquireLink())
            except (TimeoutError, ConnectionLost, OSError):
                log.warning("SMPP enquire_link unanswered; reconnecting")
                conn.writer.abort()
                conn.closed.set()
                return

    # --- wire -----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    async def _request(self, conn: _Connection, pdu: operations.PDU, timeout: float | None = None) -> operations.PDU:
        """Send a request and wait for the response with its sequence number; raises
        asyncio.TimeoutError after `timeout` (response_timeout by default)."""
        if conn.closed.is_set():
            raise ConnectionLost("connection closed")
        pdu.seqNum = self._next_seq()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        conn.pending[pdu.seqNum] = future
        # A timer on the future is much cheaper than asyncio.wait_for's extra task per PDU.
        timer = loop.call_later(timeout or self.response_timeout, _expire, future)
        try:
            ticket = conn.writer.send(pdu)
            if not ticket:
                raise ConnectionLost("connection closing")
            try:
                await conn.writer.drain()
                return await future
            except (ConnectionLost, ConnectionError) as exc:
                written = conn.writer.was_written(ticket)
                raise ConnectionLost(f"connection lost: {type(exc).__name__}", written=written) from None
        finally:
            timer.cancel()
            conn.pending.pop(pdu.seqNum, None)

    def _send(self, conn: _Connection, pdu: operations.PDU) -> None:
        conn.writer.send(pdu)

    async def _read_loop(self, conn: _Connection) -> None:
        try:
            while True:
                frame = await smpp.read_frame(conn.reader)
                self._dispatch(conn, frame)
        except (asyncio.IncompleteReadError, ConnectionError, smpp.FrameError) as exc:
            log.info("SMPP connection closed: %s", type(exc).__name__)
        except Exception:
            log.exception("SMPP read loop failed; dropping the connection")
        finally:
            conn.closed.set()
            # Requests in flight (a bind included) learn at once rather than at their timeout.
            self._fail_pending(conn)

    def _dispatch(self, conn: _Connection, frame: bytes) -> None:
        command_id, _, seq = smpp.frame_header(frame)
        try:
            pdu = smpp.decode_pdu(frame)
        except smpp.PDUParseError as exc:
            if smpp.is_response(command_id):
                # An undecodable response still settles its request, as a failure.
                future = conn.pending.get(seq)
                if future is not None and not future.done():
                    future.set_result(smpp.generic_nack(seq, smpp.parse_error_status(exc)))
            else:
                self._send(conn, smpp.generic_nack(seq, smpp.parse_error_status(exc)))
            return
        if smpp.is_response(command_id):
            future = conn.pending.get(pdu.seqNum)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        cid = pdu.commandId
        if cid == pdu_types.CommandId.deliver_sm:
            self._send(conn, operations.DeliverSMResp(seqNum=pdu.seqNum))
            self._on_deliver_sm(pdu)
        elif cid == pdu_types.CommandId.enquire_link:
            self._send(conn, operations.EnquireLinkResp(seqNum=pdu.seqNum))
        elif cid == pdu_types.CommandId.unbind:
            self._send(conn, operations.UnbindResp(seqNum=pdu.seqNum))
            conn.closed.set()
        else:
            self._send(conn, smpp.generic_nack(pdu.seqNum, smpp.Status.ESME_RINVCMDID))

    # --- submitting -----------------------------------------------------------------------

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
        """Send `text` to `dest_e164`, part by part; returns once every part is accepted.

        The rolled-up receipt arrives later as a `MessageOutcome` with the same `reference`.
        Raises `SmppError` (see `.transient`, `.in_doubt`) when the SMSC refuses a part, a
        written part gets no answer, or the bind does not come back within `submit_timeout`.
        `before_write` is awaited inside the window right before the first part is written.
        """
        seg = segmentation or segment_sms(text, "gsm")
        reference = reference or self._new_reference()
        self._concat_ref = (self._concat_ref + 1) % 256
        wire = smpp.wire_parts(seg, self._concat_ref)
        tracked = self.receipts.open(reference, len(wire))
        deadline = asyncio.get_running_loop().time() + self.submit_timeout
        destination, dest_ton, dest_npi = smpp.sms_address(dest_e164)
        source, source_ton, source_npi = smpp.source_address(source_addr)
        latency = 0.0
        try:
            for index, part in enumerate(wire):
                pdu_args = dict(
                    source_addr=source,
                    source_addr_ton=source_ton,
                    source_addr_npi=source_npi,
                    destination_addr=destination,
                    dest_addr_ton=dest_ton,
                    dest_addr_npi=dest_npi,
                    esm_class=pdu_types.EsmClass(
                        pdu_types.EsmClassMode.DEFAULT,
                        pdu_types.EsmClassType.DEFAULT,
                        [pdu_types.EsmClassGsmFeatures.UDHI_INDICATOR_SET] if part.udhi else [],
                    ),
                    registered_delivery=pdu_types.RegisteredDelivery(
                        pdu_types.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED
                    ),
                    data_coding=smpp.data_coding(part.data_coding),
                    short_message=part.short_message,
                )
                mark = before_write if index == 0 else None
                message_id, took = await self._submit_part(pdu_args, deadline, tracked, mark)
                latency += took
                self.receipts.register(tracked, index, message_id)
        except BaseException:
            self.receipts.forget(tracked)
            raise
        self.counts["submitted"] += 1
        return SubmitResult(reference, tuple(tracked.ids), seg, latency)  # type: ignore[arg-type]

    async def _submit_part(
        self, pdu_args: dict, deadline: float, tracked: Tracked, before_write: BeforeWrite | None = None
    ) -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            wait = self._throttled_until - loop.time()
            if wait > 0:
                if wait >= remaining:
                    raise self._error(smpp.Status.ESME_RTHROTTLED, "SMSC keeps throttling", tracked)
                await asyncio.sleep(wait)  # the route's throttle pause, shared by all submits
                continue
            if not self._bound.is_set():
                try:
                    await asyncio.wait_for(self._bound.wait(), max(remaining, 0))
                except TimeoutError:
                    raise self._error("unbound", "no SMPP bind within the submit timeout", tracked) from None
            conn = self._conn
            if conn is None:
                continue
            try:
                async with self._window:
                    if before_write is not None:
                        # The durable mark goes first, inside the window: only parts really
                        # about to be written are marked.
                        await before_write()
                        before_write = None
                    started, written_at = self._clock(), loop.time()
                    resp = await self._request(conn, operations.SubmitSM(**pdu_args))
            except ConnectionLost as exc:
                if exc.written:
                    # It may or may not have reached the SMSC, and SMPP has no idempotency key:
                    # in doubt. Whether to send it again is the route's policy, not ours.
                    raise self._error(
                        "connection lost", "the bind dropped before submit_sm was answered", tracked, in_doubt=True
                    ) from None
                continue  # not written: safe to send on the next bind
            except TimeoutError:
                raise self._error("timeout", "submit_sm unanswered", tracked, in_doubt=True) from None
            status = resp.status
            if status == smpp.Status.ESME_ROK:
                self._throttle_streak = 0
                message_id = resp.params.get("message_id") or b""
                return message_id.decode("ascii", errors="replace").strip(), self._clock() - started
            if status in smpp.THROTTLE_STATUSES:
                self.counts["throttled"] += 1
                if written_at < self._throttled_at:
                    # Written before the pause began: the same congestion answered for the rest
                    # of the window, not a sign that the pause was too short.
                    continue
                if self.on_throttle is not None:
                    self.on_throttle()
                self._throttle_streak += 1
                pause = min(
                    self.throttle_delay * 2 ** (self._throttle_streak - 1), self.max_throttle_delay
                ) * self._rng.uniform(0.8, 1.2)
                self._throttled_at = loop.time()
                self._throttled_until = max(self._throttled_until, self._throttled_at + pause)
                continue
            raise self._error(
                status, f"submit_sm refused: {status.name}", tracked, transient=status in smpp.TRANSIENT_STATUSES
            )

    def _error(
        self, status, message: str, tracked: Tracked, transient: bool = True, in_doubt: bool = False
    ) -> SmppError:
        accepted = tuple(i for i in tracked.ids if i)
        return SmppError(status, message, transient=transient, part_ids=accepted, in_doubt=in_doubt)

    # --- status queries ---------------------------------------------------------------------

    async def query(self, part_id: str, source_addr: str) -> PartState:
        """query_sm: the SMSC's state of a part it accepted (`stat` None while en route;
        UNKNOWN when the SMSC does not know the id). Raises `SmppError` (transient) when the
        SMSC cannot be asked now, or does not answer query_sm at all (not transient)."""
        try:
            await asyncio.wait_for(self._bound.wait(), self.response_timeout)
        except TimeoutError:
            raise SmppError("unbound", "no SMPP bind to ask on", transient=True) from None
        conn = self._conn
        if conn is None:
            raise SmppError("unbound", "no SMPP bind to ask on", transient=True)
        source, ton, npi = smpp.source_address(source_addr)
        pdu = operations.QuerySM(message_id=part_id, source_addr_ton=ton, source_addr_npi=npi, source_addr=source)
        try:
            async with self._window:
                resp = await self._request(conn, pdu)
        except (TimeoutError, ConnectionLost):
            raise SmppError("timeout", "query_sm unanswered", transient=True) from None
        if resp.status in smpp.UNKNOWN_MESSAGE_STATUSES:
            return PartState(part_id, "UNKNOWN", resp.status.name)
        if resp.status != smpp.Status.ESME_ROK:
            transient = resp.status in smpp.TRANSIENT_STATUSES
            raise SmppError(resp.status, f"query_sm refused: {resp.status.name}", transient=transient)
        stat = smpp.state_name(resp.params.get("message_state"))
        error = resp.params.get("error_code")
        final = stat == smpp.DELIVERED or stat in smpp.FAILED_STATES
        return PartState(part_id, stat if final else None, str(error) if error else None)

    # --- receipts ---------------------------------------------------------------------------

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        """Roll up receipts for a message submitted earlier (e.g. before a restart)."""
        self.receipts.track(reference, part_ids)

    def _on_deliver_sm(self, pdu: operations.PDU) -> None:
        if smpp.is_receipt(pdu):
            receipt = smpp.parse_receipt(pdu)
            if receipt is None:
                log.warning("unreadable delivery receipt ignored")
                return
            self.counts["receipts"] += 1
            self.receipts.receipt(receipt)
            return
        # The text is in short_message, or (a long one in one PDU) in the message_payload TLV; a
        # part of a long reply says so in its UDH or in the sar_* TLVs. The parts are joined.
        data = pdu.params.get("short_message") or pdu.params.get("message_payload") or b""
        udh, body = smpp.split_udh(data, smpp.has_udhi(pdu))
        source = smpp.e164_of(pdu.params.get("source_addr") or b"", pdu.params.get("source_addr_ton"))
        destination = smpp.e164_of(pdu.params.get("destination_addr") or b"", pdu.params.get("dest_addr_ton"))
        part = smpp.concat_info(udh) or smpp.sar_info(pdu)
        text = self.long_replies.add(source, destination, part, smpp.decode_text(body, smpp.data_coding_value(pdu)))
        if text is not None:
            self._deliver(self._on_inbound, self.inbound, InboundSms(source=source, destination=destination, text=text))

    def _deliver(self, callback, queue: asyncio.Queue, item) -> None:
        if callback is None:
            queue.put_nowait(item)
            return
        result = callback(item)
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _id_spellings(message_id: str) -> list[str]:
    """SMSCs are known to answer submit_sm with a hex id and quote it in decimal in the receipt
    (or the reverse), sometimes zero-padded: the spellings to look a receipt's id up by."""
    candidates = [message_id, message_id.lstrip("0") or "0"]
    try:
        candidates.append(format(int(message_id), "x"))
    except ValueError:
        pass
    try:
        candidates.append(str(int(message_id, 16)))
    except ValueError:
        pass
    return [key for c in candidates for key in (c, c.upper(), c.lower())]


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


# Options a routes file may give an SMPP route, beside host, port, system_id and password.
_SMPP_OPTIONS = {
    "system_type": str,
    "window": int,
    "enquire_link_interval": float,
    "response_timeout": float,
    "submit_timeout": float,
    "reconnect_delay": float,
    "max_reconnect_delay": float,
}


def smpp_route(name: str, options: Mapping[str, Any], hooks: RouteHooks) -> SmppClient:
    """An SMPP 3.4 transceiver bind from a routes-file entry (`host`, `port`, `system_id`,
    `password`, and optionally the tuning options above)."""
    given, tuning = route_options("SMPP", name, options, ("host", "port", "system_id", "password"), _SMPP_OPTIONS)
    try:
        return SmppClient(
            str(given["host"]),
            int(given["port"]),
            str(given["system_id"]),
            str(given["password"]),
            on_outcome=hooks.on_outcome,
            on_inbound=hooks.on_inbound,
            on_throttle=hooks.on_throttle,
            **tuning,
        )
    except ValueError as exc:
        raise ValueError(f"SMPP route {name}: {exc}") from None
