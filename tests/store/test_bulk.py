"""store.bulk.executemany gives the same rows as SQLAlchemy's own executemany; store.bulk.fetch
the same rows as SQLAlchemy's own execution."""

from __future__ import annotations

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from store.bulk import executemany, fetch, fetch_named, named

meta = MetaData()
things = Table(
    "things",
    meta,
    Column("id", String(8), primary_key=True),
    Column("n", BigInteger),
    Column("blob", LargeBinary),
    Column("detail", JSON),
    Column("flag", Boolean),
    Column("tries", Integer, nullable=False, default=7),
    Column("owner", String(8)),
)
ROWS = [
    {"id": "a", "n": 1, "blob": b"\x00\xff", "detail": None, "flag": True},
    {"id": "b", "n": 2**40, "blob": None, "detail": {"k": ["é", 1.5, None]}, "flag": False},
]
UPDATE = things.update().where(things.c.id == bindparam("b_id")).values(n=bindparam("b_n"), owner=None)


def _rows(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(things).order_by(things.c.id))]


@pytest.mark.parametrize("fast", [True, False])
def test_same_rows_as_sqlalchemy(fast):
    engines = []
    for use_bulk in (fast, False):
        engine = create_engine("sqlite://")
        meta.create_all(engine)
        with engine.begin() as conn:
            run = executemany if use_bulk else (lambda c, s, r: c.execute(s.insert() if isinstance(s, Table) else s, r))
            run(conn, things, [dict(r) for r in ROWS])
            conn.execute(things.update().values(owner="x"))
            run(conn, UPDATE, [{"b_id": "a", "b_n": 5}, {"b_id": "b", "b_n": 6}])
        engines.append(engine)
    assert _rows(engines[0]) == _rows(engines[1])
    assert _rows(engines[0])[0] == ("a", 5, b"\x00\xff", None, True, 7, None)


def test_rows_of_different_shapes_behave_as_in_sqlalchemy():
    rows = [{"id": "a", "n": 1}, {"id": "b", "n": 2, "owner": "o"}]
    engines = []
    for run in (executemany, lambda c, t, r: c.execute(t.insert(), r)):
        engine = create_engine("sqlite://")
        meta.create_all(engine)
        with engine.begin() as conn:
            run(conn, things, [dict(r) for r in rows])
        engines.append(engine)
    assert _rows(engines[0]) == _rows(engines[1])


def test_a_missing_required_value_is_refused():
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError):
        executemany(conn, UPDATE, [{"b_id": "a"}])


AMONG = select(things.c.id, things.c.n, things.c.blob).where(
    and_(things.c.id.in_(bindparam("ids", expanding=True)), things.c.n > bindparam("lo"))
)


@pytest.mark.parametrize(
    "params",
    [
        {"ids": ["a", "b", "zz"], "lo": 0},
        {"ids": ["b"], "lo": 0},
        {"ids": ["a", "b"], "lo": 1},  # a scalar after the list keeps its place
        {"ids": [], "lo": 0},  # nothing matches an empty list
    ],
)
def test_fetch_gives_the_rows_sqlalchemy_gives(params):
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        executemany(conn, things, [dict(r) for r in ROWS])
        expected = [tuple(r) for r in conn.execute(AMONG, params)]
        assert sorted(fetch(conn, AMONG, params)) == sorted(expected)
        assert sorted(fetch(conn, AMONG, params)) == sorted(expected)  # the cached plan


def test_lists_of_any_length_share_a_few_plans():
    """IN lists are padded to a power of two (their last value repeated): every length from 2 to
    40 gives the rows SQLAlchemy gives, through at most four SQL shapes."""
    from store.bulk import _fetch_plan, execute

    engine = create_engine("sqlite://")
    meta.create_all(engine)
    rows = [{"id": f"r{i:02d}", "n": i} for i in range(40)]
    with engine.begin() as conn:
        executemany(conn, things, rows)
        before = _fetch_plan.cache_info().currsize
        for n in range(2, 41):
            params = {"ids": [r["id"] for r in rows[:n]] + ["zz"], "lo": 0}
            expected = sorted(tuple(r) for r in conn.execute(AMONG, params))
            assert sorted(fetch(conn, AMONG, params)) == expected and len(expected) == n - 1  # r00 has n = 0
        assert _fetch_plan.cache_info().currsize - before <= 4
        execute(
            conn,
            things.update().where(things.c.id.in_(bindparam("ids", expanding=True))).values(owner="p"),
            {"ids": ["r01", "r02", "r03"]},
        )
        assert sorted(r.id for r in conn.execute(select(things.c.id).where(things.c.owner == "p"))) == [
            "r01",
            "r02",
            "r03",
        ]


def test_fetch_returns_what_an_upsert_returns():
    stmt = sqlite_insert(things)
    upsert = stmt.on_conflict_do_update(index_elements=["id"], set_={"n": things.c.n + stmt.excluded.n}).returning(
        things.c.n
    )
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        assert fetch(conn, upsert, {"id": "c", "n": 3}) == [(3,)]
        assert fetch(conn, upsert, {"id": "c", "n": 4}) == [(7,)]


async def test_fetch_through_the_async_engine(tmp_path):
    """A connection of the async engine (in run_sync) is not the driver's own: SQLAlchemy runs it."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
            await conn.run_sync(lambda c: executemany(c, things, [dict(r) for r in ROWS]))
            params = {"ids": ["a", "b"], "lo": 0}
            expected = [tuple(r) for r in await conn.execute(AMONG, params)]
            assert sorted(await conn.run_sync(lambda c: fetch(c, AMONG, params))) == sorted(expected)
    finally:
        await engine.dispose()


async def test_same_rows_as_sqlalchemy_on_postgresql(pg_url):
    """Through asyncpg the rows go to the driver's own executemany: the same rows as SQLAlchemy's
    executemany writes, JSON (null, nested, non-ASCII), bytes, big integers and defaults alike;
    and in the caller's transaction (a rollback takes them back)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    other_meta = MetaData()
    other = things.to_metadata(other_meta, name="things_sa")
    update_other = other.update().where(other.c.id == bindparam("b_id")).values(n=bindparam("b_n"), owner=None)
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
            await conn.run_sync(other_meta.create_all)
            await conn.run_sync(lambda c: executemany(c, things, [dict(r) for r in ROWS]))
            await conn.execute(other.insert(), [dict(r) for r in ROWS])
            await conn.execute(things.update().values(owner="x"))
            await conn.execute(other.update().values(owner="x"))
            await conn.run_sync(lambda c: executemany(c, UPDATE, [{"b_id": "a", "b_n": 5}, {"b_id": "b", "b_n": 6}]))
            await conn.execute(update_other, [{"b_id": "a", "b_n": 5}, {"b_id": "b", "b_n": 6}])
            fast = [tuple(r) for r in await conn.execute(select(things).order_by(things.c.id))]
            slow = [tuple(r) for r in await conn.execute(select(other).order_by(other.c.id))]
        assert fast == slow
        assert fast[0] == ("a", 5, b"\x00\xff", None, True, 7, None)
        assert fast[1][3] == {"k": ["é", 1.5, None]} and fast[1][1] == 6
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: executemany(c, things, [{"id": "c", "n": 1}]))
            await conn.rollback()
            assert (await conn.execute(select(things.c.id).where(things.c.id == "c"))).first() is None
    finally:
        await engine.dispose()


@pytest.mark.parametrize("ids", [["a", "b"], ["b"], [], ["zz"]])
async def test_any_of_selects_what_in_selects(ids, database_url, tmp_path):
    """`AnyOf(column, name)`: an expanding IN on SQLite, `= ANY(array)` on PostgreSQL — the same
    rows as `column.in_(list)`, none for an empty list; through `fetch` too."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from store.bulk import AnyOf

    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
            await conn.run_sync(lambda c: executemany(c, things, [dict(r) for r in ROWS]))
            query = select(things.c.id).where(AnyOf(things.c.id, "ids")).order_by(things.c.id)
            got = [r.id for r in await conn.execute(query, {"ids": ids})]
            assert got == [r.id for r in await conn.execute(select(things.c.id).where(things.c.id.in_(ids)))]
            assert got == sorted(set(ids) & {"a", "b"})
            assert [r[0] for r in await conn.run_sync(lambda c: fetch(c, query, {"ids": ids}))] == got
            blobs = select(things.c.id).where(AnyOf(things.c.blob, "blobs"))
            assert [r.id for r in await conn.execute(blobs, {"blobs": [b"\x00\xff"]})] == ["a"]
    finally:
        await engine.dispose()
    if url.startswith("postgresql"):
        from sqlalchemy.dialects import postgresql

        assert "= ANY" in str(query.compile(dialect=postgresql.asyncpg.dialect()))


def test_a_duplicate_key_is_sqlalchemys_integrity_error():
    """executemany goes straight to sqlite3, yet raises what SQLAlchemy raises: callers catch
    IntegrityError for a duplicate (an idempotency key two requests raced for, say)."""
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        executemany(conn, things, [dict(ROWS[0])])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        executemany(conn, things, [dict(ROWS[0])])
    assert len(_rows(engine)) == 1


def test_named_rows_read_as_sqlalchemys_rows():
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    query = select(things.c.id, things.c.n, (things.c.n + 1).label("next")).where(
        things.c.id.in_(bindparam("ids", expanding=True))
    )
    with engine.begin() as conn:
        executemany(conn, things, [dict(r) for r in ROWS])
        by_sqlalchemy = conn.execute(query.order_by(things.c.id), {"ids": ["a", "b"]}).all()
        by_name = named(conn.execute(query.order_by(things.c.id), {"ids": ["a", "b"]}))
        fetched = sorted(fetch_named(conn, query, {"ids": ["b", "a"]}))
    assert [(r.id, r.n, r.next) for r in by_name] == [(r.id, r.n, r.next) for r in by_sqlalchemy]
    assert [(r.id, r.n, r.next) for r in fetched] == [("a", 1, 2), ("b", 2**40, 2**40 + 1)]
