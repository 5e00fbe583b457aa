"""A campaign end to end at scale: the scenario of tests/campaigns/scenario.py — contacts imported
from CSV over every sandbox ending, a segment, an A/B campaign (two variants, a holdout, the
winner to the rest) with the smart resend, run by the app's own campaign runner until finished
and every message ended, then every figure of the API (results, funnels, analytics, billing)
checked against a recount of the messages tables. A mismatch fails the run (exit 1).

    python bench/campaign_e2e.py --contacts 100000 --seconds 1800 [--database-url postgresql+asyncpg://…]

The app runs in this process with its sandbox (MaaP and SMSC simulators on loopback), on a
fresh embedded SQLite data dir or the given (empty, migrated) PostgreSQL database. `--seconds`
is the time the scenario may take. The winner's and the resend's wait is 18 s (the sandbox
reads a message 1.5 s after it is sent, later under load). Ends with one JSON line: contacts, audience, messages,
resends, the timings (import, campaign until finished — two 18 s waits included —, until every
message ended, total), and the latency (median, p95) of the campaign's results and funnel read
every half second while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import free_port, json_line, median, print_table  # noqa: E402


async def run(args: argparse.Namespace) -> dict:
    from aiohttp.test_utils import TestClient, TestServer

    from billing.http import BILLING
    from server import ACCOUNTS, DATABASE, Settings, create_app
    from tests.campaigns import scenario
    from tests.conftest import TEST_MASTER_KEY, ApiClient

    data_dir = Path(tempfile.mkdtemp(prefix="hongyan-bench-campaign-"))
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        database_url=args.database_url,
        master_key=TEST_MASTER_KEY if args.database_url else None,
        demo_tenant=False,
        sandbox=True,
        port=port,
        rcs_silence_s=2.0,
        sms_receipt_wait_s=2.0,
        campaign_tick_s=0.5,
    )
    app = create_app(settings)
    server = TestServer(app, port=port)
    client = TestClient(server)
    await client.start_server()
    try:
        tenant, key = await app[ACCOUNTS].create_tenant("Bench brand", signature="【鸿雁测试】")
        api = await ApiClient(client, tenant.id, key).without_send_rules()
        made = await app[ACCOUNTS].create_api_key(tenant.id, ["billing", "billing-admin", "messages"])
        admin = ApiClient(client, tenant.id, made["api_key"])
        billing = app[BILLING]  # its own settle time: events committed late are not skipped

        async def settle() -> None:
            while await billing.run_once():
                pass

        latencies: dict[str, list[float]] = {"results": [], "funnel": []}

        async def probe(campaign_id: str) -> None:
            """The analytics a brand watches while the campaign runs, every half second."""
            paths = {
                "results": f"/v1/campaigns/{campaign_id}/results",
                "funnel": f"/v1/campaigns/{campaign_id}/funnel?group_by=variant",
            }
            while True:
                for name, path in paths.items():
                    began = time.perf_counter()
                    resp = await api.get(path)
                    await resp.read()
                    assert resp.status == 200
                    latencies[name].append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(0.5)

        outcome = await scenario.run(
            api,
            admin,
            app[DATABASE],
            args.contacts,
            settle_billing=settle,
            timeout=args.seconds,
            wait_hours=0.005,
            while_running=probe,
        )
    finally:
        await client.close()
    t = outcome.timings
    return {
        "bench": "campaign_e2e",
        "database": "postgresql" if args.database_url else "sqlite",
        "contacts": outcome.contacts,
        "audience": outcome.audience,
        "messages": outcome.figures["messages"],
        "resends": outcome.figures["resends"],
        "resends_crossing_a_late_read": outcome.figures["resends_crossing_a_late_read"],
        "winner": outcome.figures["winner"],
        "cost_cny": outcome.figures["cost_cny"],
        "import_s": round(t["import_s"], 1),
        "import_rows_per_s": round(outcome.contacts / t["import_s"]),
        "campaign_s": round(t["campaign_s"], 1),
        "until_final_s": round(t["until_final_s"], 1),
        "total_s": round(t["total_s"], 1),
        **{f"{name}_ms_p50": round(median(xs), 1) for name, xs in latencies.items()},
        **{f"{name}_ms_p95": round(_p95(xs), 1) for name, xs in latencies.items()},
        "recount": "matches",
    }


def _p95(xs: list[float]) -> float:
    return sorted(xs)[int(0.95 * (len(xs) - 1))] if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=1800.0, help="the time the scenario may take")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = asyncio.run(run(args))
    print_table(
        f"campaign end to end ({figures['database']})",
        [(k, v) for k, v in figures.items() if k not in ("bench", "database")],
    )
    json_line(figures)


if __name__ == "__main__":
    main()
