"""Writing PDUs to a stream: shared by the SMPP client and simulator and the gateway protocols."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class FrameWriter:
    """Writes PDUs (`encode` turns one into bytes; frames already encoded by default),
    coalescing those sent in one event-loop turn into a single socket write (one syscall for
    many submits and answers under load)."""

    def __init__(self, writer: asyncio.StreamWriter, encode: Callable[[Any], bytes] = bytes):
        self.stream = writer
        self._encode = encode
        self._pending: list[bytes] = []
        self._queued = 0  # tickets handed out by `send`
        self.written = 0  # the last ticket handed to the socket

    def send(self, pdu: Any) -> int:
        """Queue `pdu` for this turn's write; returns its ticket (see `was_written`), 0 when the
        stream is closing and nothing was queued."""
        if self.stream.is_closing():
            return 0
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(self._encode(pdu))
        self._queued += 1
        return self._queued

    def was_written(self, ticket: int) -> bool:
        """Whether the PDU with `ticket` went to the socket (so the peer may have it)."""
        return 0 < ticket <= self.written

    def flush(self) -> None:
        if self._pending and not self.stream.is_closing():
            self.stream.write(b"".join(self._pending))
            self.written = self._queued
        self._pending.clear()

    async def drain(self) -> None:
        await self.stream.drain()

    def close(self) -> None:
        self.flush()
        self.stream.close()

    def abort(self) -> None:
        self._pending.clear()
        self.stream.transport.abort()
