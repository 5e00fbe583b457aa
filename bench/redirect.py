"""Short-link redirect speed with click recording, next to a bare aiohttp redirect (target:
≥ 0.7× the bare redirect and ≥ 8,000/s).

Starts the app with the short-link routes on the embedded SQLite default (one core), creates
links for 1,000 recipients, then drives `GET /s/<token>/a/0` (a tracked 302 to the card's URL,
every hit recorded), bench/bare_server.py's bare `GET /s/<token>` 302 and the H5 page
`GET /s/<token>` (target: ≥ 3k/s) with the same 32-connection closed-loop client on the
other core, alternating rounds; medians are quoted. The Python client on one core is itself a
limit (~6k req/s here), so the ratio is the figure that carries.

    python bench/redirect.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _load  # noqa: E402

RECIPIENTS = 1000
TARGET = "https://shop.example.com/orders?from=sms"
CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "title": "您的订单已发货",
                "description": "点击查看物流详情。",
                "suggestions": [
                    {
                        "action": {
                            "displayText": "查看订单",
                            "postback": {"data": "open"},
                            "urlAction": {"openUrl": {"url": TARGET, "application": "browser"}},
                        }
                    }
                ],
            },
        }
    }
}
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"


# -- the server side (run as `redirect.py --serve PORT DATA_DIR`) ----------------------------
def serve(port: int, data_dir: Path) -> None:
    sys.path.insert(0, str(_load.ROOT))
    import orjson
    from aiohttp import web

    from fallback.shortlinks import SHORTLINKS
    from messages.http import LEDGER
    from messages.request import parse_send_request
    from server import ACCOUNTS, Settings, create_app
    from store.writer import WriteBatch

    settings = Settings(data_dir=data_dir, port=port, demo_tenant=False, log_level="WARNING")
    app = create_app(settings)

    async def make_links(app: web.Application):
        tenant, _ = await app[ACCOUNTS].create_tenant("Bench", signature="【鸿雁测试】")
        req = parse_send_request({"card": CARD, "recipients": [{"to": f"+86138{i:08d}"} for i in range(RECIPIENTS)]})
        sent = orjson.loads(await app[LEDGER].accept(tenant.id, req))
        links, batch, tokens = app[SHORTLINKS], WriteBatch(), []
        for m in sent["messages"]:
            url = links.add_link(batch, tenant_id=tenant.id, message_id=m["id"], batch_id=sent["batch_id"], card=CARD)
            tokens.append(url.rsplit("/", 1)[1])
        await links.writer.write(batch)
        (data_dir / "tokens.txt").write_text("\n".join(tokens))
        yield

    app.cleanup_ctx.append(make_links)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- the load side -----------------------------------------------------------------------------
async def closed_loop_get(urls, *, seconds: float, concurrency: int, status: int = 302) -> _load.LoadResult:
    """`concurrency` clients each GETting the next URL (redirects not followed) as soon as answered."""
    return await _load.closed_loop(
        None,
        urls,
        headers={},
        seconds=seconds,
        concurrency=concurrency,
        ok=(status,),
        method="GET",
        session_headers={"User-Agent": UA},
        check=lambda resp: status != 302 or resp.headers.get("Location") is not None,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per measured round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return
    _load.pin(1)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        port, bare_port = _load.free_port(), _load.free_port()
        srv = _load.start_process([sys.executable, "bench/redirect.py", "--serve", str(port), str(data)], cpu=0)
        bare = _load.start_process([sys.executable, "bench/bare_server.py", str(bare_port)], cpu=0)
        try:
            _load.wait_http(f"http://127.0.0.1:{port}/healthz", srv)
            _load.wait_http(f"http://127.0.0.1:{bare_port}/healthz", bare)
            tokens = (data / "tokens.txt").read_text().split()
            ours = [f"http://127.0.0.1:{port}/s/{t}/a/0" for t in tokens]
            theirs = [f"http://127.0.0.1:{bare_port}/s/{t}" for t in tokens]
            # Warm-up: every token resolved once (cache filled), connections open.
            asyncio.run(
                closed_loop_get(itertools.cycle(ours), seconds=min(2.0, args.seconds), concurrency=args.concurrency)
            )
            asyncio.run(
                closed_loop_get(itertools.cycle(theirs), seconds=min(1.0, args.seconds), concurrency=args.concurrency)
            )
            pages = [f"http://127.0.0.1:{port}/s/{t}" for t in tokens]
            results: dict[str, list[_load.LoadResult]] = {"redirect": [], "bare": [], "page": []}
            for _ in range(args.rounds):
                results["bare"].append(
                    asyncio.run(
                        closed_loop_get(itertools.cycle(theirs), seconds=args.seconds, concurrency=args.concurrency)
                    )
                )
                results["redirect"].append(
                    asyncio.run(
                        closed_loop_get(itertools.cycle(ours), seconds=args.seconds, concurrency=args.concurrency)
                    )
                )
                results["page"].append(
                    asyncio.run(
                        closed_loop_get(
                            itertools.cycle(pages), seconds=args.seconds, concurrency=args.concurrency, status=200
                        )
                    )
                )
        finally:
            _load.stop(srv)
            _load.stop(bare)
        recorded = _count_clicks(data)

    def med(name: str, f) -> float:
        return statistics.median(f(r) for r in results[name])

    redirect_rps, bare_rps = med("redirect", lambda r: r.rps), med("bare", lambda r: r.rps)
    page_rps = med("page", lambda r: r.rps)
    sent = sum(r.requests for name in ("redirect", "page") for r in results[name])
    rows = [("phase", "req/s (median)", "rounds", "errors", "p50 ms", "p99 ms")]
    for name, label in (
        ("bare", "bare aiohttp redirect"),
        ("redirect", "short link /s/<t>/a/0 + click"),
        ("page", "H5 page /s/<t> + click"),
    ):
        rs = results[name]
        rows.append(
            (
                label,
                f"{med(name, lambda r: r.rps):,.0f}",
                len(rs),
                sum(r.errors for r in rs),
                f"{med(name, lambda r: r.pct(50)):.1f}",
                f"{med(name, lambda r: r.pct(99)):.1f}",
            )
        )
    _load.print_table(
        f"GET redirect, {args.rounds} × {args.seconds:g} s, {args.concurrency} connections, "
        "server on one core, SQLite WAL",
        rows,
    )
    print(
        f"ratio: {redirect_rps / bare_rps:.2f}   clicks stored: {recorded:,} (warm-up included; {sent:,} measured hits)"
    )
    _load.json_line(
        {
            "redirect_rps": round(redirect_rps, 1),
            "bare_rps": round(bare_rps, 1),
            "ratio": round(redirect_rps / bare_rps, 3),
            "page_rps": round(page_rps, 1),
            "clicks_stored": recorded,
        }
    )


def _count_clicks(data: Path) -> int:
    with sqlite3.connect(data / "hongyan.db") as conn:
        return conn.execute("SELECT count(*) FROM link_clicks").fetchone()[0]


if __name__ == "__main__":
    main()
