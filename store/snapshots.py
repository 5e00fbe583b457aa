"""A JSON document kept in one file and rewritten after it changes: what the sandbox simulators
keep across a restart. Writes are debounced (one per `delay_s` at most, none while nothing
changes, so an idle process never wakes for it) and atomic (a temporary file renamed over the
old one, so a crash leaves the previous document whole). The caller keeps the document bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("hongyan.snapshots")


class Snapshot:
    """One file holding `make()`'s document, written `delay_s` after `changed()` is called."""

    def __init__(self, path: Path, make: Callable[[], dict[str, Any]], *, delay_s: float = 1.0):
        self.path = path
        self._make = make
        self._delay_s = delay_s
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False
        self._writing: asyncio.Task | None = None
        self.writes = 0

    def read(self) -> dict[str, Any] | None:
        """The document last written; None when there is none (or it cannot be read: logged)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("%s is not a readable snapshot; starting afresh", self.path)
            return None
        return doc if isinstance(doc, dict) else None

    def changed(self) -> None:
        """Something in the document changed: write it soon (once, however many changes come)."""
        self._dirty = True
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._due)

    def _due(self) -> None:
        self._timer = None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self.save())
        else:  # a write is still going: look again after it
            self.changed()

    async def save(self) -> None:
        """Write the document now (made here, on the loop, so it is consistent; written off it)."""
        self._dirty = False
        try:
            raw = orjson.dumps(self._make())
            await asyncio.to_thread(_replace, self.path, raw)
            self.writes += 1
        except Exception:  # the sandbox keeps running; the next change tries again
            log.exception("writing %s failed", self.path)

    async def close(self) -> None:
        """Write what changed since the last write, and stop."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        if self._dirty:
            await self.save()


def _replace(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
