"""Status changes and user events reach the integrator as signed webhooks, in order."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from messages.tables import message_interactions
from security.webhooks import verify_webhook
from server import DATABASE, SANDBOX
from tests.conftest import card
from tests.dispatch.conftest import wait_for


async def receiver(aiohttp_server):
    got: list[tuple[bytes, str]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        got.append((await request.read(), request.headers.get("Hongyan-Signature")))
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook")), got, arrived


async def interactions(api, message_id: str) -> list[tuple]:
    """The interactions kept of a message: (kind, source, batch id) — nothing of their content
    (the recipient only as its blind index)."""
    table = message_interactions
    async with api.client.app[DATABASE].read.connect() as conn:
        rows = await conn.execute(table.select().where(table.c.message_id == message_id).order_by(table.c.at_ms))
        found = [r._mapping for r in rows]
    assert all(
        set(r) == {"id", "tenant_id", "message_id", "batch_id", "to_bidx", "kind", "source", "at_ms"} for r in found
    )
    assert all(r["tenant_id"] == api.tenant_id for r in found)
    return [(r["kind"], r["source"], r["batch_id"]) for r in found]


async def wait_events(got, arrived, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not predicate([orjson.loads(body) for body, _ in got]):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"webhooks so far: {[orjson.loads(b)['type'] for b, _ in got]}"
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), remaining)
        except TimeoutError:
            pass


async def test_status_and_user_event_webhooks_are_signed_and_in_order(sandbox_api, aiohttp_server):
    url, got, arrived = await receiver(aiohttp_server)
    reg = await sandbox_api.post("/v1/webhooks", json={"url": url, "events": ["message.status", "message.user_event"]})
    assert reg.status == 201, await reg.text()
    secret = (await reg.json())["secret"]

    sent = await sandbox_api.post("/v1/messages", json={"to": "+8613800001231", "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")

    def statuses(events):
        return [e["data"]["status"] for e in events if e["type"] == "message.status"]

    await wait_events(got, arrived, lambda events: len(statuses(events)) >= 4)
    bodies = [orjson.loads(body) for body, _ in got]
    assert statuses(bodies) == ["queued", "rcs_sent", "rcs_delivered", "rcs_read"]
    assert all(b["data"]["message_id"] == mid and b["data"]["to"] == "+8613800001231" for b in bodies)

    # The recipient taps the card's suggestion on the simulated handset.
    assert await sandbox_api.client.app[SANDBOX].maap.tap(mid, 0)
    await wait_events(got, arrived, lambda events: any(e["type"] == "message.user_event" for e in events))
    user = next(orjson.loads(b) for b, _ in got if orjson.loads(b)["type"] == "message.user_event")
    assert user["data"]["message_id"] == mid
    assert user["data"]["event"]["kind"] == "suggestion_response"
    assert user["data"]["event"]["postback"] == "detail"
    assert await interactions(sandbox_api, mid) == [("suggestion_response", "rcs", user["data"]["batch_id"])]

    now = int(time.time())
    for body, header in got:
        verify_webhook(secret, body, header, now)
    await conform(sandbox_api, [orjson.loads(body) for body, _ in got])


async def conform(api, events: list[dict]) -> None:
    """Each event is what the OpenAPI document's `webhooks` say its type carries."""
    import jsonschema

    doc = await (await api.client.get("/openapi.json")).json()
    for event in events:
        schema = doc["webhooks"][event["type"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
        jsonschema.validate(event, {**schema, "components": doc["components"]})


async def test_a_reply_tapped_on_the_sms_page_is_the_same_user_event(sandbox_api, aiohttp_server):
    url, got, arrived = await receiver(aiohttp_server)
    reg = await sandbox_api.post("/v1/webhooks", json={"url": url, "events": ["message.user_event"]})
    assert reg.status == 201
    sent = await sandbox_api.post("/v1/messages", json={"to": "+8613800001230", "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, mid, lambda v: "short_link" in v)
    token = view["short_link"].rsplit("/s/", 1)[1]
    phone = {"User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/108.0 Mobile Safari/537.36"}
    tapped = await sandbox_api.client.post(f"/s/{token}/r/0", headers=phone)
    assert tapped.status == 200
    await wait_events(got, arrived, lambda events: len(events) >= 1)
    event = orjson.loads(got[0][0])
    assert event["type"] == "message.user_event" and event["data"]["message_id"] == mid
    assert event["data"]["event"]["source"] == "sms_link"
    assert event["data"]["event"]["postback"] == "detail" and event["data"]["event"]["display_text"] == "查看详情"
    assert [k[:2] for k in await interactions(sandbox_api, mid)] == [("suggestion_response", "sms_link")]


async def test_a_reply_to_the_sms_reaches_the_brand_as_a_user_event(sandbox_api, aiohttp_server):
    """Two-way SMS: a reply to the fallback SMS (sent to the brand's extension code) is the
    same `message.user_event` an RCS reply gives, for the last SMS to that number."""
    from dispatch.sms import DEFAULT_SOURCE_ADDR
    from server import ACCOUNTS

    url, got, arrived = await receiver(aiohttp_server)
    reg = await sandbox_api.post("/v1/webhooks", json={"url": url, "events": ["message.user_event"]})
    assert reg.status == 201
    to = "+8613800001250"  # ends in 0: the SMS goes
    sent = await sandbox_api.post("/v1/messages", json={"to": to, "card": card()})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_delivered")
    ext = (await sandbox_api.client.app[ACCOUNTS].get_tenant(sandbox_api.tenant_id)).sms_ext
    smsc = sandbox_api.client.app[SANDBOX].smsc
    await smsc.send_mo(to, DEFAULT_SOURCE_ADDR + ext, "明天几点开门？")
    await smsc.send_mo(to, DEFAULT_SOURCE_ADDR + ext, "TD")
    await wait_events(got, arrived, lambda events: len(events) >= 2)
    events = [orjson.loads(body)["data"] for body, _ in got]
    assert [e["message_id"] for e in events] == [mid, mid] and events[0]["to"] == to
    assert [(e["event"]["source"], e["event"]["text"], e["event"]["opt_out"]) for e in events] == [
        ("sms", "明天几点开门？", False),
        ("sms", "TD", True),
    ]
    assert [k[:2] for k in await interactions(sandbox_api, mid)] == [("text", "sms"), ("opt_out", "sms")]


async def test_a_text_and_a_card_with_chips_reach_the_handset_and_every_answer_names_its_message(
    sandbox_api, aiohttp_server
):
    """Text with a chip list, and a card with its own suggestion plus a chip list: the handset
    shows them; a chip tap (inReplyTo), a written reply and a shared location (matched by
    conversation and number) each come back as a user event of the right message."""
    url, got, arrived = await receiver(aiohttp_server)
    reg = await sandbox_api.post("/v1/webhooks", json={"url": url, "events": ["message.user_event"]})
    assert reg.status == 201
    chips = [{"reply": {"displayText": "好的", "postback": {"data": "ok"}}}]
    text = await sandbox_api.post(
        "/v1/messages", json={"to": "+8613800002222", "text": "明天见？", "suggestions": chips}
    )
    assert text.status == 202, await text.text()
    card_body = {"to": "+8613800002223", "card": card(), "suggestions": [{"reply": {"displayText": "稍后"}}]}
    with_card = await sandbox_api.post("/v1/messages", json=card_body)
    assert with_card.status == 202, await with_card.text()
    text_id = (await text.json())["messages"][0]["id"]
    card_id = (await with_card.json())["messages"][0]["id"]
    for mid in (text_id, card_id):
        await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")

    maap = sandbox_api.client.app[SANDBOX].maap
    parts = {mid: [p["contentType"] for p in maap.messages[mid].parts] for mid in (text_id, card_id)}
    assert parts[text_id] == ["text/plain", "application/vnd.gsma.botsuggestion.v1.0+json"]
    assert parts[card_id] == [
        "application/vnd.gsma.botmessage.v1.0+json",
        "application/vnd.gsma.botsuggestion.v1.0+json",
    ]
    assert await maap.tap(text_id, 0)  # the text's chip
    assert await maap.tap(card_id, 1)  # the card's chip list comes after its own suggestion
    assert await maap.reply(card_id, "几点？")
    assert await maap.share_location(text_id, 39.9042, 116.4074, "天安门")

    await wait_events(got, arrived, lambda events: len(events) >= 4)
    events = [orjson.loads(body)["data"] for body, _ in got]
    seen = {(e["message_id"], e["event"]["kind"], e["event"]["postback"] or e["event"]["text"]) for e in events}
    assert (text_id, "suggestion_response", "ok") in seen
    assert any(m == card_id and kind == "suggestion_response" for m, kind, _ in seen)
    assert (card_id, "text", "几点？") in seen
    location = next(e for e in events if e["event"]["kind"] == "location")
    assert location["message_id"] == text_id and location["event"]["location"]["label"] == "天安门"
    assert location["event"]["location"]["crs"] == "gcj02"


async def test_a_file_and_a_location_reach_the_handset_and_their_taps_name_their_message(sandbox_api, aiohttp_server):
    """A file (one of the tenant's media, uploaded to the operator first) and a location, each
    with a chip list, go out in the interface's own forms; chip taps come back as user events of
    the right message."""
    from tests.cards.imagekit import encode, photo

    url, got, arrived = await receiver(aiohttp_server)
    reg = await sandbox_api.post("/v1/webhooks", json={"url": url, "events": ["message.user_event"]})
    assert reg.status == 201
    up = await sandbox_api.client.post(
        "/v1/media", data=encode(photo(), "PNG"), headers={**sandbox_api.auth, "Content-Type": "image/png"}
    )
    assert up.status == 201, await up.text()
    media = await up.json()

    chips = [{"reply": {"displayText": "收到", "postback": {"data": "got-file"}}}]
    file_body = {
        "to": "+8613800002231",
        "file": {"media_id": media["id"], "file_name": "账单.png"},
        "suggestions": chips,
    }
    sent_file = await sandbox_api.post("/v1/messages", json=file_body)
    assert sent_file.status == 202, await sent_file.text()
    place = {"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场"}
    here = [{"reply": {"displayText": "到了", "postback": {"data": "arrived"}}}]
    sent_place = await sandbox_api.post(
        "/v1/messages", json={"to": "+8613800002232", "location": place, "suggestions": here}
    )
    assert sent_place.status == 202, await sent_place.text()
    file_id = (await sent_file.json())["messages"][0]["id"]
    place_id = (await sent_place.json())["messages"][0]["id"]
    for mid in (file_id, place_id):
        await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")

    maap = sandbox_api.client.app[SANDBOX].maap
    file_parts = maap.messages[file_id].parts
    assert [p["contentType"] for p in file_parts] == [
        "application/vnd.gsma.rcs-ft-http",
        "application/vnd.gsma.botsuggestion.v1.0+json",
    ]
    infos = {info["type"]: info for info in file_parts[0]["contentText"]}
    assert infos["file"]["fileName"] == "账单.png" and infos["file"]["contentType"] == "image/png"
    # The operator's own copies, not our URLs (the simulator refuses media it did not issue).
    assert infos["file"]["url"].startswith(maap.url) and infos["thumbnail"]["url"].startswith(maap.url)
    place_parts = maap.messages[place_id].parts
    assert place_parts[0]["contentType"] == "text/plain"
    assert place_parts[0]["contentText"].startswith("geo:31.2304,121.4737;crs=gcj02")

    async with aiohttp.ClientSession() as http:
        for mid, shown in ((file_id, "账单.png"), (place_id, "人民广场")):
            async with http.get(f"{maap.url}/handset/message/{mid}") as page:
                assert page.status == 200 and shown in await page.text()
    assert await maap.tap(file_id, 0)
    assert await maap.tap(place_id, 0)
    await wait_events(got, arrived, lambda events: len(events) >= 2)
    seen = {(e["data"]["message_id"], e["data"]["event"]["postback"]) for e in (orjson.loads(b) for b, _ in got)}
    assert seen == {(file_id, "got-file"), (place_id, "arrived")}
