"""executemany for hot write paths: straight through the driver.

SQLAlchemy's executemany processes every parameter of every row in Python (bind processors,
parameter dicts); at thousands of rows a second that was a large share of the dispatcher's CPU.
On SQLite and on PostgreSQL through asyncpg, the statement is compiled once, each row becomes a
tuple and the driver's executemany does the rest (sqlite3's C loop; asyncpg's prepared
statement, its rows pipelined in one round trip); only JSON columns need converting, to the
text both drivers take for them. Elsewhere it is plain `conn.execute(statement, rows)`.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import JSON, Boolean, ClauseElement, Connection, Executable, Select, Table, any_, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY, asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from store.db import _json_dumps

_DIALECT = sqlite.dialect(paramstyle="qmark")
# Compiled for, and run through, asyncpg: `$n` parameters, each with its type cast.
_DIALECTS = {"sqlite": _DIALECT, "postgresql": asyncpg.dialect()}


def executemany(conn: Connection, statement: Insert | Update | Table, rows: list[dict]) -> None:
    """Run `statement` (or INSERT into a table) once per row, all rows having the same keys."""
    if not rows:
        return
    if isinstance(statement, Table):
        statement = _insert_into(statement)
    keys = tuple(rows[0])
    dialect = conn.dialect
    direct = dialect.name == "sqlite" or (dialect.name == "postgresql" and dialect.driver == "asyncpg")
    if not direct or any(len(r) != len(keys) for r in rows):
        conn.execute(statement, rows)
        return
    sql, build = _plan(statement, keys, dialect.name)
    params = [build(r) for r in rows]
    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        conn.exec_driver_sql(sql, params)
        return
    # sqlite3's own executemany, in the transaction SQLAlchemy began: its execution context
    # (events, cursor and result wrappers) cost ~10 µs a call on the group writer's thread.
    try:
        driver.executemany(sql, params)
    except sqlite3.Error as exc:  # as SQLAlchemy raises it (IntegrityError for a duplicate key…)
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


@cache
def _insert_into(table: Table) -> Insert:
    return table.insert()  # one object per table, so the plan below is cached


@lru_cache(maxsize=512)
def _plan(statement, keys: tuple[str, ...], dialect: str = "sqlite") -> tuple[str, Callable[[dict], tuple]]:
    compiled = statement.compile(dialect=_DIALECTS[dialect], column_keys=list(keys))
    parts: list = []
    constants: dict = {}
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if name in keys:
            parts.append(f"_json(row[{name!r}])" if isinstance(bind.type, JSON) else f"row[{name!r}]")
        elif bind.required:
            raise ValueError(f"no value for {name!r} in the rows")
        else:  # an INSERT column's Python default, or a literal in the statement (`lease_owner=None`)
            value = _insert_default(statement, name)
            constants[f"_c{len(constants)}"] = bind.value if value is _NONE else value
            parts.append(f"_c{len(constants) - 1}")
    # One compiled expression per statement shape: building each row's tuple is then a single
    # Python call (a generator over per-column getters cost as much as SQLite's own work).
    source = f"lambda row: ({', '.join(parts)},)"
    return str(compiled), eval(source, {"_json": _json_dumps, **constants})  # noqa: S307 (column names only)


_NONE = object()


def _insert_default(statement, key: str):
    if not isinstance(statement, Insert):
        return _NONE
    default = getattr(statement.table.c.get(key), "default", None)
    if default is None:
        return _NONE
    if not default.is_scalar:
        raise ValueError(f"column {key!r} has a non-scalar default; give it in the rows")
    return default.arg


def fetch(conn: Connection, statement: Executable, params: dict) -> list[tuple]:
    """The rows of a statement built once (`select`, or DML with RETURNING), as tuples. On
    SQLite straight through the driver, its SQL compiled once per set of parameters and size of
    its expanding (`in_(bindparam(..., expanding=True))`) ones: on the accept path SQLAlchemy's
    own execution of a small look-up cost several times the look-up. Values go to the driver as
    they are (no type conversion): for columns of plain types."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        # PostgreSQL, or SQLite through the async driver (a connection of the async engine in
        # run_sync): SQLAlchemy's own execution.
        return [tuple(r) for r in conn.execute(statement, params)]
    return _direct(driver, statement, params).fetchall()


def fetch_named(conn: Connection, statement: Select, params: dict) -> list:
    """`fetch` with each row a named tuple of the statement's columns (`row.id`)."""
    make = _row_maker(tuple(c.key for c in statement.selected_columns))
    return [make(r) for r in fetch(conn, statement, params)]


def named(result) -> list:
    """A result's rows as named tuples. SQLAlchemy's compiled Row finds a column by name only
    after the ordinary attribute look-up has failed — building an AttributeError each time,
    ~0.3 µs an access, ten times an index; a loop over a thousand rows reads several each."""
    make = _row_maker(tuple(result.keys()))
    return [make(r) for r in result]


@lru_cache(maxsize=256)
def _row_maker(keys: tuple[str, ...]) -> Callable[[Iterable], tuple]:
    """A named tuple type's constructor from an iterable, for rows of these columns."""
    # Its fields are known only at run time, which mypy's namedtuple support cannot follow.
    row: Any = namedtuple("Row", keys)  # type: ignore[misc]
    return row._make


def execute(conn: Connection, statement: Executable, params: dict) -> None:
    """`fetch` for a statement that returns no rows (an UPDATE or DELETE built once)."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        conn.execute(statement, params)
        return
    _direct(driver, statement, params)


def _direct(driver: sqlite3.Connection, statement: Executable, params: dict) -> sqlite3.Cursor:
    lists = {k: _padded(v) for k, v in params.items() if isinstance(v, list | tuple)}
    shape = tuple((k, len(lists[k]) if k in lists else -1) for k in params)
    sql, order = _fetch_plan(statement, shape)
    args: list = []
    for name, expanding, constant in order:
        if name is None:
            args.append(constant)
        elif expanding:
            args.extend(lists[name])
        else:
            args.append(params[name])
    return driver.execute(sql, args)


def _padded(values: list | tuple) -> list | tuple:
    """An IN list padded with its last value up to a power of two (at least 8): the same set,
    so the same rows, and a few SQL shapes per statement instead of one per length (each plan,
    and SQLite's prepared statement, is kept)."""
    n = len(values)
    if n <= 1:
        return values  # nothing to repeat (an empty list matches nothing), one value is one shape
    size = max(8, 1 << (n - 1).bit_length())
    return values if size == n else [*values, *([values[-1]] * (size - n))]


@lru_cache(maxsize=1024)
def _fetch_plan(statement: Executable, shape: tuple[tuple[str, int], ...]) -> tuple[str, tuple]:
    """The SQL and, in its order, each parameter's name (None: a constant), whether it expands
    and its constant."""
    keys = [k for k, _ in shape]
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=_DIALECT, column_keys=keys))
    sql = compiled.string
    for name, n in shape:
        if n < 0:
            continue
        # An empty list matches nothing, as SQLAlchemy renders it.
        sql = sql.replace(
            f"(__[POSTCOMPILE_{name}])", "(" + ", ".join("?" * n) + ")" if n else "(SELECT 1 WHERE 1 = 0)"
        )
    if "__[POSTCOMPILE_" in sql:
        raise ValueError("an expanding parameter was given no list")
    order: list[tuple[str | None, bool, object]] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if name in keys:
            order.append((name, bind.expanding, None))
            continue
        value = _insert_default(statement, name)
        if value is _NONE and bind.required:
            raise ValueError(f"no value for {name!r}")
        order.append((None, False, bind.value if value is _NONE else value))
    return sql, tuple(order)


class AnyOf(ColumnElement[bool]):
    """`column IN (…)` over a list given as the parameter `name`: `AnyOf(messages.c.id, "ids")`.

    SQLite gets an expanding IN; PostgreSQL gets `column = ANY($n)`, the list as one array
    parameter. SQLAlchemy renders an expanding IN afresh for every execution (each value its own
    parameter, processed in Python) — 100 ids cost about four times the look-up itself on
    PostgreSQL; an array is one parameter of a statement compiled once."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement, name: str):
        self.column = column
        self.name = name


@compiles(AnyOf)
def _any_of_in(element: AnyOf, compiler, **kw) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(AnyOf, "postgresql")
def _any_of_array(element: AnyOf, compiler, **kw) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)
