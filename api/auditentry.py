"""What the audit log records of one action (no web stack: domain code builds these too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class AuditEntry:
    """One administrative action: who, what, from where, and how it ended."""

    tenant_id: str | None
    actor_type: str  # user | key | anonymous | cli
    actor_id: str
    actor_display: str
    action: str
    target_type: str
    target_id: str | None
    client: str
    status: int
    detail: dict = field(default_factory=dict)


class AuditSink(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...
