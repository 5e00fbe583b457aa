"""The shared shape of a domain's record keeper: a database, its writer, the keyring that seals
what it keeps, and injected clock and id factories (so golden files and tests are stable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store.clock import Clock, SystemClock
from store.db import Database
from store.ids import new_id
from store.writer import GroupWriter


class RecordBook:
    """Base of a domain's records service (the opt-out list, consent records…)."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Any,  # a security.Keyring (store sits below security: no import of it here)
        clock: Clock | None = None,
        id_factory: Callable[[], str] = new_id,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        self.clock = clock or SystemClock()
        self.new_id = id_factory

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)
