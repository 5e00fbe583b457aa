"""A China Unicom SMG simulator speaking SGIP 1.2 over TCP, as strict as a gateway, both ways.

The SP binds to it (Login_Type 1, a known login name and password: result 4 or 1 otherwise)
and submits; it checks every submit's layout (a frame off it drops the connection), its user
numbers (1–100, digits with 86 in front: 6), SPNumber (digits: 5), CorpId (the last five digits
of the node number in the submit's sequence: 5), MessageType (0), MessageCoding, the flags'
ranges (5), MessageLength (≤ 140 octets, 160 for ASCII, UCS-2 even: 8) and the concatenation
UDH a TP_udhi part carries (5). Outcomes are the sandbox endings (`fallback.gateways.simulator`);
flow control is result 11, "node busy". A connection idle for `idle_timeout` is unbound.

Reports and handsets' replies go the other way: the simulator connects to the SP's listener
(`sp_endpoints`: where each account listens and the login the SMG presents there), binds with
Login_Type 2, sends each Report or Deliver and waits for its answer, and unbinds once idle.
What cannot be delivered is held (at most `MAX_HELD` per account) and tried again later.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from dataclasses import dataclass

from fallback.gateways import sgip
from fallback.gateways.pdu import Pdu, PduError
from fallback.gateways.simulator import MAX_HELD, SANDBOX_SECRET, GatewaySimulator, Session
from fallback.udh import concat_info, split_udh

log = logging.getLogger("hongyan.gateways.simulator")

SANDBOX_LOGIN = "hongyan"
SANDBOX_NODE_ID = 3_000_000_001  # the sandbox SP's node number (corporation code 00001)
SMG_NODE_ID = 2_075_500_001  # this SMG's node number in the sequences it makes
__all__ = ["SANDBOX_LOGIN", "SANDBOX_NODE_ID", "SANDBOX_SECRET", "SgipSimulator", "SpEndpoint"]


@dataclass(frozen=True)
class SpEndpoint:
    """Where an SP listens for the SMG, and the login the SMG presents there."""

    host: str
    port: int
    login: str
    password: str


class SgipSimulator(GatewaySimulator):
    protocol = sgip.SGIP12
    keepalive = ("", "", {})  # SGIP has no heartbeat
    goodbye = ("unbind", "unbind_resp")
    flow_control = sgip.NODE_BUSY
    sandbox_account = SANDBOX_LOGIN

    def __init__(
        self,
        *args,
        sp_endpoints: dict[str, SpEndpoint] | None = None,
        idle_timeout: float = 30.0,
        answer_timeout: float = 5.0,
        retry_delay: float = 0.5,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.sp_endpoints = sp_endpoints if sp_endpoints is not None else {}
        self.idle_timeout, self.answer_timeout, self.retry_delay = idle_timeout, answer_timeout, retry_delay
        self._outbox: dict[str, deque[tuple[str, dict]]] = {}
        self._couriers: dict[str, asyncio.Task] = {}
        self._more: dict[str, asyncio.Event] = {}
        self._counter = itertools.count(1)
        self.counts.update({"sp_binds": 0, "refused_sp_binds": 0, "idle_unbinds": 0})

    # --- the SP's connections -------------------------------------------------------------------

    def login(self, session: Session, frame: bytes) -> bool:
        pdu = self.protocol.decode(frame)
        if pdu.name != "bind":
            return False
        password = self.accounts.get(pdu["Login_Name"])
        result = 0
        if pdu["Login_Type"] != sgip.SP_TO_SMG:
            result = sgip.WRONG_LOGIN_TYPE
        elif password is None or pdu["Login_Password"] != password:
            result = sgip.ILLEGAL_LOGIN
        session.send("bind_resp", pdu.sequence, {"Result": result})
        if result == 0:
            session.version, session.account = 0x12, pdu["Login_Name"]
            self._kick(session.account)  # anything held for this SP: try again now
        return result == 0

    def next_sequence(self, session: Session | None = None) -> tuple[int, int, int]:
        return sgip.sequence(SMG_NODE_ID, self.now(), next(self._counter))

    def check(self, pdu: Pdu) -> int:
        users, coding, content = pdu["UserNumber"], pdu["MessageCoding"], pdu["MessageContent"]
        if not 1 <= len(users) <= 100 or not all(u.isdigit() and u.startswith("86") for u in users):
            return sgip.ILLEGAL_NUMBER
        charge = pdu["ChargeNumber"]
        if charge and not charge.isdigit():
            return sgip.ILLEGAL_NUMBER
        if not pdu["SPNumber"].isdigit():
            return sgip.BAD_PARAMETER
        if pdu["CorpId"] != f"{pdu.sequence[0]:010d}"[-5:]:
            return sgip.BAD_PARAMETER  # the corporation code is the end of the SP's node number
        if pdu["MessageType"] != 0 or coding not in (sgip.ASCII, sgip.BINARY, sgip.UCS2, sgip.GBK):
            return sgip.BAD_PARAMETER
        if pdu["ReportFlag"] > 3 or pdu["MorelatetoMTFlag"] > 3 or pdu["TP_udhi"] > 1 or pdu["FeeType"] > 4:
            return sgip.BAD_PARAMETER
        if len(content) > (160 if coding == sgip.ASCII else 140) or (coding == sgip.UCS2 and len(content) % 2):
            return sgip.BAD_LENGTH
        if pdu["TP_udhi"]:
            info = concat_info(split_udh(content, True)[0])
            if info is None or not 1 <= info[2] <= info[1]:
                return sgip.BAD_PARAMETER
        return 0

    def destinations(self, pdu: Pdu) -> list[str]:
        return list(pdu["UserNumber"])

    def wants_report(self, pdu: Pdu) -> bool:
        return pdu["ReportFlag"] == 1

    def message_id(self, pdu: Pdu) -> bytes:
        return sgip.sequence_bytes(pdu.sequence)  # a report names the submit by its sequence

    def submit_answer(self, pdu: Pdu, status: int, msg_id: object) -> tuple[str, dict]:
        return "submit_resp", {"Result": status}

    def report(self, version: int, msg_id: object, dest: str, stat: str) -> dict:
        delivered = stat == "DELIVRD"
        return {"SubmitSequenceNumber": msg_id, "ReportType": sgip.SUBMIT_STATE, "UserNumber": dest,
                "State": sgip.DELIVERED if delivered else sgip.FAILED,
                "ErrorCode": 0 if delivered else 25}  # fmt: skip  # 25: the user cannot be reached

    def reply(self, source: str, destination: str, content: bytes, udhi: bool) -> dict:
        return {"UserNumber": sgip.user_number(source), "SPNumber": destination, "TP_udhi": int(udhi),
                "MessageCoding": sgip.UCS2, "MessageContent": content}  # fmt: skip

    # --- to the SP's listener -------------------------------------------------------------------

    def _to_sp(self, account: str, version: int, values: dict) -> None:
        outbox = self._outbox.setdefault(account, deque())
        if len(outbox) >= MAX_HELD:
            log.warning("SGIP simulator: %d deliveries held for %s; dropping one", MAX_HELD, account)
            return
        outbox.append(("report" if "SubmitSequenceNumber" in values else "deliver", values))
        self._kick(account)

    def _kick(self, account: str) -> None:
        self._more.setdefault(account, asyncio.Event()).set()
        task = self._couriers.get(account)
        if self._outbox.get(account) and (task is None or task.done()):
            task = asyncio.get_running_loop().create_task(self._courier(account))
            self._couriers[account] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _courier(self, account: str) -> None:
        """Connect to the SP, bind, deliver what is held, unbind once idle; on failure try again
        after `retry_delay`."""
        endpoint = self.sp_endpoints.get(account)
        if endpoint is None:
            log.info("SGIP simulator: nowhere to deliver to %s; held", account)
            return
        try:
            reader, stream = await asyncio.open_connection(endpoint.host, endpoint.port)
        except OSError as exc:
            log.info("SGIP simulator: cannot reach the SP %s: %s", account, exc)
            self._later(self._retry, account)
            return
        retry = True
        try:
            if await self._exchange(reader, stream, "bind", {
                "Login_Type": sgip.SMG_TO_SP, "Login_Name": endpoint.login, "Login_Password": endpoint.password,
            }) != 0:  # fmt: skip
                self.counts["refused_sp_binds"] += 1
                retry = False  # the SP refuses this login: held until it binds to us again
                return
            self.counts["sp_binds"] += 1
            outbox, more = self._outbox[account], self._more[account]
            while True:
                while outbox:
                    name, values = outbox[0]
                    await self._exchange(reader, stream, name, values)
                    outbox.popleft()  # answered: delivered
                more.clear()
                try:
                    await asyncio.wait_for(more.wait(), self.idle_timeout)
                except TimeoutError:
                    self.counts["idle_unbinds"] += 1
                    await self._exchange(reader, stream, "unbind", {})
                    return
        except asyncio.CancelledError:
            retry = False  # stopping
            raise
        except (OSError, TimeoutError, asyncio.IncompleteReadError, PduError) as exc:
            log.info("SGIP simulator: the connection to the SP %s failed: %s", account, exc or type(exc).__name__)
        finally:
            stream.close()
            if retry and self._outbox.get(account):  # what came while hanging up, or after a failure
                self._later(self._retry, account)

    async def _exchange(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter, name: str,
                        values: dict) -> int:  # fmt: skip
        """Send one command and read its answer (the right one, for the same sequence, or the
        connection is broken); its Result."""
        seq = self.next_sequence()
        stream.write(self.protocol.encode(name, seq, values))
        await stream.drain()
        header = await asyncio.wait_for(reader.readexactly(4), self.answer_timeout)
        frame = header + await asyncio.wait_for(
            reader.readexactly(self.protocol.frame_length(header) - 4), self.answer_timeout
        )
        answer = self.protocol.decode(frame)
        if answer.name != f"{name}_resp" or answer.sequence != seq:
            raise PduError(f"{name} answered by {answer.name} for another sequence")
        return int(answer.body.get("Result", 0))

    async def _retry(self, account: str) -> None:
        await asyncio.sleep(self.retry_delay)
        self._kick(account)
