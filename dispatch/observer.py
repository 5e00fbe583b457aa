"""What dispatch reports as it works, to whoever watches (server.py wires the process's metrics
here; dispatch never imports them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _ignore(*_args) -> None:
    return None


@dataclass(frozen=True)
class Observer:
    """`statuses(names)`: status changes about to be committed; `send(channel, outcome,
    seconds)`: one send to a MaaP (`rcs`) or an SMS route (`sms`) and how it ended."""

    statuses: Callable[[list[str]], None] = _ignore
    send: Callable[[str, str, float], None] = _ignore


QUIET = Observer()
