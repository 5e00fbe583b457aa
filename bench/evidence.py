"""Evidence appender and proof cost, optionally beside another checkout, measured in one run.

    python bench/evidence.py --seconds 60 [--messages 2000] [--compare /work/main]

Each round fills a fresh SQLite database with `--messages` messages of one tenant (one batch
of 100 recipients after another, each message with the events `accepted`, `rcs_sent`,
`rcs_delivered` and `rcs_read`, committed but not chained yet), then times the appender
draining them, then asks for the evidence of the first message (which every later event
follows): the answer's size and the time it took. Rounds alternate between the trees (this
one and each `--compare` checkout, whose own product code runs) until `--seconds` are spent,
so a noisy neighbour hits all of them alike; figures are medians over rounds. One process per
(round, tree), pinned to one core; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ("accepted", "rcs_sent", "rcs_delivered", "rcs_read")
CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {"title": "您的验证码", "description": "验证码 {{ code }}，5 分钟内有效"},
        }
    }
}


async def _worker(tree: Path, messages: int) -> dict:
    """Run inside one process whose imports come from `tree`; returns its figures."""
    sys.path.insert(0, str(tree))
    import orjson

    from accounts.service import Accounts
    from messages.evidence import EvidenceLog, event_content
    from messages.lifecycle import Lifecycle
    from messages.status import Status
    from messages.tables import batches, message_events
    from messages.tables import messages as messages_table
    from security import EnvMasterKeyProvider, Keyring
    from store import GroupWriter, SystemClock, new_id, open_database, run_migrations
    from store.db import sqlite_url
    from store.writer import WriteBatch

    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "bench.db")
        await run_migrations(url)
        db = open_database(url)
        keyring = Keyring(EnvMasterKeyProvider(os.urandom(16).hex()))
        tenant, _ = await Accounts(db, keyring, SystemClock()).create_tenant("Bench")
        tenant_id = tenant.id
        writer = GroupWriter(db.write)
        await writer.start()
        life = Lifecycle(keyring, new_id)
        now_ms = int(time.time() * 1000)
        first_message = None
        for start in range(0, messages, 100):
            batch_id = new_id()
            write = WriteBatch().insert(
                batches,
                {
                    "id": batch_id,
                    "tenant_id": tenant_id,
                    "created_ms": now_ms,
                    "card_enc": keyring.seal(tenant_id, "batches", "card", batch_id, orjson.dumps(CARD)),
                    "template_ref": None,
                    "traffic_type": "notification",
                    "ttl_s": 3600,
                    "send_at_ms": None,
                    "client_ref_enc": None,
                    "recipient_count": 100,
                    "fallback": "sms",
                },
            )
            rows, events = [], []
            for seq in range(min(100, messages - start)):
                mid = new_id()
                first_message = first_message or mid
                to = f"+86139{start + seq:08d}"
                variables = {"code": f"{(start + seq) * 7919 % 1_000_000:06d}"}
                rows.append(
                    life.message_row(
                        message_id=mid,
                        tenant_id=tenant_id,
                        batch_id=batch_id,
                        seq=seq,
                        to=to,
                        to_bidx=keyring.blind_index(tenant_id, to),
                        variables=variables,
                        variables_json=orjson.dumps(variables),
                        status=Status.ACCEPTED,
                        now_ms=now_ms,
                        expires_ms=now_ms + 3_600_000,
                        due_ms=now_ms,
                    )
                )
                for i, event in enumerate(EVENTS):
                    detail = {"code": "0"} if event == "rcs_delivered" else None
                    row = life.event_row(mid, tenant_id, Status(event), now_ms + i, "bench", detail)
                    if event == "accepted" and "content_mac" in row:
                        # As accept makes it (a checkout from before 0010 has no such column).
                        content = event_content(Status.ACCEPTED, orjson.dumps(CARD), orjson.dumps(variables), None)
                        row["content_mac"] = keyring.content_commitment(tenant_id, content)
                    events.append(row)
            await writer.write(write.insert(messages_table, rows).insert(message_events, events))

        evidence = EvidenceLog(db, writer, keyring)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        chained = 0
        while True:
            n = await evidence.append_pending()
            if not n:
                break
            chained += n
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

        t0 = time.perf_counter()
        answer = await evidence.message_evidence(tenant_id, first_message)
        proof_ms = (time.perf_counter() - t0) * 1000
        body = orjson.dumps(answer)
        await writer.stop()
        await db.dispose()
    return {
        "events": chained,
        "events_per_s": chained / wall,
        "cpu_us_per_event": cpu / chained * 1e6,
        "proof_bytes": len(body),
        "proof_ms": proof_ms,
        "proven_records": sum("proof" in r for r in answer["records"]),
    }


def _round(tree: Path, messages: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree), "--messages", str(messages)]
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, check=False)
    if done.returncode:
        raise SystemExit(f"worker for {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="rounds go on until this much time is spent")
    p.add_argument("--messages", type=int, default=2000, help="messages per round (4 events each)")
    p.add_argument("--compare", action="append", default=[], help="another checkout to measure alike")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(Path(args.worker), args.messages))))
        return
    trees = [ROOT, *(Path(t).resolve() for t in args.compare)]
    results: dict[Path, list[dict]] = {t: [] for t in trees}
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline or not all(results.values()):
        for tree in trees:
            results[tree].append(_round(tree, args.messages))

    def med(tree: Path, key: str) -> float:
        values = sorted(r[key] for r in results[tree])
        return values[len(values) // 2]

    figures = ("events_per_s", "cpu_us_per_event", "proof_bytes", "proof_ms", "proven_records")
    rows = [("tree", "rounds", *figures)]
    for tree in trees:
        rows.append((str(tree), len(results[tree]), *(f"{med(tree, f):.1f}" for f in figures)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print(f"evidence: {args.messages} messages x {len(EVENTS)} events a round, medians")
    for r in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    summary = {
        "messages": args.messages,
        **{("this" if tree == ROOT else str(tree)): {f: round(med(tree, f), 2) for f in figures} for tree in trees},
    }
    if len(trees) > 1:
        summary["appender_cpu_ratio"] = round(med(ROOT, "cpu_us_per_event") / med(trees[1], "cpu_us_per_event"), 3)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
