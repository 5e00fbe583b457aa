"""SMPP 3.4 wire helpers shared by the client and the SMSC simulator.

PDU encoding and decoding is done by `smpp.pdu` (the codec Jasmin uses); this module adds
asyncio framing, the short_message payloads for each SMS part (GSM-7 unpacked one septet per
octet with data_coding 0x00, UCS-2 big-endian with data_coding 0x08, an 8-bit-reference
concatenation UDH) and lenient delivery-receipt parsing.
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from datetime import datetime

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from smpp.pdu import operations, pdu_types, smpp_time
from smpp.pdu.error import PDUCorruptError, PDUParseError  # noqa: F401  (re-exported)
from smpp.pdu.pdu_encoding import PDUEncoder

from fallback import framing
from fallback.receipts import DELIVERED, FAILED_STATES, is_final  # noqa: F401  (re-exported)
from fallback.segmentation import GSM7, Segmentation
from fallback.udh import concat_info, concat_udh, split_udh  # noqa: F401  (re-exported)
from security.numbers import ascii_digits

Status = pdu_types.CommandStatus
HEADER_LEN = 16
# No PDU we exchange comes near this; a larger length means a corrupt or hostile stream.
MAX_PDU_LEN = 64 * 1024
INTERFACE_VERSION = 0x34
# ESME_RTHROTTLED and ESME_RMSGQFUL mean "slow down", never "this message is bad".
THROTTLE_STATUSES = frozenset({Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL})
# Errors worth retrying later (system or queue trouble at the SMSC), as opposed to a bad message.
TRANSIENT_STATUSES = THROTTLE_STATUSES | frozenset(
    {Status.ESME_RSYSERR, Status.ESME_RSUBMITFAIL, Status.ESME_RX_T_APPN}
)
# query_sm answers meaning "no such message here".
UNKNOWN_MESSAGE_STATUSES = frozenset({Status.ESME_RQUERYFAIL, Status.ESME_RINVMSGID})

_codec = PDUEncoder()


def _parse_time(value: bytes | str):
    """smpp.pdu's time parser without the `print` it makes on every call (a query_sm_resp's
    final_date, a validity period): the same checks, nothing on stdout."""
    text = value.decode() if isinstance(value, bytes) else value
    if len(text) != 16:
        raise ValueError(f"Invalid time length {len(text)}")
    return smpp_time.parse_relative_time(text) if text[-1] == "R" else smpp_time.parse_absolute_time(text)


smpp_time.parse = _parse_time


class FrameError(Exception):
    """The byte stream is not a sequence of SMPP PDUs; the connection must be dropped."""


def encode_pdu(pdu: operations.PDU) -> bytes:
    return _codec.encode(pdu)


def decode_pdu(frame: bytes) -> operations.PDU:
    """Decode one whole PDU; raises PDUParseError (answer generic_nack) or PDUCorruptError."""
    return _codec.decode(io.BytesIO(frame))


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """Read one PDU's bytes (header included); IncompleteReadError at EOF."""
    header = await reader.readexactly(HEADER_LEN)
    length = int.from_bytes(header[:4], "big")
    if not HEADER_LEN <= length <= MAX_PDU_LEN:
        raise FrameError(f"command_length {length} out of range")
    return header + await reader.readexactly(length - HEADER_LEN)


class FrameWriter(framing.FrameWriter):
    """A `fallback.framing.FrameWriter` of SMPP PDUs."""

    def __init__(self, writer: asyncio.StreamWriter):
        super().__init__(writer, encode_pdu)


def frame_header(frame: bytes) -> tuple[int, int, int]:
    """(command_id, command_status, sequence_number) of a raw frame."""
    return (
        int.from_bytes(frame[4:8], "big"),
        int.from_bytes(frame[8:12], "big"),
        int.from_bytes(frame[12:16], "big"),
    )


def is_response(command_id: int) -> bool:
    return bool(command_id & 0x80000000)


def generic_nack(seq: int, status: Status) -> operations.GenericNack:
    return operations.GenericNack(seqNum=seq, status=status)


def parse_error_status(exc: Exception) -> Status:
    status = getattr(exc, "status", None)
    return status if isinstance(status, Status) else Status.ESME_RUNKNOWNERR


# --- short_message payloads ---------------------------------------------------------------


@dataclass(frozen=True)
class WirePart:
    """What goes into one submit_sm: the payload and the flags that describe it."""

    short_message: bytes
    data_coding: int
    udhi: bool


def wire_parts(segmentation: Segmentation, reference: int) -> list[WirePart]:
    """Encode each part of `segmentation`; several parts get an 8-bit-reference UDH
    (IEI 0x00, 3GPP TS 23.040 §9.2.3.24.1) with `reference` modulo 256."""
    gsm = segmentation.encoding == GSM7
    data_coding = 0x00 if gsm else 0x08
    total = len(segmentation.parts)
    out = []
    for seq, part in enumerate(segmentation.parts, start=1):
        payload = part.text.encode("gsm03.38") if gsm else part.text.encode("utf-16-be")
        if total > 1:
            payload = concat_udh(reference, total, seq) + payload
        out.append(WirePart(payload, data_coding, total > 1))
    return out


def data_coding_value(pdu: operations.PDU) -> int:
    dc = pdu.params.get("data_coding")
    if dc is None:
        return 0
    data = dc.schemeData
    if dc.scheme == pdu_types.DataCodingScheme.DEFAULT:
        return {
            pdu_types.DataCodingDefault.SMSC_DEFAULT_ALPHABET: 0x00,
            pdu_types.DataCodingDefault.IA5_ASCII: 0x01,
            pdu_types.DataCodingDefault.OCTET_UNSPECIFIED: 0x02,
            pdu_types.DataCodingDefault.LATIN_1: 0x03,
            pdu_types.DataCodingDefault.OCTET_UNSPECIFIED_COMMON: 0x04,
            pdu_types.DataCodingDefault.JIS: 0x05,
            pdu_types.DataCodingDefault.CYRILLIC: 0x06,
            pdu_types.DataCodingDefault.ISO_8859_8: 0x07,
            pdu_types.DataCodingDefault.UCS2: 0x08,
        }.get(data, 0x00)
    return int(data) if isinstance(data, int) else 0


def data_coding(value: int) -> pdu_types.DataCoding:
    if value == 0x08:
        return pdu_types.DataCoding(schemeData=pdu_types.DataCodingDefault.UCS2)
    return pdu_types.DataCoding(schemeData=pdu_types.DataCodingDefault.SMSC_DEFAULT_ALPHABET)


def has_udhi(pdu: operations.PDU) -> bool:
    esm = pdu.params.get("esm_class")
    return esm is not None and pdu_types.EsmClassGsmFeatures.UDHI_INDICATOR_SET in esm.gsmFeatures


def sar_info(pdu: operations.PDU) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from the sar_* TLVs of a part of a long message."""
    params = pdu.params
    total, seq = params.get("sar_total_segments"), params.get("sar_segment_seqnum")
    if not total or not seq:
        return None
    return int(params.get("sar_msg_ref_num") or 0), int(total), int(seq)


def decode_text(payload: bytes, coding: int) -> str:
    """Text of a short_message body: GSM-7 unpacked (0x00), Latin-1 (0x03), UCS-2 (0x08)."""
    if coding == 0x08:
        return payload.decode("utf-16-be", errors="replace")
    if coding == 0x03:
        return payload.decode("latin-1")
    if coding == 0x01:
        return payload.decode("ascii", errors="replace")
    return payload.decode("gsm03.38", errors="replace")


def sms_address(e164: str) -> tuple[str, pdu_types.AddrTon, pdu_types.AddrNpi]:
    """An E.164 number as an SMPP international ISDN address (digits without '+')."""
    digits = e164[1:] if e164.startswith("+") else e164
    return digits, pdu_types.AddrTon.INTERNATIONAL, pdu_types.AddrNpi.ISDN


def source_address(source: str) -> tuple[str, pdu_types.AddrTon, pdu_types.AddrNpi]:
    """A sender: '+' E.164 → international; digits → a short code; else alphanumeric."""
    if source.startswith("+") and ascii_digits(source[1:]):
        return sms_address(source)
    if ascii_digits(source):
        return source, pdu_types.AddrTon.UNKNOWN, pdu_types.AddrNpi.ISDN
    return source, pdu_types.AddrTon.ALPHANUMERIC, pdu_types.AddrNpi.UNKNOWN


def e164_of(address: bytes | str, ton: pdu_types.AddrTon | None) -> str:
    text = address.decode("ascii", errors="replace") if isinstance(address, bytes) else address
    if ton == pdu_types.AddrTon.INTERNATIONAL and not text.startswith("+"):
        return "+" + text
    return text


# --- delivery receipts (SMPP 3.4 Appendix B, parsed leniently) ------------------------------

_STATE_NAMES = {
    pdu_types.MessageState.ENROUTE: "ENROUTE",
    pdu_types.MessageState.DELIVERED: "DELIVRD",
    pdu_types.MessageState.EXPIRED: "EXPIRED",
    pdu_types.MessageState.DELETED: "DELETED",
    pdu_types.MessageState.UNDELIVERABLE: "UNDELIV",
    pdu_types.MessageState.ACCEPTED: "ACCEPTD",
    pdu_types.MessageState.UNKNOWN: "UNKNOWN",
    pdu_types.MessageState.REJECTED: "REJECTD",
}
# Vendors spell states in full, abbreviate differently or change case.
_STATE_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "EXPIRD": "EXPIRED",
    "DELETD": "DELETED",
}
_RECEIPT_FIELD = re.compile(r"(?i)\b(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err)\s*:\s*([^\s:]*(?=\s|$))")
_RECEIPT_TEXT = re.compile(r"(?is)\btext\s*:(.*)$")


@dataclass(frozen=True)
class Receipt:
    """One part's delivery receipt."""

    message_id: str
    stat: str
    err: str | None = None
    submitted_at: datetime | None = None
    done_at: datetime | None = None

    @property
    def final(self) -> bool:
        return is_final(self.stat)


def state_name(state: pdu_types.MessageState | None) -> str | None:
    """The receipt spelling (DELIVRD, UNDELIV, ENROUTE…) of an SMPP message_state."""
    return _STATE_NAMES.get(state) if state is not None else None


def is_receipt(pdu: operations.PDU) -> bool:
    esm = pdu.params.get("esm_class")
    if esm is not None and esm.type in (
        pdu_types.EsmClassType.SMSC_DELIVERY_RECEIPT,
        pdu_types.EsmClassType.INTERMEDIATE_DELIVERY_NOTIFICATION,
    ):
        return True
    return pdu.params.get("receipted_message_id") is not None


def parse_receipt(pdu: operations.PDU) -> Receipt | None:
    """Read a deliver_sm receipt from its TLVs (receipted_message_id, message_state) and its
    text (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`); TLVs win."""
    raw = pdu.params.get("short_message") or b""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    fields = parse_receipt_text(text)
    tlv_id = pdu.params.get("receipted_message_id")
    if isinstance(tlv_id, bytes):
        tlv_id = tlv_id.decode("ascii", errors="replace")
    tlv_state = pdu.params.get("message_state")
    message_id = tlv_id or fields.get("id")
    stat = state_name(tlv_state) or normalise_state(fields.get("stat"))
    if not message_id or not stat:
        return None
    err = fields.get("err")
    network_error = pdu.params.get("network_error_code")
    if err is None and network_error is not None:
        err = str(getattr(network_error, "error_code", network_error))
    return Receipt(
        message_id=message_id.strip(),
        stat=stat,
        err=err,
        submitted_at=parse_receipt_date(fields.get("submit date")),
        done_at=parse_receipt_date(fields.get("done date")),
    )


def parse_receipt_text(text: str) -> dict[str, str]:
    """The `key:value` fields of a receipt text, keys lower-case with one space."""
    head = _RECEIPT_TEXT.split(text, maxsplit=1)[0]
    fields = {}
    for key, value in _RECEIPT_FIELD.findall(head):
        name = re.sub(r"[ _]", "", key.lower()).replace("date", " date")
        fields.setdefault(name, value)
    return fields


def normalise_state(stat: str | None) -> str | None:
    if not stat:
        return None
    upper = stat.strip().upper()
    return _STATE_ALIASES.get(upper, upper)


def parse_receipt_date(value: str | None) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss as a naive datetime (SMSC local time); None if unreadable."""
    if not value or not ascii_digits(value) or len(value) not in (10, 12):
        return None
    fields = [int(value[i : i + 2]) for i in range(0, len(value), 2)]
    try:
        return datetime(2000 + fields[0], *fields[1:])
    except ValueError:
        return None


def format_receipt_date(moment: datetime) -> str:
    return moment.strftime("%y%m%d%H%M")
