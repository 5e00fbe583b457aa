"""ShortLinks without HTTP: tokens, the lookup cache, buffered hits and reports."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import FULL_CARD, MOBILE_UA

from store.writer import WriteBatch


async def test_default_token_is_96_bits(env):
    from fallback.shortlinks.service import TOKEN_RE

    tokens = {env.links.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 16 and TOKEN_RE.fullmatch(t) for t in tokens)


async def test_short_tokens_are_refused(env):
    links = env.links
    links.new_token = lambda: "tooShort"
    with pytest.raises(ValueError):
        links.add_link(WriteBatch(), tenant_id=env.tenant_id, message_id="m", batch_id="b", card=FULL_CARD)


async def test_url_and_injected_tokens(env):
    sent = await env.send()
    links = env.links
    links.new_token = iter(["A" * 16, "B" * 22]).__next__
    batch = WriteBatch()
    urls = [
        links.add_link(
            batch,
            tenant_id=env.tenant_id,
            message_id=sent["messages"][0]["id"],
            batch_id=sent["batch_id"],
            card=FULL_CARD,
            expires_ms=123,
        )
        for _ in range(2)
    ]
    assert urls == [f"{links.base_url}/s/{'A' * 16}", f"{links.base_url}/s/{'B' * 22}"]
    assert not links.base_url.endswith("/") and all("?" not in u for u in urls)
    await links.writer.write(batch)
    link = await links.lookup("A" * 16)
    assert link.expires_ms == 123 and link.card == FULL_CARD and link.signature == "【鸿雁银行】"


async def test_lookup_is_cached_and_unknown_tokens_too(env):
    token = await env.link()
    links = env.links
    first = await links.lookup(token)
    # Served from memory: the database is not asked again while the entry is fresh.
    read, links.db.read = links.db.read, None
    try:
        assert await links.lookup(token) is first
    finally:
        links.db.read = read
    assert await links.lookup("Z" * 16) is None
    assert "Z" * 16 in links._cache
    assert await links.lookup("../../etc/passwd") is None and "../../etc/passwd" not in links._cache


async def test_concurrent_misses_share_one_read(env):
    token = await env.link()
    links = env.links
    links.forget(token)
    calls = 0
    load = links._load

    async def counting(t):
        nonlocal calls
        calls += 1
        return await load(t)

    links._load = counting
    got = await asyncio.gather(*(links.lookup(token) for _ in range(10)))
    assert calls == 1 and all(g is got[0] for g in got)


async def test_failed_flush_keeps_the_hits(env):
    token = await env.link()
    links = env.links
    link = await links.lookup(token)
    links.record(link, "page", remote="127.0.0.1", user_agent=MOBILE_UA)
    write = links.writer.write

    async def broken(batch):
        raise ConnectionError("database went away")

    links.writer.write = broken
    try:
        with pytest.raises(ConnectionError):
            await links.flush()
        assert links.pending == 1
    finally:
        links.writer.write = write
    await links.flush()
    assert links.pending == 0
    summary = await links.clicks_summary(env.tenant_id, message_id=link.message_id)
    assert summary["human_hits"] == 1


async def test_same_visitor_counts_once_per_recipient(env):
    sent = await env.send(recipients=2)
    links = env.links
    tokens = []
    for m in sent["messages"]:
        batch = WriteBatch()
        url = links.add_link(
            batch, tenant_id=env.tenant_id, message_id=m["id"], batch_id=sent["batch_id"], card=FULL_CARD
        )
        await links.writer.write(batch)
        tokens.append(url.rsplit("/", 1)[1])
    for token in tokens:
        link = await links.lookup(token)
        for _ in range(3):
            links.record(link, "page", remote="10.0.0.1", user_agent=MOBILE_UA)
        links.record(link, "action", 0, remote="10.0.0.2", user_agent=MOBILE_UA)
    summary = await links.clicks_summary(env.tenant_id, batch_id=sent["batch_id"])
    assert summary["links"] == 2 and summary["recipients_clicked"] == 2
    assert summary["human_hits"] == 8 and summary["unique_humans"] == 4
    assert summary["by_kind"]["page"]["unique_humans"] == 2
    assert summary["actions"][0]["unique_humans"] == 2


async def test_summary_needs_exactly_one_scope(env):
    with pytest.raises(ValueError):
        await env.links.clicks_summary(env.tenant_id)
    with pytest.raises(ValueError):
        await env.links.clicks_summary(env.tenant_id, message_id="a", batch_id="b")


async def test_expired_cards_are_erased_and_reports_still_work(env):
    from sqlalchemy import select

    from fallback.shortlinks.tables import short_links

    now_ms = env.links.now_ms()
    sent = await env.send()
    old = await env.link(expires_ms=now_ms - 1, message=sent)
    live = await env.link(expires_ms=now_ms + 60_000)
    link = await env.links.lookup(old)
    env.links.record(link, "page", remote="10.0.0.1", user_agent=MOBILE_UA)
    assert await env.links.purge_expired() == 1
    assert await env.links.purge_expired() == 0
    async with env.links.db.read.connect() as conn:
        rows = dict((await conn.execute(select(short_links.c.token, short_links.c.card_enc))).all())
    assert rows[old] is None and rows[live] is not None
    assert (await env.links.lookup(old)).card == {}
    resp = await env.client.get(f"/s/{old}/a/0", headers={"User-Agent": MOBILE_UA}, allow_redirects=False)
    assert resp.status == 410
    assert (await env.client.get(f"/s/{live}", headers={"User-Agent": MOBILE_UA})).status == 200
    summary = await env.links.clicks_summary(env.tenant_id, message_id=sent["messages"][0]["id"])
    # A person who tried after expiry is still a human hit, reported under "expired".
    assert summary["human_hits"] == 2 and summary["by_kind"]["expired"]["human_hits"] == 1


async def test_background_flusher_writes_hits_without_being_asked(env):
    import time

    from sqlalchemy import func, select

    from fallback.shortlinks.tables import link_clicks

    token = await env.link()
    await env.client.get(f"/s/{token}", headers={"User-Agent": MOBILE_UA})
    deadline = time.monotonic() + 10  # polled with a deadline; the flusher runs every 0.5 s
    while True:
        async with env.links.db.read.connect() as conn:
            if (await conn.execute(select(func.count()).select_from(link_clicks))).scalar_one() == 1:
                break
        assert time.monotonic() < deadline, "hits were not written by the background flusher"
        await asyncio.sleep(0.05)
