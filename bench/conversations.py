"""Conversation figures, one part at a time (add a part: a coroutine in PARTS returning its table
rows and its JSON figures).

- `match`: FAQ matching in process (conversations.matching.FaqIndex) over a 200-entry FAQ (the
  telecom FAQ of tests/conversations/telecom_faq.py and generated product × action entries):
  the index's build time (200 and 5,000 entries), then questions/s on one core for `--seconds`,
  with each match's latency (p50, p99). The questions are the accuracy test's paraphrases and
  out-of-domain questions, in turn.
- `answerer`: the same FAQ in the embedded server (SQLite): the entries created through
  `POST /v1/knowledge/faqs`, then `Knowledge.answerer_for(tenant).answer(question)` — what the
  conversation pipeline calls per free-text inbound (one settings read, the cached index, the
  match) — by `--concurrency` tasks for `--seconds`; then `POST /v1/knowledge/match` over HTTP
  the same way, and `GET /v1/knowledge/answerer` as the baseline of what any authenticated
  request costs there.
- `inbound`: inbound RCS texts handed to the conversations service the way dispatch hands them
  over (`Conversations.on_inbound`: the conversation opened or found, the thread written, rules,
  then the FAQ answerer, the bot's reply accepted through the message ledger) by `--concurrency`
  tasks from `--numbers` senders, on the sandbox with dispatch sending the replies meanwhile.
  The texts cycle through two keywords, the paraphrased and the out-of-domain questions. Needs
  the conversations pipeline (conversations.service); without it the part says so.

Prints a table, then one JSON line with every figure.

    python bench/conversations.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import json_line, print_table  # noqa: E402
from tests.conversations.telecom_faq import FAQ, OUT_OF_DOMAIN, QUESTIONS  # noqa: E402

PRODUCTS = [
    "视频彩铃", "和彩云", "咪咕视频", "家庭网", "亲情号", "来电显示", "呼叫转移", "副卡", "流量包", "语音包",
    "短信包", "宽带提速", "固定电话", "物联网卡", "云盘会员", "视频会员", "智能组网", "家庭安防", "热点", "VoLTE",
]  # fmt: skip
ACTIONS = [
    ("怎么开通{p}", "开通{p}", "{p}开通方法"),
    ("怎么取消{p}", "{p}退订", "关闭{p}"),
    ("{p}收费标准", "{p}多少钱", "{p}资费"),
    ("{p}办理条件", "谁可以办{p}", "{p}有什么要求"),
    ("{p}没有生效", "{p}用不了", "{p}故障"),
    ("{p}有效期", "{p}什么时候到期", "{p}能用多久"),
    ("{p}怎么使用", "{p}使用说明", "{p}怎么用"),
    ("{p}优惠活动", "{p}打折", "{p}有没有优惠"),
    ("{p}能否共享", "{p}分享给家人", "{p}共享"),
]


CITIES = [
    "",
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "苏州",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "天津",
    "长沙",
    "郑州",
]
CITIES += [
    "济南",
    "青岛",
    "沈阳",
    "大连",
    "哈尔滨",
    "长春",
    "福州",
    "厦门",
    "南昌",
    "合肥",
    "昆明",
    "贵阳",
    "南宁",
    "海口",
    "兰州",
]


def faq_entries(n: int) -> list[dict]:
    """The telecom FAQ, then (city ×) product × action entries until there are `n` (≤ 5,418)."""
    out = [{"questions": e["questions"], "answer": e["answer"]} for e in FAQ]
    for city, p, forms in itertools.product(CITIES, PRODUCTS, ACTIONS):
        if len(out) >= n:
            break
        out.append({"questions": [city + f.format(p=p) for f in forms], "answer": {"text": f"{city}{p}：详见 App。"}})
    return out


def questions() -> list[str]:
    return [q for q, _ in QUESTIONS] + OUT_OF_DOMAIN


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


# -- in process ------------------------------------------------------------------------------------
async def match_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    from conversations.matching import SEGMENTER, Entry, FaqIndex

    await SEGMENTER.ready()
    builds = {}
    for n in (args.entries, 5000):
        entries = [Entry(str(i), e["questions"]) for i, e in enumerate(faq_entries(n))]
        began = time.perf_counter()
        index = FaqIndex(entries)
        builds[n] = (time.perf_counter() - began) * 1000
    index = FaqIndex([Entry(str(i), e["questions"]) for i, e in enumerate(faq_entries(args.entries))])
    asked, latencies = 0, []
    began = time.perf_counter()
    for q in itertools.cycle(questions()):
        t = time.perf_counter()
        index.match(q)
        latencies.append((time.perf_counter() - t) * 1e6)
        asked += 1
        if asked % 100 == 0 and time.perf_counter() - began >= args.seconds:
            break
    rate = asked / (time.perf_counter() - began)
    rows = [
        ("index build", f"{args.entries} entries", f"{builds[args.entries]:.0f} ms"),
        ("index build", "5000 entries", f"{builds[5000]:.0f} ms"),
        ("FAQ match, in process", f"{args.entries} entries, {index.size} variants", f"{rate:,.0f} questions/s"),
        ("  latency p50 / p99", "", f"{_pct(latencies, 0.5):.0f} / {_pct(latencies, 0.99):.0f} µs"),
    ]
    return rows, {
        "match_questions_per_s": round(rate),
        "match_p50_us": round(_pct(latencies, 0.5)),
        "match_p99_us": round(_pct(latencies, 0.99)),
        "build_ms_200": round(builds[args.entries]),
        "build_ms_5000": round(builds[5000]),
    }


# -- through the server ------------------------------------------------------------------------------
async def _closed_loop(
    call: Callable[[str], Awaitable[object]], seconds: float, concurrency: int
) -> tuple[float, list]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    texts = itertools.cycle(questions())

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            await call(next(texts))
            latencies.append((time.perf_counter() - t) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def answerer_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    from aiohttp.test_utils import TestClient, TestServer

    from conversations.answerers import Question
    from conversations.knowledge_http import KNOWLEDGE
    from server import ACCOUNTS, Settings, create_app

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="hongyan-bench-conv-")), demo_tenant=False)
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        tenant, key = await app[ACCOUNTS].create_tenant("Bench brand")
        auth = {"Authorization": f"Bearer {key}"}
        for entry in faq_entries(args.entries):
            resp = await client.post("/v1/knowledge/faqs", json=entry, headers=auth)
            assert resp.status == 201, await resp.text()
        answerer = app[KNOWLEDGE].answerer_for(tenant.id)
        answered = 0

        async def answer(text: str) -> None:
            nonlocal answered
            got = await answerer.answer(Question(tenant.id, "bench", text, [], "rcs"))
            answered += got is not None and got.confidence >= 0.5

        await answer("流量查询")  # the index built, the dictionary loaded
        rate, latencies = await _closed_loop(answer, args.seconds, args.concurrency)
        share = answered / max(1, len(latencies))

        async def over_http(text: str) -> None:
            resp = await client.post("/v1/knowledge/match", json={"text": text}, headers=auth)
            assert resp.status == 200
            await resp.read()

        http_rate, http_latencies = await _closed_loop(over_http, args.seconds, args.concurrency)

        async def baseline(_: str) -> None:  # the same HTTP and API-key cost, no matching
            resp = await client.get("/v1/knowledge/answerer", headers=auth)
            assert resp.status == 200
            await resp.read()

        base_rate, _ = await _closed_loop(baseline, args.seconds, args.concurrency)
    finally:
        await client.close()
    rows = [
        ("answerer_for().answer()", f"SQLite, {args.concurrency} tasks", f"{rate:,.0f} questions/s"),
        ("  latency p50 / p99", "", f"{statistics.median(latencies):.2f} / {_pct(latencies, 0.99):.2f} ms"),
        ("  answered at the threshold", "", f"{share:.0%}"),
        ("POST /v1/knowledge/match", f"HTTP, {args.concurrency} clients", f"{http_rate:,.0f} questions/s"),
        ("  latency p50 / p99", "", f"{statistics.median(http_latencies):.2f} / {_pct(http_latencies, 0.99):.2f} ms"),
        ("GET /v1/knowledge/answerer", f"HTTP, {args.concurrency} clients", f"{base_rate:,.0f} requests/s (baseline)"),
    ]
    return rows, {
        "answerer_questions_per_s": round(rate),
        "answerer_p99_ms": round(_pct(latencies, 0.99), 2),
        "http_match_questions_per_s": round(http_rate),
        "http_match_p99_ms": round(_pct(http_latencies, 0.99), 2),
        "http_baseline_requests_per_s": round(base_rate),
    }


# -- inbound through rules + FAQ while dispatch runs ----------------------------------------------------
RULES = {
    "rules": [
        {
            "id": "kw-5g",
            "match": {"kind": "exact", "value": "5G"},
            "action": {"kind": "text", "text": "5G 升级：每月 59 元。"},
        },
        {
            "id": "menu",
            "match": {"kind": "exact", "value": "菜单"},
            "action": {"kind": "text", "text": "回复 1 查话费，2 查流量。"},
        },
        {
            "id": "human",
            "match": {"kind": "exact", "value": "人工"},
            "action": {"kind": "handoff", "text": "正在转接人工。"},
        },
    ]
}


async def inbound_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    """Inbound messages handed to the conversations service the way dispatch hands them over
    (`Conversations.on_inbound`), on the sandbox (dispatch on: the bot's replies are sent)."""
    try:
        from conversations.http import CONVERSATIONS
        from dispatch.inbound import InboundMessage
    except ImportError:
        return [("inbound (rules + FAQ)", "", "not measured: no conversations pipeline here")], {}
    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import func, select

    from bench._load import free_port
    from messages.tables import messages
    from server import ACCOUNTS, DATABASE, Settings, create_app
    from tests.conftest import ApiClient

    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="hongyan-bench-conv-in-"))
    settings = Settings(data_dir=data_dir, demo_tenant=False, sandbox=True, port=port)
    app = create_app(settings)
    client = TestClient(TestServer(app, port=port))
    await client.start_server()
    try:
        tenant, key = await app[ACCOUNTS].create_tenant("Bench brand", signature="【鸿雁测试】")
        api = await ApiClient(client, tenant.id, key).without_send_rules()
        for entry in faq_entries(args.entries):
            assert (await api.post("/v1/knowledge/faqs", entry)).status == 201
        resp = await api.put("/v1/conversations/rules", RULES)
        assert resp.status == 200, await resp.text()
        service = app[CONVERSATIONS]
        texts = itertools.cycle(["5G", "菜单"] + questions())
        numbers = itertools.cycle(f"+86138{i:08d}" for i in range(args.numbers))
        latencies: list[float] = []
        stop_at = time.perf_counter() + args.seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                message = InboundMessage(
                    tenant_id=tenant.id,
                    number=next(numbers),
                    channel="rcs",
                    kind="text",
                    at_ms=int(time.time() * 1000),
                    text=next(texts),
                )
                t = time.perf_counter()
                await service.on_inbound(message)
                latencies.append((time.perf_counter() - t) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        rate = len(latencies) / (time.perf_counter() - began)
        async with app[DATABASE].read.connect() as conn:
            by_status = dict(
                (await conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status))).all()
            )
    finally:
        await client.close()
    replies = sum(by_status.values())
    rows = [
        ("inbound through rules + FAQ", f"{args.concurrency} tasks, {args.numbers} numbers", f"{rate:,.0f} messages/s"),
        ("  latency p50 / p99", "", f"{statistics.median(latencies):.1f} / {_pct(latencies, 0.99):.1f} ms"),
        ("  bot replies accepted", "", f"{replies} ({', '.join(f'{k} {v}' for k, v in sorted(by_status.items()))})"),
    ]
    return rows, {
        "inbound_messages_per_s": round(rate),
        "inbound_p99_ms": round(_pct(latencies, 0.99), 1),
        "inbound_replies": replies,
    }


PARTS: dict[str, Callable[[argparse.Namespace], Awaitable[tuple[list[tuple], dict]]]] = {
    "match": match_part,
    "answerer": answerer_part,
    "inbound": inbound_part,
}


async def main_async(args: argparse.Namespace) -> None:
    table: list[tuple] = [("figure", "size", "result")]
    figures: dict = {"bench": "conversations", "entries": args.entries, "seconds": args.seconds}
    for name in args.parts:
        rows, found = await PARTS[name](args)
        table += rows
        figures.update(found)
    print_table("Conversation figures", table)
    json_line(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each throughput figure runs")
    parser.add_argument("--entries", type=int, default=200, help="FAQ entries")
    parser.add_argument("--concurrency", type=int, default=8, help="answerer: tasks (HTTP: clients) at once")
    parser.add_argument("--numbers", type=int, default=2000, help="inbound: distinct senders (one conversation each)")
    parser.add_argument("parts", nargs="*", help=f"which figures: {', '.join(PARTS)} (default: all)")
    args = parser.parse_args()
    args.parts = args.parts or list(PARTS)
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
