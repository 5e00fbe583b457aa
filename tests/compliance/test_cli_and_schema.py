"""`python server.py words import|export` (real subprocesses, a real data dir) on the platform's
list and a tenant's, and the migration against the tables the code declares."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import open_database, run_migrations
from store.db import sqlite_url

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ},
    )  # fmt: skip


def export(d: str, *extra: str) -> list[list[str]]:
    out = run("words", "export", "--data-dir", d, *extra)
    assert out.returncode == 0, out.stderr
    return list(csv.reader(io.StringIO(out.stdout)))


def test_words_import_and_export(tmp_path):
    d = str(tmp_path / "data")
    words = tmp_path / "words.txt"
    words.write_text("网赌平台\n\n线上博彩\n")
    out = run("words", "import", str(words), "--category", "gambling", "--data-dir", d)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"imported": 2}
    rows = export(d)
    assert rows[0] == ["term", "category", "kind"] and ["网赌平台", "gambling", "word"] in rows
    assert ["赌博", "gambling", "word"] in rows and ["谨防刷单", "", "allow"] in rows  # the default list

    # A tenant's list, in a new category made on the way; the platform's is untouched.
    tenant = json.loads(run("tenant", "create", "Acme", "--data-dir", d).stdout)["tenant_id"]
    brand = tmp_path / "brand.csv"
    brand.write_text("term,category,kind\n竞品甲,,\n竞品乙,,\n")
    out = run(
        "words", "import", str(brand), "--category", "rivals", "--action", "review", "--tenant", tenant, "--data-dir", d
    )
    assert out.returncode == 0, out.stderr
    assert export(d, "--tenant", tenant)[1:] == [["竞品甲", "rivals", "word"], ["竞品乙", "rivals", "word"]]
    assert ["竞品甲", "rivals", "word"] not in export(d)

    allowed = tmp_path / "ok.txt"
    allowed.write_text("远离网赌平台\n")
    assert run("words", "import", str(allowed), "--allow", "--data-dir", d).returncode == 0
    assert ["远离网赌平台", "", "allow"] in export(d)


@pytest.mark.parametrize(
    "content,args,message",
    [
        ("a\n", ["--category", "no_such"], "no category"),
        ("！！\n", ["--category", "gambling"], "/lines/1"),
        ("a\n", ["--action", "block"], "--action needs --category"),
    ],
)
def test_words_import_errors(tmp_path, content, args, message):
    words = tmp_path / "w.txt"
    words.write_text(content)
    out = run("words", "import", str(words), *args, "--data-dir", str(tmp_path / "data"))
    assert out.returncode != 0 and message in out.stderr and out.stdout == ""


async def test_the_migration_matches_the_declared_tables(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url, "0005")  # a database from before compliance
    await run_migrations(url)
    db = open_database(url)
    ours = ("compliance_", "review_", "consent", "opt_outs")

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if any(t in repr(d) for t in ours)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()
