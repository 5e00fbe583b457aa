"""What every Chinese gateway simulator shares: the TCP server, one session per connection that
must log in first, submits judged and answered, the sandbox endings played out
(`fallback.smsc.simulator.behaviour_for`: ``00`` flow control for the first two submits of a
part, then accepted; ``9`` a report UNDELIV; ``90`` accepted with the report lost; anything
else a report DELIVRD after `receipt_delay`), reports sent to a connection of the SP that
submitted (held until it connects again), and handsets' replies split into parts.

A protocol's simulator subclasses `GatewaySimulator` with its login, its checks of a submit and
its PDUs' fields.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fallback.framing import FrameWriter
from fallback.gateways.pdu import Pdu, PduError, Protocol
from fallback.gateways.session import CHINA, part_payloads
from fallback.segmentation import segment_sms
from fallback.smsc.simulator import RECEIPT_LOST, THROTTLE_THEN_DELIVER, THROTTLED_SUBMITS, UNDELIVERABLE, behaviour_for
from security.logs import mask_phone

log = logging.getLogger("hongyan.gateways.simulator")
MAX_HELD = 10_000  # deliveries held for an SP that is not connected
SANDBOX_SECRET = "sandbox"  # the sandbox account's shared secret (public: it opens only a simulator)


@dataclass(eq=False)
class Session:
    writer: FrameWriter
    protocol: Protocol
    version: int = 0  # 0 until logged in
    account: str = ""
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, name: str, sequence: object, values: dict | None = None) -> None:
        self.writer.send(self.protocol.encode(name, sequence, values or {}))


class GatewaySimulator:
    """Subclasses give `protocol`, `keepalive` (request, answer, its fields), `goodbye`
    (request, answer), `flow_control` (the submit status that asks to slow down) and the hooks
    below."""

    protocol: Protocol
    keepalive: tuple[str, str, dict] = ("active_test", "active_test_resp", {})
    goodbye: tuple[str, str] = ("terminate", "terminate_resp")
    flow_control = 0
    sandbox_account = ""
    idle_timeout: float | None = None  # close an SP's connection idle this long (with `goodbye`)

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        accounts: dict[str, str] | None = None,
        receipt_delay: float = 0.2,
        now: Callable[[], datetime] = lambda: datetime.now(CHINA),
    ):
        self.host, self.port = host, port
        self.accounts = accounts if accounts is not None else {self.sandbox_account: SANDBOX_SECRET}
        self.receipt_delay, self.now = receipt_delay, now
        self._server: asyncio.Server | None = None
        self._sessions: set[Session] = set()
        self._held: dict[str, list[dict]] = {}
        self.sequence = itertools.count(1)
        self._throttled: Counter[tuple] = Counter()
        self._tasks: set[asyncio.Task] = set()
        self.submits: Counter[str] = Counter()  # accepted parts per destination number
        self.received: deque[dict] = deque(maxlen=MAX_HELD)  # the latest accepted submits' fields
        self.counts = {"logins": 0, "refused_logins": 0, "submits": 0, "throttled": 0, "reports": 0, "mo": 0}

    # --- what a protocol gives ----------------------------------------------------------------

    def login(self, session: Session, frame: bytes) -> bool:
        """Judge the first frame (the login), answer it; True when the session may go on."""
        raise NotImplementedError

    def check(self, pdu: Pdu) -> int:
        """A submit's status: 0, or what the gateway answers for the first fault found."""
        raise NotImplementedError

    def destinations(self, pdu: Pdu) -> list[str]:
        raise NotImplementedError

    def submit_answer(self, pdu: Pdu, status: int, msg_id: object) -> tuple[str, dict]:
        raise NotImplementedError

    def new_msg_id(self) -> object:
        raise NotImplementedError

    def message_id(self, pdu: Pdu) -> object:
        """The id an accepted submit is answered with and its report names."""
        return self.new_msg_id()

    def report(self, version: int, msg_id: object, dest: str, stat: str) -> dict:
        """The deliver fields of a status report."""
        raise NotImplementedError

    def reply(self, source: str, destination: str, content: bytes, udhi: bool) -> dict:
        """The deliver fields of one part of a handset's reply (UCS-2 content)."""
        raise NotImplementedError

    def wants_report(self, pdu: Pdu) -> bool:
        raise NotImplementedError

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.writer.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        for session in list(self._sessions):
            session.writer.abort()

    # --- connections --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(FrameWriter(writer), self.protocol)
        self._sessions.add(session)
        try:
            while True:
                try:
                    header = await asyncio.wait_for(reader.readexactly(4), self.idle_timeout)
                except TimeoutError:
                    session.send(self.goodbye[0], self.next_sequence(session))  # idle: unbind, hang up
                    break
                frame = header + await reader.readexactly(session.protocol.frame_length(header) - 4)
                if not self._handle(session, frame):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except PduError as exc:
            log.info("%s simulator: malformed PDU, dropping the connection: %s", self.protocol.name, exc)
        finally:
            self._sessions.discard(session)
            session.writer.close()

    def _handle(self, session: Session, frame: bytes) -> bool:
        if not session.version:
            if self.login(session, frame):
                self.counts["logins"] += 1
                for values in self._held.pop(session.account, []):
                    session.send("deliver", self.next_sequence(session), values)
                return True
            self.counts["refused_logins"] += 1
            return False
        pdu = session.protocol.decode(frame)
        if pdu.definition.command_id & 0x80000000:
            return True  # the SP's answers to our delivers and keepalives
        if pdu.name == "submit":
            self._submit(session, pdu)
        elif pdu.name == self.keepalive[0]:
            session.send(self.keepalive[1], pdu.sequence, self.keepalive[2])
        elif pdu.name == self.goodbye[0]:
            session.send(self.goodbye[1], pdu.sequence)
            return False
        else:
            return False  # a login again, or what an SP never sends: the gateway hangs up
        return True

    def next_sequence(self, session: Session) -> object:
        return next(session.seq)

    # --- submits ------------------------------------------------------------------------------

    def _submit(self, session: Session, pdu: Pdu) -> None:
        status = self.check(pdu)
        dests = self.destinations(pdu)
        if status == 0:
            key = (session.account, repr(sorted(pdu.body.items())))  # the same part submitted again
            if any(behaviour_for(d) == THROTTLE_THEN_DELIVER for d in dests):
                if self._throttled[key] < THROTTLED_SUBMITS:
                    self._throttled[key] += 1
                    self.counts["throttled"] += 1
                    status = self.flow_control
                else:
                    del self._throttled[key]  # accepted now: nothing left to remember of it
        if status:
            session.send(*self._answer(pdu, status, None))
            return
        msg_id = self.message_id(pdu)
        session.send(*self._answer(pdu, 0, msg_id))
        self.counts["submits"] += 1
        self.received.append(dict(pdu.body, _msg_id=msg_id))
        for dest in dests:
            self.submits[dest] += 1
            behaviour = behaviour_for(dest)
            if self.wants_report(pdu) and behaviour != RECEIPT_LOST:
                stat = "UNDELIV" if behaviour == UNDELIVERABLE else "DELIVRD"
                self._later(self._report, session.account, session.version, msg_id, dest, stat)
        log.info("%s simulator accepted a part for %s", self.protocol.name, mask_phone(dests[0] if dests else ""))

    def _answer(self, pdu: Pdu, status: int, msg_id: object) -> tuple[str, object, dict]:
        name, values = self.submit_answer(pdu, status, msg_id)
        return name, pdu.sequence, values

    async def _report(self, account: str, version: int, msg_id: object, dest: str, stat: str) -> None:
        await asyncio.sleep(self.receipt_delay)
        self.counts["reports"] += 1
        self._to_sp(account, version, self.report(version, msg_id, dest, stat))

    # --- replies from handsets ------------------------------------------------------------------

    def send_mo(self, source_e164: str, destination: str, text: str, *, account: str | None = None) -> None:
        """A handset's reply to `destination` (the SP's number with its extension), in parts
        with a concatenation UDH when long."""
        _, payloads = part_payloads(segment_sms(text, "gsm", ucs2=True), next(self.sequence))
        for content in payloads:
            self.counts["mo"] += 1
            self._to_sp(
                account or self.sandbox_account, 0, self.reply(source_e164, destination, content, len(payloads) > 1)
            )

    def _to_sp(self, account: str, version: int, values: dict) -> None:
        session = next(
            (s for s in self._sessions if s.account == account and s.version and (not version or s.version == version)),
            None,
        )
        if session is None:
            held = self._held.setdefault(account, [])
            if len(held) < MAX_HELD:
                held.append(values)
            return
        session.send("deliver", self.next_sequence(session), values)

    def _later(self, fn, *args) -> None:
        task = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
