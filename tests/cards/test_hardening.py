"""Issue 13's findings on templates, through the HTTP API on SQLite and PostgreSQL: a template
that could freeze the server is a 422 at every door; the fuzzer's 500s are clear 4xx naming
the field; validation, rendering and sending agree on what a card and a template name mean."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
from sqlalchemy import select

from cards.library import load_library
from dispatch.jobs import CardSource
from messages.tables import batches, messages
from server import DATABASE, KEYRING
from tests.conftest import card, problem

DESCRIPTION = "/message/generalPurposeCard/content/description"
# The repro: 50 million loop iterations hidden in a macro.
FREEZER = (
    "{% macro f() %}{% for k in range(1000) %}{% endfor %}{% endmacro %}"
    "{% for i in range(1000) %}{% for j in range(50) %}{{ f() }}{% endfor %}{% endfor %}"
)
COUNTED = "could take up to 50,254,003 steps for one recipient"  # counted on the syntax tree, not run
RECURSIVE = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"


async def test_the_freezer_is_a_422_and_the_server_keeps_answering(api):
    send = api.post("/v1/messages", {"to": "+8613800138001", "card": card(description=FREEZER)})
    health = [api.client.get("/healthz") for _ in range(5)]
    resp, *healthy = await asyncio.gather(send, *health)
    body = await problem(resp, 422)
    assert [e["path"] for e in body["errors"]] == ["/card" + DESCRIPTION]
    assert COUNTED in body["errors"][0]["message"]
    assert [h.status for h in healthy] == [200] * 5


@pytest.mark.parametrize(
    "path, body, where",
    [
        ("/v1/cards/render?format=gsma", {"card": card(description=FREEZER)}, "/card" + DESCRIPTION),
        ("/v1/editor/preview", {"card": card(description=FREEZER)}, "/card" + DESCRIPTION),
        ("/v1/templates", {"name": "t", "card": card(description=FREEZER)}, "/card" + DESCRIPTION),
        ("/v1/messages", {"to": "+8613800138001", "card": card(description=RECURSIVE)}, "/card" + DESCRIPTION),
        ("/v1/cards/render?format=html", {"card": card(description=RECURSIVE)}, "/card" + DESCRIPTION),
        ("/v1/editor/preview", {"card": card(description=RECURSIVE)}, "/card" + DESCRIPTION),
    ],
)
async def test_every_door_refuses_a_template_before_it_runs(api, path, body, where):
    got = await problem(await api.post(path, body), 422)
    assert [e["path"] for e in got["errors"]] == [where]
    assert got["errors"][0]["message"].startswith("template not allowed: ")


async def test_a_draft_keeps_a_refused_template_without_running_it(api):
    made = await (await api.post("/v1/templates", {"name": "t", "card": card()})).json()
    resp = await api.client.put(
        f"/v1/templates/{made['id']}/draft", json={"card": card(description=FREEZER)}, headers=api.auth
    )
    draft = await resp.json()
    assert resp.status == 200 and draft["valid"] is False
    assert [e["path"] for e in draft["errors"]] == ["/card" + DESCRIPTION]
    assert COUNTED in draft["errors"][0]["message"]
    submit = await problem(await api.post(f"/v1/templates/{made['id']}/versions", {"from_draft": True}), 422)
    assert submit["errors"][0]["path"] == "/card" + DESCRIPTION


async def test_a_heavy_template_is_sent_and_composed_by_the_dispatcher(api):
    # Allowed (counted under the limit) but heavier than composing inline: accepted, and the
    # dispatcher's composition of it gives the recipient's card.
    heavy = card(description="{% for i in items %}{{ i.label }} {{ i.amount|money }}；{% endfor %}")
    items = [{"label": "月费", "amount": 58}, {"label": "流量", "amount": 5}]
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "card": heavy, "variables": {"items": items}})
    assert resp.status == 202, await resp.text()
    [msg] = (await resp.json())["messages"]
    app = api.client.app
    async with app[DATABASE].read.connect() as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == msg["id"]))).first()
    job, error = await CardSource(app[DATABASE], app[KEYRING]).open(app[KEYRING], row)
    assert error is None
    assert job.card["message"]["generalPurposeCard"]["content"]["description"] == "月费 ¥58.00；流量 ¥5.00；"


# -- the fuzzer's 500s ---------------------------------------------------------------------
async def template_id(api, name: str = "bill") -> str:
    resp = await api.post("/v1/templates", {"name": name, "card": card(title="{{ name }}"), "sample": {"name": "x"}})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


@pytest.mark.parametrize("huge", ["2147483648", "99999999999999999999", "9" * 40])
async def test_huge_version_numbers_are_4xx_naming_the_field(api, huge):
    tid = await template_id(api)
    got = await problem(await api.get(f"/v1/templates/{tid}/versions/{huge}"), 404)
    assert got["errors"][0]["path"] == "/version"
    got = await problem(await api.get(f"/v1/templates/{tid}/diff?from=1&to={huge}"), 422)
    assert got["errors"][0]["path"] == "/to"
    send = {"to": "+8613800138001", "template": {"name": "bill", "version": int(huge)}, "variables": {"name": "x"}}
    got = await problem(await api.post("/v1/messages", send), 422)
    assert got["errors"][0]["path"] == "/template/version"
    render = {"template": {"name": "bill", "version": int(huge)}}
    got = await problem(await api.post("/v1/cards/render", render), 422)
    assert got["errors"][0]["path"] == "/template/version"


@pytest.mark.parametrize("name", ["bi\x00ll", "bill\x01", "\x7f"])
async def test_control_characters_in_a_template_name_are_422(api, name):
    got = await problem(await api.post("/v1/templates", {"name": name, "card": card()}), 422)
    assert got["errors"][0]["path"] == "/name"
    got = await problem(await api.post("/v1/templates", {"name": name, "card": card(), "draft": True}), 422)
    assert got["errors"][0]["path"] == "/name"
    tid = await template_id(api)
    got = await problem(await api.post(f"/v1/templates/{tid}/duplicate", {"name": name}), 422)
    assert got["errors"][0]["path"] == "/name"
    send = {"to": "+8613800138001", "template": {"name": name}}
    got = await problem(await api.post("/v1/messages", send), 422)
    assert got["errors"][0]["path"] == "/template/name"
    got = await problem(await api.post("/v1/cards/render", {"template": name}), 422)
    assert got["errors"][0]["path"] == "/template/name"
    note = await api.post(f"/v1/templates/{tid}/versions", {"card": card(), "note": "a\x00b"})
    assert (await problem(note, 422))["errors"][0]["path"] == "/note"


@pytest.mark.parametrize("ref", ["%00", "x%00y", "0" * 31 + "%00"])
async def test_a_nul_in_a_template_or_media_id_is_404(api, ref):
    for path in (
        f"/v1/templates/{ref}",
        f"/v1/templates/{ref}/versions/1",
        f"/v1/templates/{ref}/draft",
        f"/v1/templates/{ref}/diff?from=1&to=2",
        f"/v1/media/{ref}",
    ):
        await problem(await api.get(path), 404)
    for path in (f"/media/{ref}", f"/media/{ref}/thumbnail"):
        assert (await api.client.get(path)).status == 404


@pytest.mark.parametrize("path", ["/v1/templates?cursor=%00", "/v1/media?cursor=%00", "/v1/media?cursor=MTox%00"])
async def test_a_nul_in_a_list_cursor_is_4xx(api, path):
    assert 400 <= (await api.get(path)).status < 500


async def test_a_nul_in_a_cards_media_url_is_never_a_500(api):
    doc = card()
    doc["message"]["generalPurposeCard"]["content"]["media"] = {
        "mediaUrl": "/media/a\x00b",
        "mediaContentType": "image/png",
        "mediaFileSize": 10,
        "height": "MEDIUM_HEIGHT",
    }
    for url in ("/media/a\x00b", "https://cdn.example.cn/media/a\x00b.png"):
        doc["message"]["generalPurposeCard"]["content"]["media"]["mediaUrl"] = url
        resp = await api.post("/v1/cards/render?format=png", {"card": doc})
        assert resp.status in (200, 422), await resp.text()  # drawn, or refused as a URL: never a 500


@pytest.mark.parametrize("name", ["file\x01", "fi\x00le"])
async def test_a_control_character_in_a_multipart_part_name_is_400(api, name):
    body = (
        b'--B\r\nContent-Disposition: form-data; name="' + name.encode() + b'"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\nxx\r\n--B--\r\n"
    )
    resp = await api.post("/v1/media", data=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    got = await problem(resp, 400)
    assert got["errors"][0]["path"] == "/file"


def deep_card(levels: int = 300) -> dict:
    deep: list | str = "x"
    for _ in range(levels):
        deep = [deep]
    doc = card()
    doc["message"]["generalPurposeCard"]["content"]["x-deep"] = deep
    return doc


@pytest.mark.parametrize(
    "path, body, where",
    [
        ("/v1/editor/preview", {"card": deep_card()}, "/card"),
        ("/v1/cards/render", {"card": deep_card()}, "/card"),
        ("/v1/cards/validate", {"card": deep_card()}, "/message"),  # paths into the card itself
        ("/v1/templates", {"name": "deep", "card": deep_card()}, "/card"),
        ("/v1/templates", {"name": "deep", "card": deep_card(), "draft": True}, "/card"),
        ("/v1/messages", {"to": "+8613800138001", "card": deep_card()}, "/card"),
    ],
)
async def test_a_card_nested_deeper_than_json_carries_is_422(api, path, body, where):
    # The body itself is read (the server's JSON reader has no depth limit)…
    resp = await api.client.post(
        path,
        data=_dumps_deep(body),
        headers={**api.auth, "Content-Type": "application/json"},
    )
    # …and the card is refused, naming it.
    got = await problem(resp, 422)
    assert any(e["path"].startswith(where) for e in got["errors"]), got


def _dumps_deep(value) -> bytes:
    """JSON for values deeper than orjson writes (a fuzzer's body)."""
    return json.dumps(value, ensure_ascii=False).encode()


# -- validation, rendering and sending agree -------------------------------------------------
CHIPS_ONLY = {"suggestions": [{"reply": {"displayText": "好", "postback": {"data": "ok"}}}]}
MENU_ONLY = {"menu": {"entries": [{"reply": {"displayText": "帮助", "postback": {"data": "help"}}}]}}


async def test_a_chip_list_without_a_message_is_refused_by_validate_as_by_send(api):
    validated = await problem(await api.post("/v1/cards/validate", {"card": CHIPS_ONLY}), 422)
    sent = await problem(await api.post("/v1/messages", {"to": "+8613800138001", "card": CHIPS_ONLY}), 422)
    assert "/message" in [e["path"] for e in validated["errors"]]
    assert "/card/message" in [e["path"] for e in sent["errors"]]
    stored = await problem(await api.post("/v1/templates", {"name": "chips", "card": CHIPS_ONLY}), 422)
    assert "/card/message" in [e["path"] for e in stored["errors"]]
    previewed = await (await api.post("/v1/editor/preview", {"card": CHIPS_ONLY})).json()
    assert previewed["valid"] is False and "/message" in [e["path"] for e in previewed["errors"]]


async def test_a_menu_document_is_valid_to_publish_and_not_sent_as_a_message(api):
    # A persistent menu alone is the editor's menu template, published on the channel.
    assert (await api.post("/v1/cards/validate", {"card": MENU_ONLY})).status == 200
    assert (await (await api.post("/v1/editor/preview", {"card": MENU_ONLY})).json())["valid"] is True
    made = await api.post("/v1/templates", {"name": "menu", "card": MENU_ONLY})
    assert made.status == 201, await made.text()
    sent = await problem(await api.post("/v1/messages", {"to": "+8613800138001", "card": MENU_ONLY}), 422)
    assert "/card/message" in [e["path"] for e in sent["errors"]]
    by_name = await problem(await api.post("/v1/messages", {"to": "+8613800138001", "template": "menu"}), 422)
    assert by_name["errors"][0]["path"] == "/template/message"


async def test_a_tenant_template_named_like_a_library_one_is_the_tenants_everywhere(api):
    library = load_library()["monthly_bill"]
    own = card(title="{{ name }} 的自有账单", description="本店账单")
    made = await api.post("/v1/templates", {"name": "monthly_bill", "card": own, "sample": {"name": "赵六"}})
    assert made.status == 201, await made.text()
    rendered = await api.post("/v1/cards/render?format=gsma", {"template": "monthly_bill"})
    assert rendered.status == 200, await rendered.text()
    content = orjson.loads(await rendered.read())["message"]["generalPurposeCard"]["content"]
    assert content["title"] == "赵六 的自有账单"  # the tenant's template, with its sample
    resp = await api.post(
        "/v1/messages", {"to": "+8613800138001", "template": "monthly_bill", "variables": {"name": "钱七"}}
    )
    assert resp.status == 202, await resp.text()
    [msg] = (await resp.json())["messages"]
    app = api.client.app
    async with app[DATABASE].read.connect() as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == msg["id"]))).first()
        batch = (await conn.execute(select(batches).where(batches.c.id == row.batch_id))).first()
    sent = orjson.loads(app[KEYRING].open(api.tenant_id, "batches", "card", batch.id, batch.card_enc))
    assert sent == own and sent != library.card
    assert orjson.loads(batch.template_ref)["version"] == 1 and "library" not in orjson.loads(batch.template_ref)
    # Another tenant, without a template of that name, gets the library's in both.
    other = await api.new_tenant()
    lib = await other.post("/v1/cards/render?format=gsma", {"template": "monthly_bill"})
    assert orjson.loads(await lib.read())["message"] == library.compiled.compose(library.sample)["message"]
