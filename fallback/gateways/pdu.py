"""A table-driven codec for the Chinese SMS gateway protocols (CMPP, SGIP, SMGP).

Each protocol is a header layout and a table of PDUs; each PDU is a list of fields in wire
order, copied from the specification's tables: big-endian unsigned integers, fixed-size octet
strings (ASCII, padded with NUL, read back without the padding), raw bytes, a variable part
whose length another field holds, a fixed-size item repeated as many times as another field
counts, and (SMGP 3.0) trailing TLVs. Length and count fields are filled in from their data
when encoding and checked against the frame when decoding, so a PDU is built from its data alone.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# No PDU of these protocols comes near this (a submit with 100 destinations and 140 octets is
# about 3.5 KB): a larger length means a corrupt or hostile stream.
MAX_PDU_LEN = 16 * 1024


def mmddhhmmss(moment: datetime) -> str:
    """The time as the login authenticators and sequence numbers carry it: MMDDHHMMSS."""
    return moment.strftime("%m%d%H%M%S")


class PduError(ValueError):
    """A frame that does not follow its PDU's layout (or a value that cannot be encoded)."""


@dataclass(frozen=True)
class Int:
    """A big-endian unsigned integer of `size` octets (1, 2, 4 or 8)."""

    size: int

    def encode(self, value: Any) -> bytes:
        try:
            return int(value).to_bytes(self.size, "big")
        except (OverflowError, TypeError, ValueError) as exc:
            raise PduError(f"{value!r} does not fit {self.size} octets unsigned") from exc

    def decode(self, data: bytes) -> int:
        return int.from_bytes(data, "big")


@dataclass(frozen=True)
class Octets:
    """A fixed-size octet string: ASCII text padded with NUL (a value may be str or bytes)."""

    size: int

    def encode(self, value: Any) -> bytes:
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value or b"")
        if len(raw) > self.size:
            raise PduError(f"{raw!r} is longer than {self.size} octets")
        return raw.ljust(self.size, b"\x00")

    def decode(self, data: bytes) -> str:
        return data.rstrip(b"\x00").decode("ascii", "replace")


@dataclass(frozen=True)
class Raw:
    """Fixed-size bytes kept as they are (authenticators, binary message ids)."""

    size: int

    def encode(self, value: Any) -> bytes:
        raw = bytes(value or b"")
        if len(raw) > self.size:
            raise PduError(f"{len(raw)} octets given for a {self.size}-octet field")
        return raw.ljust(self.size, b"\x00")

    def decode(self, data: bytes) -> bytes:
        return data


@dataclass(frozen=True)
class Var:
    """Bytes whose length the field `length` (an `Int`, earlier in the PDU) holds."""

    length: str


@dataclass(frozen=True)
class Repeat:
    """`item` repeated as many times as the field `count` (an `Int`, earlier in the PDU) says."""

    item: Octets
    count: str


@dataclass(frozen=True)
class Tlvs:
    """The rest of the body as tag (2 octets), length (2 octets), value: {tag: bytes}."""


FieldType = Int | Octets | Raw | Var | Repeat | Tlvs


@dataclass(frozen=True)
class PduDef:
    name: str
    command_id: int
    fields: tuple[tuple[str, FieldType], ...] = ()

    @property
    def derived(self) -> dict[str, str]:
        """Length and count fields → the field whose data they measure."""
        out = {}
        for name, kind in self.fields:
            if isinstance(kind, Var):
                out[kind.length] = name
            elif isinstance(kind, Repeat):
                out[kind.count] = name
        return out


@dataclass
class Pdu:
    """One decoded PDU: its definition, its sequence (an int, or SGIP's three-part tuple) and
    its fields by the specification's names."""

    definition: PduDef
    sequence: Any
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


def encode_body(definition: PduDef, values: Mapping[str, Any]) -> bytes:
    """The body of a PDU from its data; length and count fields are computed, never given."""
    derived = definition.derived
    given = set(values) - set(derived)
    unknown = given - {n for n, _ in definition.fields}
    if unknown:
        raise PduError(f"{definition.name} has no field {sorted(unknown)[0]!r}")
    out = bytearray()
    for name, kind in definition.fields:
        if name in derived:
            measured = values.get(derived[name])
            n = len(measured) if measured is not None else 0
            assert isinstance(kind, Int)
            out += kind.encode(n)
        elif isinstance(kind, Var):
            out += bytes(values.get(name) or b"")
        elif isinstance(kind, Repeat):
            for item in values.get(name) or ():
                out += kind.item.encode(item)
        elif isinstance(kind, Tlvs):
            for tag, value in (values.get(name) or {}).items():
                out += struct.pack(">HH", tag, len(value)) + bytes(value)
        else:
            out += kind.encode(values.get(name, 0 if isinstance(kind, Int) else b""))
    return bytes(out)


def decode_body(definition: PduDef, body: bytes) -> dict[str, Any]:
    """The fields of a PDU body; PduError when the body is short, long or inconsistent."""
    values: dict[str, Any] = {}
    at = 0

    def take(n: int, what: str) -> bytes:
        nonlocal at
        if n < 0 or at + n > len(body):
            raise PduError(f"{definition.name}: {what} runs past the end of the PDU")
        chunk = body[at : at + n]
        at += n
        return chunk

    for name, kind in definition.fields:
        if isinstance(kind, Var):
            values[name] = take(int(values[kind.length]), name)
        elif isinstance(kind, Repeat):
            values[name] = [kind.item.decode(take(kind.item.size, name)) for _ in range(int(values[kind.count]))]
        elif isinstance(kind, Tlvs):
            tlvs: dict[int, bytes] = {}
            while at < len(body):
                tag, n = struct.unpack(">HH", take(4, "a TLV header"))
                tlvs[tag] = take(n, f"TLV 0x{tag:04x}")
            values[name] = tlvs
        else:
            values[name] = kind.decode(take(kind.size, name))
    if at != len(body):
        raise PduError(f"{definition.name}: {len(body) - at} octets after the last field")
    for length in definition.derived:  # the data carries them; keep the body to the data
        values.pop(length, None)
    return values


@dataclass(frozen=True)
class Protocol:
    """A protocol's header (length, command id, then a sequence of `sequence_size` octets) and
    its PDUs by command id."""

    name: str
    pdus: Sequence[PduDef]
    sequence_size: int = 4

    @property
    def header_len(self) -> int:
        return 8 + self.sequence_size

    def by_name(self, name: str) -> PduDef:
        for d in self.pdus:
            if d.name == name:
                return d
        raise KeyError(name)

    def encode(self, name: str, sequence: Any, values: Mapping[str, Any] | None = None) -> bytes:
        """A whole frame: header and body."""
        definition = self.by_name(name)
        body = encode_body(definition, values or {})
        length = self.header_len + len(body)
        if length > MAX_PDU_LEN:
            raise PduError(f"{name} of {length} octets exceeds {MAX_PDU_LEN}")
        return struct.pack(">II", length, definition.command_id) + self._sequence_bytes(sequence) + body

    def decode(self, frame: bytes) -> Pdu:
        """One whole frame (as `read_frame` returns it) → its PDU."""
        if len(frame) < self.header_len:
            raise PduError(f"{self.name}: a frame of {len(frame)} octets is shorter than the header")
        length, command_id = struct.unpack(">II", frame[:8])
        if length != len(frame):
            raise PduError(f"{self.name}: the header says {length} octets, the frame has {len(frame)}")
        definition = next((d for d in self.pdus if d.command_id == command_id), None)
        if definition is None:
            raise PduError(f"{self.name}: unknown command id 0x{command_id:08x}")
        sequence = self._sequence_value(frame[8 : self.header_len])
        return Pdu(definition, sequence, decode_body(definition, frame[self.header_len :]))

    def frame_length(self, header: bytes) -> int:
        """The total length a frame's first four octets announce (checked against the limits)."""
        (length,) = struct.unpack(">I", header[:4])
        if not self.header_len <= length <= MAX_PDU_LEN:
            raise PduError(f"{self.name}: a frame length of {length} octets is out of bounds")
        return length

    def _sequence_bytes(self, sequence: Any) -> bytes:
        if self.sequence_size == 4:
            return struct.pack(">I", sequence)
        return struct.pack(">III", *sequence)

    def _sequence_value(self, data: bytes) -> Any:
        if self.sequence_size == 4:
            return struct.unpack(">I", data)[0]
        return struct.unpack(">III", data)
