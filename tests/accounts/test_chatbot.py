"""A brand's chatbot menu and profile, published through its own channel at the sandbox MaaP and
audited there: /v1/channels/{id}/menu, …/profile, …/chatbot and …/publishes over HTTP against
the running app and its strict simulator, on SQLite and PostgreSQL. The simulator's auditor
passes each update a moment after it arrives unless it contains "违规" or "reject"."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import jsonschema
import orjson
import pytest

from rcs.operators.cn_csp import CnCspMaap
from rcs.simulator import MaapSimulator
from security import api_key_id
from security.webhooks import verify_webhook
from server import SANDBOX
from tests.conftest import ApiClient
from tests.dispatch.conftest import FAST, dispatch_settings  # noqa: F401  (a fixture)
from tests.dispatch.test_webhooks import receiver, wait_events

PROBLEM = "application/problem+json"
AUDITING = replace(FAST, maap_timing=replace(FAST.maap_timing, audit_delay_s=0.05))
CHATBOT = "sip:12520000077@botplatform.sandbox.local"


def reply(text: str, data: str = "r") -> dict:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def action(text: str, kind: str, body: dict) -> dict:
    return {"action": {"displayText": text, "postback": {"data": text}, kind: body}}


# Every kind of entry the interface names, two levels deep.
MENU = {
    "entries": [
        reply("最新优惠", "offers"),
        {
            "menu": {
                "displayText": "联系我们",
                "entries": [
                    action("拨打客服", "dialerAction", {"dialPhoneNumber": {"phoneNumber": "+8610086"}}),
                    action(
                        "门店位置",
                        "mapAction",
                        {"showLocation": {"location": {"latitude": 39.9, "longitude": 116.4, "label": "总店"}}},
                    ),
                    action(
                        "预约到店",
                        "calendarAction",
                        {
                            "createCalendarEvent": {
                                "startTime": "2026-10-01T09:00:00+08:00",
                                "endTime": "2026-10-01T10:00:00+08:00",
                                "title": "到店",
                            }
                        },
                    ),
                    action(
                        "发短信", "composeAction", {"composeTextMessage": {"phoneNumber": "+8610086", "text": "你好"}}
                    ),
                ],
            }
        },
        action("官网", "urlAction", {"openUrl": {"url": "https://moon.example.cn", "application": "browser"}}),
    ]
}


@pytest.fixture
async def brand(aiohttp_server, aiohttp_client, dispatch_settings):  # noqa: F811
    """A tenant with its own chatbot channel at the sandbox MaaP, provisioned there."""
    from server import ACCOUNTS, Wiring, create_app

    app = create_app(dispatch_settings, Wiring(dispatch=AUDITING, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=dispatch_settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Moon Bakery", signature="【月饼铺】")
    api = ApiClient(client, tenant.id, key)
    channel = await make_channel(api, CHATBOT)
    return api, channel


async def make_channel(api: ApiClient, chatbot_id: str, **overrides) -> dict:
    maap = api.client.app[SANDBOX].maap
    body = {
        "operator": "sandbox",
        "server_root": f"http://{maap.host}:{maap.port}",
        "chatbot_id": chatbot_id,
        "app_id": "moon-app",
        "app_key": "moon-key",
        "callback_token": "moon-callback",
        **overrides,
    }
    resp = await api.post("/v1/channels", body)
    assert resp.status == 201, await resp.text()
    channel = await resp.json()
    if channel["status"] == "active":  # provisioned on the simulator after the commit
        deadline = time.monotonic() + 5
        while chatbot_id not in maap.chatbots:
            assert time.monotonic() < deadline, "the sandbox never provisioned the chatbot"
            await asyncio.sleep(0.01)
    return channel


async def put(api: ApiClient, path: str, body, key: str | None = None):
    headers = {"Authorization": f"Bearer {key or api.api_key}"}
    return await api.client.put(path, json=body, headers=headers)


async def problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    return await resp.json(content_type=PROBLEM)


async def settled(api: ApiClient, channel_id: str, kind: str, timeout: float = 10.0) -> dict:
    """Poll the latest publish of `kind` until the operator's audit settled it."""
    deadline = time.monotonic() + timeout
    while True:
        current = await (await api.get(f"/v1/channels/{channel_id}/{kind}")).json()
        if current["latest"]["state"] != "submitted":
            return current
        assert time.monotonic() < deadline, f"no audit arrived: {current}"
        await asyncio.sleep(0.02)


# -- menu ----------------------------------------------------------------------------------
async def test_a_menu_is_published_audited_approved_and_the_operator_holds_it(brand, aiohttp_server):
    api, channel = brand
    cid = channel["id"]
    url, got, arrived = await receiver(aiohttp_server)
    reg = await api.post("/v1/webhooks", json={"url": url, "events": ["channel.audit"]})
    assert reg.status == 201, await reg.text()
    secret = (await reg.json())["secret"]
    assert (await (await api.get(f"/v1/channels/{cid}/menu")).json()) == {"latest": None, "approved": None}

    resp = await put(api, f"/v1/channels/{cid}/menu", {"menu": MENU})
    assert resp.status == 202, await resp.text()
    made = await resp.json()
    assert made["kind"] == "menu" and made["state"] == "submitted" and made["body"] == {"menu": MENU}
    assert (made["chatbot_id"], made["api_key_id"], made["warnings"]) == (CHATBOT, api_key_id(api.api_key), [])
    assert made["audited_at"] is None

    current = await settled(api, cid, "menu")
    assert current["latest"]["id"] == made["id"] == current["approved"]["id"]
    assert (current["latest"]["state"], current["latest"]["reason"]) == ("approved", None)
    assert current["latest"]["audited_at"] >= current["latest"]["submitted_at"]
    info = await (await api.get(f"/v1/channels/{cid}/chatbot")).json()
    assert info["menu"] == MENU and "errorCode" not in info
    assert info["accessNo"] == "12520000077"

    await wait_events(got, arrived, lambda events: len(events) >= 1)
    body, signature = got[0]
    verify_webhook(secret, body, signature, int(time.time()))
    event = orjson.loads(body)
    assert event["type"] == "channel.audit"
    assert event["data"] == {
        "channel_id": cid,
        "chatbot_id": CHATBOT,
        "publish_id": made["id"],
        "kind": "menu",
        "state": "approved",
        "reason": None,
        "submitted_at": made["submitted_at"],
        "audited_at": current["latest"]["audited_at"],
    }


async def test_a_rejected_menu_carries_the_operators_reason_and_is_withdrawn(brand):
    api, channel = brand
    cid = channel["id"]
    first = await put(api, f"/v1/channels/{cid}/menu", {"menu": {"entries": [reply("帮助", "help")]}})
    assert first.status == 202
    await settled(api, cid, "menu")
    bad = {"entries": [reply("违规抽奖", "lottery")]}
    second = await (await put(api, f"/v1/channels/{cid}/menu", {"menu": bad})).json()
    current = await settled(api, cid, "menu")
    assert current["latest"]["id"] == second["id"]
    assert current["latest"]["state"] == "rejected"
    assert current["latest"]["reason"] == "sandbox audit: contains “违规”"
    assert current["approved"]["id"] == (await first.json())["id"]
    info = await (await api.get(f"/v1/channels/{cid}/chatbot")).json()
    assert info["menu"] == {"entries": [reply("帮助", "help")]}  # the rejected one was withdrawn
    view = await (await api.get(f"/v1/channels/{cid}")).json()
    assert (view["profile_audit"], view["profile_audit_reason"]) == ("rejected", "sandbox audit: contains “违规”")


def _entries(n: int) -> list[dict]:
    return [reply(f"r{i}") for i in range(n)]


MENU_ERRORS = [
    # (menu, the pointer, words of the message)
    ({"entries": _entries(4)}, "/menu/entries", "the limit is 3"),
    ({"entries": []}, "/menu/entries", "at least 1"),
    (
        {"entries": [{"menu": {"displayText": "更多", "entries": _entries(6)}}]},
        "/menu/entries/0/menu/entries",
        "limit is 5",
    ),
    (
        {
            "entries": [
                {"menu": {"displayText": "一", "entries": [{"menu": {"displayText": "二", "entries": _entries(1)}}]}}
            ]
        },
        "/menu/entries/0/menu/entries/0/menu",
        "3 menu levels",
    ),
    ({"entries": [{"menu": {"entries": _entries(1)}}]}, "/menu/entries/0/menu/displayText", "required"),
    (
        {"entries": [reply("长" * 26)]},
        "/menu/entries/0/reply/displayText",
        "limit is 25",
    ),
    ({"entries": [{"action": {"displayText": "无动作"}}]}, "/menu/entries/0/action", ""),
    (
        {"entries": [action("网站", "urlAction", {"openUrl": {"url": "https://a b.cn", "application": "browser"}})]},
        "/menu/entries/0/action/urlAction/openUrl/url",
        "space",
    ),
    ({}, "/menu/entries", "required"),
]


@pytest.mark.parametrize(("menu", "path", "words"), MENU_ERRORS)
async def test_a_menu_over_the_operators_limits_is_refused_with_pointers_and_never_sent(brand, menu, path, words):
    api, channel = brand
    cid = channel["id"]
    maap = api.client.app[SANDBOX].maap
    body = await problem(await put(api, f"/v1/channels/{cid}/menu", {"menu": menu}), 422)
    assert any(e["path"] == path and words in e["message"] for e in body["errors"]), body["errors"]
    assert maap.chatbots[CHATBOT].info["menu"] == {}  # the operator never saw it
    page = await (await api.get(f"/v1/channels/{cid}/publishes")).json()
    assert page == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"menu": MENU, "extra": 1}, "/extra"),
        ({"entries": MENU["entries"]}, "/menu"),
        ({"menu": [1]}, "/menu"),
    ],
)
async def test_the_menu_body_is_checked(brand, body, path):
    api, channel = brand
    found = await problem(await put(api, f"/v1/channels/{channel['id']}/menu", body), 422)
    assert path in [e["path"] for e in found["errors"]]


async def test_an_open_url_without_application_is_sent_as_browser_with_a_warning(brand):
    api, channel = brand
    menu = {"entries": [action("官网", "urlAction", {"openUrl": {"url": "https://moon.example.cn"}})]}
    made = await (await put(api, f"/v1/channels/{channel['id']}/menu", {"menu": menu})).json()
    assert made["warnings"] == [
        {
            "path": "/menu/entries/0/action/urlAction/openUrl/application",
            "message": "openUrl without application; treated as browser",
            "code": "no_application",
        }
    ]
    sent = made["body"]["menu"]["entries"][0]["action"]["urlAction"]["openUrl"]
    assert sent == {"url": "https://moon.example.cn", "application": "browser"}


# -- profile -------------------------------------------------------------------------------
PROFILE = {
    "service_description": "中秋月饼，全国配送",
    "category": ["food"],
    "callback_number": "+8610086",
    "provider": "Moon Bakery Ltd.",
    "longitude": 116,
    "latitude": 39.9,
    "theme_colour": "#C8102E",
    "service_website": "https://moon.example.cn",
    "email_address": "hi@moon.example.cn",
    "background_image": "https://moon.example.cn/bg.png",
    "address": "北京市东城区",
    "css_style": "https://moon.example.cn/card.css",
    "autograph": "【月饼铺】",
}


async def test_a_profile_is_published_and_takes_effect_once_approved(brand):
    api, channel = brand
    cid = channel["id"]
    resp = await put(api, f"/v1/channels/{cid}/profile", PROFILE)
    assert resp.status == 202, await resp.text()
    made = await resp.json()
    assert (made["kind"], made["state"]) == ("profile", "submitted")
    assert made["body"] == {**PROFILE, "longitude": 116.0}
    current = await settled(api, cid, "profile")
    assert current["latest"]["state"] == "approved" == current["approved"]["state"]
    info = await (await api.get(f"/v1/channels/{cid}/chatbot")).json()
    assert (info["themeColour"], info["serviceDescription"], info["category"]) == (
        "#C8102E",
        "中秋月饼，全国配送",
        ["food"],
    )
    assert (info["callBackNumber"], info["autograph"], info["longitude"]) == ("+8610086", "【月饼铺】", 116.0)
    view = await (await api.get(f"/v1/channels/{cid}")).json()
    assert view["profile_audit"] == "approved"


async def test_a_rejected_profile_never_takes_effect(brand):
    api, channel = brand
    cid = channel["id"]
    await put(api, f"/v1/channels/{cid}/profile", {"service_description": "reject me", "theme_colour": "#00FF00"})
    current = await settled(api, cid, "profile")
    assert (current["latest"]["state"], current["approved"]) == ("rejected", None)
    assert current["latest"]["reason"] == "sandbox audit: contains “reject”"
    info = await (await api.get(f"/v1/channels/{cid}/chatbot")).json()
    assert info["themeColour"] == "#000000"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"theme_colour": "red"}, "/theme_colour"),
        ({"category": ["food", "gifts"]}, "/category"),
        ({"category": ["x" * 51]}, "/category"),
        ({"latitude": 91}, "/latitude"),
        ({"longitude": "116"}, "/longitude"),
        ({"service_website": "ftp://moon.example.cn"}, "/service_website"),
        ({"email_address": "not-an-email"}, "/email_address"),
        ({"service_description": "长" * 501}, "/service_description"),
        ({"autograph": None}, "/autograph"),
        ({"themeColour": "#000000"}, "/themeColour"),
        ({}, ""),
    ],
)
async def test_profile_fields_are_checked_before_the_operator_sees_them(brand, change, path):
    api, channel = brand
    body = await problem(await put(api, f"/v1/channels/{channel['id']}/profile", change), 422)
    assert path in [e["path"] for e in body["errors"]], body
    assert api.client.app[SANDBOX].maap.chatbots[CHATBOT].pending_optionals == {}


# -- the record -----------------------------------------------------------------------------
async def test_publishes_are_listed_newest_first_by_kind_and_settled_in_order(brand):
    api, channel = brand
    cid = channel["id"]
    made = []
    for body, kind in (
        ({"menu": {"entries": [reply("一")]}}, "menu"),
        ({"theme_colour": "#111111"}, "profile"),
        ({"menu": {"entries": [reply("二")]}}, "menu"),
    ):
        resp = await put(api, f"/v1/channels/{cid}/{kind}", body)
        assert resp.status == 202
        made.append((await resp.json())["id"])
    await settled(api, cid, "menu")
    await settled(api, cid, "profile")
    page = await (await api.get(f"/v1/channels/{cid}/publishes?limit=2")).json()
    assert [p["id"] for p in page["data"]] == made[::-1][:2]
    rest = await (await api.get(f"/v1/channels/{cid}/publishes?limit=2&cursor={page['next_cursor']}")).json()
    assert [p["id"] for p in rest["data"]] == [made[0]] and rest["next_cursor"] is None
    menus = await (await api.get(f"/v1/channels/{cid}/publishes?kind=menu")).json()
    assert [p["id"] for p in menus["data"]] == [made[2], made[0]]
    assert all(p["state"] == "approved" for p in [*page["data"], *rest["data"]])
    one = await (await api.get(f"/v1/channels/{cid}/publishes/{made[1]}")).json()
    assert (one["kind"], one["body"]) == ("profile", {"theme_colour": "#111111"})
    await problem(await api.get(f"/v1/channels/{cid}/publishes/nope"), 404)
    await problem(await api.get(f"/v1/channels/{cid}/publishes?kind=logo"), 422)


async def test_a_chatbot_the_operator_does_not_know_is_refused(brand):
    api, _ = brand
    unknown = await make_channel(api, "sip:12520000079@botplatform.sandbox.local", status="disabled")
    assert "sip:12520000079@botplatform.sandbox.local" not in api.client.app[SANDBOX].maap.chatbots
    body = await problem(await put(api, f"/v1/channels/{unknown['id']}/profile", {"theme_colour": "#123456"}), 502)
    publish = body["publish"]
    assert (publish["state"], publish["kind"], publish["body"]) == ("refused", "profile", {"theme_colour": "#123456"})
    assert publish["reason"]
    current = await (await api.get(f"/v1/channels/{unknown['id']}/profile")).json()
    assert current == {"latest": publish, "approved": None}


async def test_an_unreachable_operator_is_recorded_as_failed(brand, unused_tcp_port_factory):
    api, _ = brand
    closed = await make_channel(
        api,
        "sip:12520000078@botplatform.sandbox.local",
        server_root=f"http://127.0.0.1:{unused_tcp_port_factory()}",
        status="disabled",
    )
    body = await problem(await put(api, f"/v1/channels/{closed['id']}/menu", {"menu": MENU}), 502)
    assert body["publish"]["state"] == "failed" and body["publish"]["reason"]
    current = await (await api.get(f"/v1/channels/{closed['id']}/menu")).json()
    assert current["latest"]["id"] == body["publish"]["id"] and current["approved"] is None
    await problem(await api.get(f"/v1/channels/{closed['id']}/chatbot"), 502)


async def test_an_audit_with_nothing_waiting_still_shows_on_the_channel(brand):
    api, channel = brand
    maap = api.client.app[SANDBOX].maap
    bot = maap.chatbots[CHATBOT]
    assert await maap.send_audit_result("chatbotInformation", "fail", description="logo unclear", bot=bot)
    view = await (await api.get(f"/v1/channels/{channel['id']}")).json()
    assert (view["profile_audit"], view["profile_audit_reason"]) == ("rejected", "logo unclear")
    page = await (await api.get(f"/v1/channels/{channel['id']}/publishes")).json()
    assert page["data"] == []


async def test_only_the_owner_with_the_channels_scope_publishes(brand):
    api, channel = brand
    cid = channel["id"]
    other = await api.new_tenant("Other brand")
    for method, path in (
        ("GET", "menu"),
        ("PUT", "menu"),
        ("GET", "profile"),
        ("PUT", "profile"),
        ("GET", "chatbot"),
        ("GET", "publishes"),
    ):
        body = {"menu": MENU} if path == "menu" else {"theme_colour": "#000000"}
        resp = await other.client.request(method, f"/v1/channels/{cid}/{path}", json=body, headers=other.auth)
        await problem(resp, 404)
    from server import ACCOUNTS

    no_scope = (await api.client.app[ACCOUNTS].create_api_key(api.tenant_id, ["messages"]))["api_key"]
    await problem(await put(api, f"/v1/channels/{cid}/menu", {"menu": MENU}, key=no_scope), 403)
    scoped = (await api.client.app[ACCOUNTS].create_api_key(api.tenant_id, ["channels"]))["api_key"]
    made = await (await put(api, f"/v1/channels/{cid}/menu", {"menu": MENU}, key=scoped)).json()
    assert made["api_key_id"] == api_key_id(scoped)


# -- the strict simulator -------------------------------------------------------------------
REFUSED = [
    ("menu", {"menu": {"entries": _entries(4)}}, 40016),
    ("menu", {"menu": {"entries": [{"menu": {"displayText": "x", "entries": _entries(6)}}]}}, 40016),
    ("menu", {"menu": {"entries": [{"menu": {"displayText": "x", "entries": _entries(1), "postback": {}}}]}}, 47002),
    (
        "menu",
        {
            "menu": {
                "entries": [{"menu": {"displayText": "x", "entries": [{"menu": {"displayText": "y", "entries": []}}]}}]
            }
        },
        47002,
    ),
    ("menu", {"menu": {"entries": [reply("x" * 26)]}}, 40018),
    ("menu", {"entries": _entries(1)}, 47001),
    ("optionals", {"category": ["food", "gifts"]}, 20002),
    ("optionals", {"themeColour": "red"}, 20002),
    ("optionals", {"latitude": 95.0}, 20002),
    ("optionals", {"serviceWebsite": "ftp://moon.example.cn"}, 20002),
    ("optionals", {"emailAddress": "nobody"}, 20002),
    ("optionals", {"serviceDescription": "长" * 501}, 40021),
    ("optionals", {"logo": "https://moon.example.cn/logo.png"}, 20002),
]


@pytest.mark.parametrize(("what", "body", "code"), REFUSED)
async def test_the_sandbox_maap_refuses_what_the_interface_refuses(what, body, code):
    """What our own checks stop is refused by the simulator too, as an operator would (its
    requests made directly, past the API's checks)."""
    async with MaapSimulator() as maap:
        client = CnCspMaap(maap.client_settings())
        try:
            sent = await client._outcome("POST", f"update/chatBotInfo/{what}", body)
        finally:
            await client.close()
        assert maap.chatbot_info["menu"] == {} and maap.pending_optionals == {}
    assert (sent.accepted, sent.code) == (False, code), sent


# -- the API description ------------------------------------------------------------------------
async def test_the_api_description_matches_what_is_served(brand):
    from openapi_spec_validator import validate

    from accounts.chatbot_http import FRAGMENT
    from api.examples import without_examples
    from api.openapi import PROBLEM as PROBLEM_SCHEMA
    from api.openapi import openapi_document

    doc = {
        "openapi": "3.1.0",
        "info": {"title": "chatbot", "version": "1"},
        "paths": FRAGMENT["paths"],
        "components": {"schemas": {"Problem": PROBLEM_SCHEMA, **FRAGMENT["schemas"]}},
    }
    validate(doc)
    served = without_examples(openapi_document("http://x")["paths"])
    assert without_examples(FRAGMENT["paths"]).items() <= served.items()  # as written, examples aside

    def schema(name: str) -> dict:
        return {**doc["components"]["schemas"][name], "components": doc["components"]}

    api, channel = brand
    cid = channel["id"]
    jsonschema.validate({"menu": MENU}, schema("ChatbotMenu"))
    jsonschema.validate(PROFILE, schema("ChatbotProfile"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**PROFILE, "theme_colour": "red"}, schema("ChatbotProfile"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"category": ["a", "b"]}, schema("ChatbotProfile"))
    made = await (await put(api, f"/v1/channels/{cid}/menu", {"menu": MENU})).json()
    jsonschema.validate(made, schema("ChatbotPublish"))
    await settled(api, cid, "menu")
    jsonschema.validate(await (await api.get(f"/v1/channels/{cid}/menu")).json(), schema("ChatbotPublishCurrent"))
    jsonschema.validate(await (await api.get(f"/v1/channels/{cid}/publishes")).json(), schema("ChatbotPublishPage"))


async def test_the_migration_makes_the_table_the_model_declares(brand):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from server import DATABASE
    from store import metadata

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if "chatbot_publishes" in repr(d)]

    api, _ = brand
    async with api.client.app[DATABASE].read.connect() as conn:
        assert await conn.run_sync(diff) == []


# -- the operator's audit in the review queue ------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "body", "state", "reason"),
    [
        ("menu", {"menu": {"entries": [reply("帮助", "help")]}}, "operator_approved", "approved"),
        (
            "menu",
            {"menu": {"entries": [reply("违规抽奖", "lottery")]}},
            "operator_rejected",
            "sandbox audit: contains “违规”",
        ),
        ("profile", {"provider": "月饼铺"}, "operator_approved", "approved"),
        ("profile", {"provider": "违规月饼铺"}, "operator_rejected", "sandbox audit: contains “违规”"),
    ],
)
async def test_the_operators_audit_is_the_review_items_state(brand, kind, body, state, reason):
    api, channel = brand
    cid = channel["id"]
    made = await (await put(api, f"/v1/channels/{cid}/{kind}", body)).json()
    current = await settled(api, cid, kind)
    assert current["latest"]["id"] == made["id"]
    page = await (await api.get("/v1/reviews?kind=chatbot")).json()
    [item] = page["data"]
    assert (item["subject"], item["state"], item["reason"]) == (made["id"], state, reason)
    assert item["decided_at"] == current["latest"]["audited_at"]
    # The item shows what was submitted, and the verdict is chained like a reviewer's decision.
    full = await (await api.get(f"/v1/reviews/{item['id']}")).json()
    assert full["subject_detail"]["body"] == body and full["subject_detail"]["kind"] == kind
    [decision] = full["decisions"]
    assert decision["facts"]["actor"] == "operator" and decision["facts"]["decision"] == state
    # A reviewer cannot decide what the operator audits.
    assert (await api.post(f"/v1/reviews/{item['id']}/approve", {})).status == 409
    only = await (await api.get(f"/v1/reviews?state={state}")).json()
    assert [i["id"] for i in only["data"]] == [item["id"]]


async def test_a_submitted_publish_waits_for_the_operator_in_the_review_queue(brand):
    api, channel = brand
    from server import SANDBOX

    maap = api.client.app[SANDBOX].maap
    maap.timing = replace(maap.timing, audit_delay_s=3600.0)  # the operator takes its time
    made = await (await put(api, f"/v1/channels/{channel['id']}/menu", {"menu": {"entries": [reply("帮助")]}})).json()
    page = await (await api.get("/v1/reviews?state=pending_operator")).json()
    assert [(i["kind"], i["subject"], i["state"]) for i in page["data"]] == [
        ("chatbot", made["id"], "pending_operator")
    ]
