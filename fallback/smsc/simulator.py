"""SMSC simulator speaking SMPP 3.4 over TCP.

Behaviour is chosen by the destination number's last digits (the longest matching suffix wins):
``00`` → ESME_RTHROTTLED for the first two submits of the message, then accepted and DELIVRD;
``90`` → accepted and delivered, but the receipt is lost (query_sm tells the state);
``9`` → accepted, receipt UNDELIV; anything else (``0`` included) → accepted, receipt DELIVRD.
Receipts follow `receipt_delay` (0.5 s) after the submit_sm. `latency` delays every
submit_sm_resp and `failure_rate` turns that share of accepted parts into UNDELIV, for load tests.
Receipts for an ESME that is not bound are kept until it binds again.

query_sm is answered as an SMSC does: by the message id it gave, for the source address the
message came from (ESME_RQUERYFAIL otherwise), with the message state (ENROUTE until the
receipt time, then DELIVERED or UNDELIVERABLE) and the final date.

State (throttle counters, message states, accepted messages per destination) lives in memory
only, keyed by a keyed hash of the number; logs mask numbers. With an HTTP side
(`http_port`, the sandbox's) each number also gets an SMS inbox page (fallback.smsc.inbox):
the SMS delivered to it, long ones joined, and a form to reply with a real deliver_sm; only
then does the simulator hold numbers and texts (in memory, bounded). Given a `state_path` (the
platform's data directory) the newest message states (what query_sm answers) and the inboxes
are also kept there, so a restart keeps them; a message still on its way then reaches the end
it was going to, its receipt lost (query_sm tells it). Run alone with
``python -m fallback.smsc --port 2775 [--http-port 8082]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import logging
import random
import secrets
import signal
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from smpp.pdu import operations, pdu_types

from fallback import smpp
from fallback.segmentation import segment_sms
from fallback.smsc.inbox import SmsInbox, SmsInboxes, SmsItem
from security.logs import install as install_pii_filter
from security.logs import mask_phone
from store.snapshots import Snapshot

log = logging.getLogger("hongyan.smsc")

DELIVER = "deliver"
UNDELIVERABLE = "undeliverable"
THROTTLE_THEN_DELIVER = "throttle_then_deliver"
RECEIPT_LOST = "receipt_lost"
# The longest matching suffix wins.
SUFFIX_BEHAVIOUR = {"00": THROTTLE_THEN_DELIVER, "90": RECEIPT_LOST, "9": UNDELIVERABLE, "0": DELIVER}
THROTTLED_SUBMITS = 2
SYSTEM_ID = "HONGYAN-SMSC"
# Throttle counters of this many recent messages are kept; older ones are forgotten.
MAX_REMEMBERED = 100_000
# Receipts held for an ESME that is not bound, per system_id.
MAX_STORED_RECEIPTS = 10_000
# What the state file keeps at most: the newest message states, and inboxes.
KEPT_MESSAGES = 10_000
KEPT_INBOXES = 1_000

_BIND_RESPONSES = {
    pdu_types.CommandId.bind_transceiver: (operations.BindTransceiverResp, True),
    pdu_types.CommandId.bind_transmitter: (operations.BindTransmitterResp, False),
    pdu_types.CommandId.bind_receiver: (operations.BindReceiverResp, True),
}


def behaviour_for(destination: str) -> str:
    """The simulated outcome for a destination number (longest matching suffix wins)."""
    for suffix in sorted(SUFFIX_BEHAVIOUR, key=len, reverse=True):
        if destination.endswith(suffix):
            return SUFFIX_BEHAVIOUR[suffix]
    return DELIVER


# The sandbox ESME's credentials (public by design: they open only the simulator).
SANDBOX_SYSTEM_ID = "hongyan"
SANDBOX_PASSWORD = "sandbox"


@dataclass
class _Message:
    """What the SMSC remembers of a part it accepted (for query_sm)."""

    source_addr: bytes
    state: pdu_types.MessageState = pdu_types.MessageState.ENROUTE
    final_at: datetime | None = None
    error: int = 0
    delivered: bool = True  # the end it is on its way to (decided when it is accepted)


@dataclass(eq=False)
class _Session:
    writer: smpp.FrameWriter
    system_id: str = ""
    receives: bool = False
    bound: bool = False
    seq: int = 0

    def next_seq(self) -> int:
        self.seq = self.seq % 0x7FFFFFFF + 1
        return self.seq

    def send(self, pdu: operations.PDU) -> None:
        self.writer.send(pdu)


class SmscSimulator:
    """An SMSC on a real TCP socket; `start()` binds, `port` is the bound port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        receipt_delay: float = 0.5,
        latency: float = 0.0,
        failure_rate: float = 0.0,
        credentials: dict[str, str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        id_factory: Callable[[], str] = lambda: secrets.token_hex(8),
        rng: random.Random | None = None,
        http_port: int | None = None,
        state_path: Path | None = None,
    ):
        self.host = host
        self.port = port
        # Kept across restarts in this file (None: in memory only).
        self.snapshot = Snapshot(state_path, self._state) if state_path is not None else None
        # The SMS inbox pages' port (0: any free one); None: no HTTP side, no inboxes.
        self.http_port = http_port
        self.inboxes = SmsInboxes(self.send_mo, now) if http_port is not None else None
        self._http: web.AppRunner | None = None
        self.receipt_delay = receipt_delay
        self.latency = latency
        self.failure_rate = failure_rate
        self._credentials = credentials
        self._mo_reference = 0  # the concatenation reference of the last long reply
        self._now = now
        self._new_id = id_factory
        self._rng = rng or random.Random()
        self._hash_key = secrets.token_bytes(16)
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task] = set()
        self._throttles: OrderedDict[bytes, int] = OrderedDict()
        self._messages: OrderedDict[str, _Message] = OrderedDict()
        # Whole messages accepted (the last part of each), per keyed hash of the destination.
        self._accepted_to: Counter[bytes] = Counter()
        self._stored: dict[str, list[dict]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._timer_ids = itertools.count()
        self._changed = asyncio.Condition()
        # Submits per sender number (the brand's number with its extension code; not personal data).
        self.sender_numbers: Counter[str] = Counter()
        self.counts = {
            "binds": 0,
            "received_submit_sm": 0,  # submit_sm PDUs read off the wire, answered or not
            "submit_sm": 0,
            "query_sm": 0,
            "settled": 0,  # accepted parts that reached their final state
            "throttled": 0,
            "enquire_link": 0,
            "receipts": 0,
            "connections": 0,
            "bind_refused": 0,
        }

    async def start(self) -> None:
        doc = self.snapshot.read() if self.snapshot is not None else None
        if doc is not None:
            self._restore(doc)
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SMSC simulator listening on %s:%d", self.host, self.port)
        if self.inboxes is not None:
            app = web.Application()
            app.add_routes(self.inboxes.routes())
            app.router.add_get("/counts", self._counts)
            self._http = web.AppRunner(app, access_log=None)
            await self._http.setup()
            site = web.TCPSite(self._http, self.host, self.http_port)
            await site.start()
            self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            log.info("SMSC simulator's SMS inboxes on %s", self.http_url)

    @property
    def http_url(self) -> str | None:
        """The SMS inbox pages' base URL (None without an HTTP side)."""
        return f"http://{self.host}:{self.http_port}/sms" if self._http is not None else None

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.cleanup()
            self._http = None
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.snapshot is not None:
            await self.snapshot.close()

    # --- state across restarts ------------------------------------------------------------

    def _note_change(self) -> None:
        if self.snapshot is not None and self._server is not None:
            self.snapshot.changed()

    def _state(self) -> dict:
        """What a restart keeps: the newest message states (for query_sm) and inboxes."""
        inboxes = []
        if self.inboxes is not None:
            for inbox_id in list(self.inboxes._by_number.values())[-KEPT_INBOXES:]:
                inbox = self.inboxes.inboxes[inbox_id]
                items = [
                    {
                        "sender": i.sender,
                        "text": i.text,
                        "at": i.at.isoformat(),
                        "mine": i.mine,
                        "delivered": i.delivered,
                        "segments": i.segments,
                    }
                    for i in inbox.items
                ]
                inboxes.append({"inbox_id": inbox.inbox_id, "number": inbox.number, "items": items})
        messages = list(self._messages.items())[-KEPT_MESSAGES:]
        return {
            "version": 1,
            "messages": [
                {
                    "id": mid,
                    "source": m.source_addr.decode("latin-1"),
                    "state": m.state.name,
                    "final_at": m.final_at.isoformat() if m.final_at else None,
                    "error": m.error,
                    "delivered": m.delivered,
                }
                for mid, m in messages
            ],
            "inboxes": inboxes,
        }

    def _restore(self, doc: dict) -> None:
        """Take back what `_state` kept; a message the restart caught on its way ends now."""
        now = self._now()
        for m in doc.get("messages", []):
            record = _Message(
                m["source"].encode("latin-1"),
                pdu_types.MessageState[m["state"]],
                datetime.fromisoformat(m["final_at"]) if m["final_at"] else None,
                m["error"],
                m["delivered"],
            )
            if record.state == pdu_types.MessageState.ENROUTE:
                self._end(record, now)
            self._messages[m["id"]] = record
        if self.inboxes is None:
            return
        for i in doc.get("inboxes", []):
            inbox = SmsInbox(i["inbox_id"], i["number"])
            for item in i["items"]:
                inbox.add(
                    SmsItem(
                        item["sender"],
                        item["text"],
                        datetime.fromisoformat(item["at"]),
                        mine=item["mine"],
                        delivered=item["delivered"],
                        segments=item["segments"],
                    )
                )
            self.inboxes.inboxes[inbox.inbox_id] = inbox
            self.inboxes._by_number[inbox.number] = inbox.inbox_id

    async def __aenter__(self) -> SmscSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _counts(self, request: web.Request) -> web.Response:
        """Its counters and how many destinations got more than one message (a test's look
        from another process)."""
        return web.json_response({**self.counts, "repeated_destinations": self.repeated_destinations})

    def drop_connections(self) -> None:
        """Close every client connection abruptly (what a network failure looks like)."""
        for session in list(self._sessions):
            session.writer.abort()

    def messages_to(self, number: str) -> int:
        """How many whole messages this SMSC accepted for `number` (E.164)."""
        return self._accepted_to[self._number_key(smpp.sms_address(number)[0].encode())]

    @property
    def repeated_destinations(self) -> int:
        """Destinations that were sent more than one message."""
        return sum(1 for n in self._accepted_to.values() if n > 1)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds (re-checked on every simulator event)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def send_mo(self, source_e164: str, destination: str, text: str) -> None:
        """Deliver a mobile-originated SMS (e.g. an opt-out reply) to the bound receivers; a long
        one in parts with a concatenation UDH, as a handset sends it."""
        self._note_change()  # an inbox's reply
        source, ton, npi = smpp.sms_address(source_e164)
        self._mo_reference = (self._mo_reference + 1) % 256
        parts = smpp.wire_parts(segment_sms(text, "gsm"), self._mo_reference)
        for session in self._receivers(None):
            for part in parts:
                features = [pdu_types.EsmClassGsmFeatures.UDHI_INDICATOR_SET] if part.udhi else []
                session.send(
                    operations.DeliverSM(
                        seqNum=session.next_seq(),
                        source_addr=source,
                        source_addr_ton=ton,
                        source_addr_npi=npi,
                        destination_addr=destination,
                        esm_class=pdu_types.EsmClass(
                            pdu_types.EsmClassMode.DEFAULT, pdu_types.EsmClassType.DEFAULT, features
                        ),
                        data_coding=smpp.data_coding(part.data_coding),
                        short_message=part.short_message,
                    )
                )
            return
        raise ConnectionError("no bound receiver to deliver to")

    # --- connection handling --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(smpp.FrameWriter(writer))
        self._sessions.add(session)
        await self._bump("connections")
        try:
            while True:
                frame = await smpp.read_frame(reader)
                await self._handle(session, frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, smpp.FrameError):
            pass
        except Exception:
            log.exception("SMSC session failed; closing it")
        finally:
            self._sessions.discard(session)
            session.bound = False
            session.writer.close()

    async def _handle(self, session: _Session, frame: bytes) -> None:
        command_id, _, seq = smpp.frame_header(frame)
        try:
            pdu = smpp.decode_pdu(frame)
        except smpp.PDUParseError as exc:
            if not smpp.is_response(command_id):
                session.send(smpp.generic_nack(seq, smpp.parse_error_status(exc)))
            return
        cid = pdu.commandId
        if cid in _BIND_RESPONSES:
            await self._bump("binds" if self._bind(session, pdu) else "bind_refused")
        elif cid == pdu_types.CommandId.enquire_link:
            session.send(operations.EnquireLinkResp(seqNum=pdu.seqNum))
            await self._bump("enquire_link")
        elif cid == pdu_types.CommandId.unbind:
            session.send(operations.UnbindResp(seqNum=pdu.seqNum))
            session.bound = False
            session.writer.close()
        elif not session.bound and not smpp.is_response(command_id):
            session.send(smpp.generic_nack(pdu.seqNum, smpp.Status.ESME_RINVBNDSTS))
        elif cid == pdu_types.CommandId.submit_sm:
            self._spawn(self._submit(session, pdu))
            await self._bump("received_submit_sm")
        elif cid == pdu_types.CommandId.query_sm:
            self._query(session, pdu)
            await self._bump("query_sm")
        elif smpp.is_response(command_id):
            pass  # deliver_sm_resp / enquire_link_resp: nothing waits on them here
        else:
            session.send(smpp.generic_nack(pdu.seqNum, smpp.Status.ESME_RINVCMDID))

    def _bind(self, session: _Session, pdu: operations.PDU) -> bool:
        response, receives = _BIND_RESPONSES[pdu.commandId]
        system_id = pdu.params["system_id"].decode("ascii", errors="replace")
        password = (pdu.params.get("password") or b"").decode("ascii", errors="replace")
        if self._credentials is not None and self._credentials.get(system_id) != password:
            session.send(response(seqNum=pdu.seqNum, status=smpp.Status.ESME_RBINDFAIL))
            return False
        session.system_id, session.receives, session.bound = system_id, receives, True
        session.send(response(seqNum=pdu.seqNum, system_id=SYSTEM_ID))
        if receives:
            for receipt in self._stored.pop(system_id, []):
                session.send(operations.DeliverSM(seqNum=session.next_seq(), **receipt))
                self.counts["receipts"] += 1
        return True

    async def _submit(self, session: _Session, pdu: operations.PDU) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)  # the simulated operator latency itself
        destination = pdu.params["destination_addr"].decode("ascii", errors="replace")
        if not (destination.isdigit() and 6 <= len(destination) <= 15):
            session.send(operations.SubmitSMResp(seqNum=pdu.seqNum, status=smpp.Status.ESME_RINVDSTADR))
            return
        behaviour = behaviour_for(destination)
        if behaviour == THROTTLE_THEN_DELIVER and self._throttle(pdu):
            session.send(operations.SubmitSMResp(seqNum=pdu.seqNum, status=smpp.Status.ESME_RTHROTTLED))
            log.debug("throttled submit_sm to %s", mask_phone("+" + destination))
            await self._bump("throttled")
            return
        message_id = self._new_id()
        # Accepted whether or not the answer reaches the ESME (its connection may be gone).
        session.send(operations.SubmitSMResp(seqNum=pdu.seqNum, message_id=message_id))
        source = pdu.params.get("source_addr") or b""
        self.sender_numbers[source.decode("ascii", errors="replace")] += 1
        _, last_part = self._message_key(pdu)
        if last_part:
            self._accepted_to[self._number_key(pdu.params["destination_addr"])] += 1
        submitted = self._now()
        delivered = behaviour != UNDELIVERABLE and not (
            self.failure_rate > 0 and self._rng.random() < self.failure_rate
        )
        record = _Message(source, delivered=delivered)
        self._messages[message_id] = record
        self._note_change()
        while len(self._messages) > MAX_REMEMBERED:
            self._messages.popitem(last=False)
        if delivered and self.inboxes is not None:
            self._to_inbox(pdu, destination)
        log.debug("accepted submit_sm %s to %s", message_id, mask_phone("+" + destination))
        await self._bump("submit_sm")
        receipt = pdu.params.get("registered_delivery") is not None and _wants_receipt(pdu, delivered)
        timer_id = next(self._timer_ids)
        self._timers[timer_id] = asyncio.get_running_loop().call_later(
            self.receipt_delay,
            self._settle,
            timer_id,
            record,
            delivered,
            (session, pdu, message_id, submitted) if receipt and behaviour != RECEIPT_LOST else None,
        )

    def _to_inbox(self, pdu: operations.PDU, destination: str) -> None:
        """A part delivered to `destination` (digits of an international number) shows in its inbox."""
        assert self.inboxes is not None
        udh, body = smpp.split_udh(pdu.params.get("short_message") or b"", smpp.has_udhi(pdu))
        sender = (pdu.params.get("source_addr") or b"").decode("ascii", errors="replace")
        text = smpp.decode_text(body, smpp.data_coding_value(pdu))
        self.inboxes.received("+" + destination, sender, smpp.concat_info(udh), text)

    def _settle(self, timer_id: int, record: _Message, delivered: bool, receipt: tuple | None) -> None:
        """The message reaches its final state; its receipt (if one was asked for) goes out."""
        del self._timers[timer_id]
        self._end(record, self._now())
        self._note_change()
        if receipt is not None:
            self._spawn(self._send_receipt(*receipt, delivered))
        self._spawn(self._bump("settled"))

    @staticmethod
    def _end(record: _Message, at: datetime) -> None:
        record.state = pdu_types.MessageState.DELIVERED if record.delivered else pdu_types.MessageState.UNDELIVERABLE
        record.error = 0 if record.delivered else 1
        record.final_at = at

    def _query(self, session: _Session, pdu: operations.PDU) -> None:
        message_id = (pdu.params.get("message_id") or b"").decode("ascii", errors="replace")
        record = self._messages.get(message_id)
        source = pdu.params.get("source_addr") or b""
        if record is None or (source and source != record.source_addr):
            # An SMSC answers only about messages it holds, to the source that sent them.
            session.send(
                operations.QuerySMResp(
                    seqNum=pdu.seqNum,
                    status=smpp.Status.ESME_RQUERYFAIL,
                    message_id=message_id,
                    final_date=None,
                    message_state=pdu_types.MessageState.UNKNOWN,
                    error_code=0,
                )
            )
            return
        final_date = record.final_at.replace(tzinfo=None, microsecond=0) if record.final_at else None
        session.send(
            operations.QuerySMResp(
                seqNum=pdu.seqNum,
                message_id=message_id,
                final_date=final_date,
                message_state=record.state,
                error_code=record.error,
            )
        )

    def _throttle(self, pdu: operations.PDU) -> bool:
        """True while the message this part belongs to has had fewer than two throttles.

        Once its last part is accepted the message is forgotten, so the same text sent again
        later is a new message and is throttled again."""
        key, last_part = self._message_key(pdu)
        seen = self._throttles.get(key, 0)
        if seen >= THROTTLED_SUBMITS:
            if last_part:
                del self._throttles[key]
            return False
        self._throttles[key] = seen + 1
        self._throttles.move_to_end(key)
        while len(self._throttles) > MAX_REMEMBERED:
            self._throttles.popitem(last=False)
        return True

    def _number_key(self, destination: bytes) -> bytes:
        return hashlib.blake2b(destination, key=self._hash_key, digest_size=16).digest()

    def _message_key(self, pdu: operations.PDU) -> tuple[bytes, bool]:
        """A keyed hash naming the message a part belongs to, and whether it is the last part.
        The simulator never holds a number or a text in the clear."""
        h = hashlib.blake2b(key=self._hash_key, digest_size=16)
        h.update(pdu.params["destination_addr"] + b"\0" + (pdu.params.get("source_addr") or b""))
        payload = pdu.params.get("short_message") or b""
        udh, body = smpp.split_udh(payload, smpp.has_udhi(pdu))
        info = smpp.concat_info(udh)
        # Parts of one concatenated message share (reference, total); a single part is its text.
        h.update(b"\0" + (repr(info[:2]).encode() if info else body))
        return h.digest(), info is None or info[2] >= info[1]

    async def _send_receipt(self, session, pdu, message_id, submitted, delivered) -> None:
        stat, err = ("DELIVRD", 0) if delivered else ("UNDELIV", 1)
        dlvrd = "001" if delivered else "000"
        done = self._now()
        # The text: field stays empty so message content never travels back in receipts.
        text = (
            f"id:{message_id} sub:001 dlvrd:{dlvrd} "
            f"submit date:{smpp.format_receipt_date(submitted)} "
            f"done date:{smpp.format_receipt_date(done)} stat:{stat} err:{err:03d} text:"
        )
        receipt = dict(
            source_addr=pdu.params["destination_addr"],
            source_addr_ton=pdu.params["dest_addr_ton"],
            source_addr_npi=pdu.params["dest_addr_npi"],
            destination_addr=pdu.params.get("source_addr") or b"",
            esm_class=pdu_types.EsmClass(pdu_types.EsmClassMode.DEFAULT, pdu_types.EsmClassType.SMSC_DELIVERY_RECEIPT),
            receipted_message_id=message_id,
            message_state=(pdu_types.MessageState.DELIVERED if delivered else pdu_types.MessageState.UNDELIVERABLE),
            short_message=text.encode("ascii"),
        )
        target = session if session.bound and session.receives else None
        target = target or next(iter(self._receivers(session.system_id)), None)
        if target is None:
            # Like a real SMSC, keep the receipt until the ESME binds again.
            stored = self._stored.setdefault(session.system_id, [])
            if len(stored) < MAX_STORED_RECEIPTS:
                stored.append(receipt)
            return
        target.send(operations.DeliverSM(seqNum=target.next_seq(), **receipt))
        await self._bump("receipts")

    def _receivers(self, system_id: str | None) -> list[_Session]:
        return [s for s in self._sessions if s.bound and s.receives and (system_id is None or s.system_id == system_id)]

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bump(self, counter: str) -> None:
        self.counts[counter] += 1
        async with self._changed:
            self._changed.notify_all()


def _wants_receipt(pdu: operations.PDU, delivered: bool) -> bool:
    receipt = pdu.params["registered_delivery"].receipt
    wanted = pdu_types.RegisteredDeliveryReceipt
    return receipt == wanted.SMSC_DELIVERY_RECEIPT_REQUESTED or (
        receipt == wanted.SMSC_DELIVERY_RECEIPT_REQUESTED_FOR_FAILURE and not delivered
    )


def main(argv: list[str] | None = None) -> None:
    """Run the simulator until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m fallback.smsc", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--receipt-delay", type=float, default=0.5, help="seconds to the receipt")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before submit_sm_resp")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of parts UNDELIV")
    parser.add_argument("--http-port", type=int, default=None, help="serve the SMS inbox pages on this port")
    parser.add_argument("--system-id", help="accept only this system_id (with --password)")
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    install_pii_filter()  # a second line of defence: nothing we log should carry a number
    credentials = {args.system_id: args.password} if args.system_id else None

    async def run() -> None:
        sim = SmscSimulator(
            args.host,
            args.port,
            receipt_delay=args.receipt_delay,
            latency=args.latency,
            failure_rate=args.failure_rate,
            credentials=credentials,
            http_port=args.http_port,
        )
        await sim.start()
        if sim.http_url:
            print(f"SMS inboxes on {sim.http_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await sim.stop()

    asyncio.run(run())
