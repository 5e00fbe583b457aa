"""How a domain declares its sealed columns, so key rotation can re-encrypt every one of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table


def _by_id(row) -> str:
    return row.id


@dataclass(frozen=True)
class SealedColumn:
    """A sealed column: its table, column, the name the associated data binds, and how to name
    the row (the row id the value was sealed under) and walk the table in order."""

    table: Table
    column: str
    ad_column: str
    row_id: Callable[[Any], str] = _by_id
    order_by: tuple[str, ...] = ("id",)
