"""What the platform keeps about people, kind by kind: how each ages out, is erased, is exported.

A retention kind purges rows older than a tenant's setting in short batches (a sync function run
inside one writer transaction per batch). An eraser removes what one number left in its domain
and says how many rows it touched; an exporter returns what its domain holds on the number. A
domain plugs in by registering here (see `privacy.kinds`); nothing else in the package changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from security.keyring import Keyring
from store import Database, GroupWriter

# conn, tenant id, cutoff (Unix ms: rows older than this go), limit → rows deleted (< limit: done)
PurgeBatch = Callable[[Connection, str, int, int], int]

DAY_MS = 86_400_000
MAX_DAYS = 3650  # ten years: beyond it a setting is a mistake, not a policy
# 《通信短信息服务管理规定》 (MIIT Order 31) art. 19: the sending time, sender and recipient numbers
# of an SMS are kept five months. Five months are at most 153 days (July to November).
FIVE_MONTHS_DAYS = 153


@dataclass(frozen=True)
class RetentionKind:
    """Rows of one kind, purged `days` after they were made (None: kept until erased)."""

    name: str
    description: str
    default_days: int | None
    purge: PurgeBatch
    min_days: int = 1
    max_days: int = MAX_DAYS


@dataclass
class ErasureContext:
    """One number's erasure at one tenant; erasers read and may add to `message_ids`."""

    db: Database
    writer: GroupWriter
    keyring: Keyring
    tenant_id: str
    to: str
    bidx: bytes
    now_ms: int
    message_ids: list[str] = field(default_factory=list)
    batch: int = 500


@dataclass
class ExportContext:
    """What an exporter needs to find and open one number's data at one tenant."""

    db: Database
    keyring: Keyring
    tenant_id: str
    to: str
    bidx: bytes
    message_ids: list[str] = field(default_factory=list)


# → {"erased"|"kept": count} per kind name it reports
Eraser = Callable[[ErasureContext], Awaitable[dict[str, dict[str, int]]]]
Exporter = Callable[[ExportContext], Awaitable[Any]]


@dataclass
class Registry:
    """Every kind of personal data, in the order erasure and export visit them."""

    retention: dict[str, RetentionKind] = field(default_factory=dict)
    erasers: list[tuple[str, Eraser]] = field(default_factory=list)
    exporters: dict[str, Exporter] = field(default_factory=dict)

    def add_retention(self, kind: RetentionKind) -> None:
        if kind.name in self.retention:
            raise ValueError(f"retention kind {kind.name!r} is registered twice")
        self.retention[kind.name] = kind

    def add_eraser(self, name: str, eraser: Eraser) -> None:
        self.erasers.append((name, eraser))

    def add_exporter(self, name: str, exporter: Exporter) -> None:
        if name in self.exporters:
            raise ValueError(f"exporter {name!r} is registered twice")
        self.exporters[name] = exporter

    def defaults(self) -> dict[str, int | None]:
        return {name: kind.default_days for name, kind in self.retention.items()}


# The platform's registry: privacy.kinds fills it on import; a new domain adds itself there.
REGISTRY = Registry()
