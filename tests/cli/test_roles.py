"""The process roles on the command line: what SQLite refuses, what a dispatch process serves."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web

from server import ROLE_API, ROLE_DISPATCH, Settings, _run_role, build_parser, create_app, settings_from_args


@pytest.mark.parametrize(
    "argv, says",
    [
        (["dispatch"], "`dispatch` needs PostgreSQL"),
        (["dispatch", "--workers", "2"], "`dispatch --workers` needs PostgreSQL"),
        (["serve", "--workers", "2"], "`serve --workers` needs PostgreSQL"),
        (["serve", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_sqlite_has_one_writing_process(tmp_path, monkeypatch, capsys, argv, says):
    monkeypatch.delenv("HONGYAN_DATABASE_URL", raising=False)
    args = build_parser().parse_args([*argv, "--data-dir", str(tmp_path / "var")])
    assert _run_role(settings_from_args(args), args) == 2  # (main() would also set up logging)
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    "role, api, dispatches, jobs",
    [
        (ROLE_API, True, False, False),
        (ROLE_DISPATCH, False, True, True),
    ],
)
def test_each_role_runs_its_parts(role, api, dispatches, jobs):
    settings = replace(Settings(database_url="postgresql+asyncpg://db/h", sandbox=True, maap_url="http://m"), role=role)
    assert (settings.serves_api, settings.dispatches, settings.runs_jobs) == (api, dispatches, jobs)
    paths = {r.resource.canonical for r in create_app(settings).router.routes() if r.resource is not None}
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert ("/v1/messages" in paths, "/rcs/deliveryNotification/{chatbotId}/status" in paths) == (api, api)


async def test_a_split_process_runs_no_simulators(settings):
    """`serve` and `dispatch` need HONGYAN_MAAP_URL (e.g. the `simulators` process's MaaP)."""
    runner = web.AppRunner(create_app(replace(settings, sandbox=True, role=ROLE_API)))
    try:
        with pytest.raises(SystemExit, match="server.py simulators"):
            await runner.setup()
    finally:
        await runner.cleanup()
