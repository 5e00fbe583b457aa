"""The knowledge base over HTTP (SQLite and PostgreSQL): FAQ entries, matching, the answering
settings, bad input answered as problem+json naming the field, tenants kept apart."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from conversations.answerers import Question
from conversations.knowledge_http import KNOWLEDGE
from conversations.knowledge_tables import knowledge_settings
from conversations.rules import DEFAULT_THRESHOLD
from server import DATABASE
from tests.conftest import card, problem

FAQS = "/v1/knowledge/faqs"
BALANCE = {"questions": ["如何查询话费余额", "查话费"], "answer": {"text": "发送 YE 到 10086。"}, "tags": ["账户"]}
DATA = {
    "questions": ["怎么查询剩余流量", "流量查询"],
    "answer": {"text": "发送 CXLL 到 10086。", "card": card("流量", "本月剩余 2GB")},
}
BROADBAND = {"questions": ["宽带报修", "家里宽带断网了"], "answer": {"card": card("宽带报修", "拨打 10086 转 3")}}


async def _create(api, body: dict) -> dict:
    resp = await api.post(FAQS, body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_faq_entries_are_created_read_listed_replaced_and_deleted(api):
    made = [await _create(api, b) for b in (BALANCE, DATA, BROADBAND)]
    assert made[0]["questions"] == BALANCE["questions"] and made[0]["enabled"] is True
    assert made[0]["tags"] == ["账户"] and made[1]["answer"]["card"] == DATA["answer"]["card"]

    got = await (await api.get(f"{FAQS}/{made[1]['id']}")).json()
    assert got == made[1]

    first = await (await api.get(FAQS, params={"limit": "2"})).json()
    rest = await (await api.get(FAQS, params={"limit": "2", "cursor": first["next_cursor"]})).json()
    assert [f["id"] for f in first["faqs"] + rest["faqs"]] == sorted(f["id"] for f in made)
    assert rest["next_cursor"] is None

    changed = {**BALANCE, "questions": ["话费还剩多少"], "enabled": False}
    resp = await api.put(f"{FAQS}/{made[0]['id']}", changed)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["questions"] == ["话费还剩多少"] and (await resp.json())["enabled"] is False

    assert (await api.delete(f"{FAQS}/{made[2]['id']}")).status == 204
    await problem(await api.get(f"{FAQS}/{made[2]['id']}"), 404)
    await problem(await api.delete(f"{FAQS}/{made[2]['id']}"), 404)
    await problem(await api.put(f"{FAQS}/nope", BALANCE), 404)


BAD_FAQS = [
    ({"answer": {"text": "x"}}, "/questions"),
    ({"questions": [], "answer": {"text": "x"}}, "/questions"),
    ({"questions": ["ok", "  "], "answer": {"text": "x"}}, "/questions/1"),
    ({"questions": ["ok", 3], "answer": {"text": "x"}}, "/questions/1"),
    ({"questions": ["x" * 201], "answer": {"text": "x"}}, "/questions/0"),
    ({"questions": ["ok"]}, "/answer"),
    ({"questions": ["ok"], "answer": {}}, "/answer"),
    ({"questions": ["ok"], "answer": {"text": ""}}, "/answer/text"),
    ({"questions": ["ok"], "answer": {"text": "x", "video": "y"}}, "/answer/video"),
    ({"questions": ["ok"], "answer": {"card": "not a card"}}, "/answer/card"),
    (
        {"questions": ["ok"], "answer": {"card": {"message": {"generalPurposeCard": {"layout": {}, "content": {}}}}}},
        "/answer/card/message/generalPurposeCard",
    ),
    ({"questions": ["ok"], "answer": {"text": "x"}, "enabled": "yes"}, "/enabled"),
    ({"questions": ["ok"], "answer": {"text": "x"}, "tags": "vip"}, "/tags"),
    ({"questions": ["ok"], "answer": {"text": "x"}, "tags": [""]}, "/tags/0"),
    ({"questions": ["ok"], "answer": {"text": "x"}, "colour": "red"}, "/colour"),
]


@pytest.mark.parametrize(("body", "path"), BAD_FAQS)
async def test_a_bad_faq_entry_is_a_problem_naming_the_field(api, body, path):
    got = await problem(await api.post(FAQS, body), 422)
    paths = [e["path"] for e in got["errors"]]
    assert any(p == path or p.startswith(path + "/") for p in paths), paths


async def test_match_ranks_entries_and_follows_every_change(api):
    balance, data = await _create(api, BALANCE), await _create(api, DATA)
    resp = await api.post("/v1/knowledge/match", {"text": "我的流量还剩多少呀"})
    assert resp.status == 200, await resp.text()
    got = await resp.json()
    assert got["threshold"] == DEFAULT_THRESHOLD
    assert got["matches"][0]["faq_id"] == data["id"] and got["matches"][0]["question"] == "怎么查询剩余流量"
    assert 0 < got["matches"][0]["confidence"] <= 1

    # A replaced entry is matched by its new questions at once (the index follows the version).
    await api.put(f"{FAQS}/{balance['id']}", {**BALANCE, "questions": ["积分兑换礼品"]})
    got = await (await api.post("/v1/knowledge/match", {"text": "积分能换礼品吗"})).json()
    assert got["matches"][0]["faq_id"] == balance["id"]
    # A disabled entry is not matched; a deleted one neither.
    await api.put(f"{FAQS}/{balance['id']}", {**BALANCE, "questions": ["积分兑换礼品"], "enabled": False})
    got = await (await api.post("/v1/knowledge/match", {"text": "积分能换礼品吗"})).json()
    assert got["matches"] == []
    await api.delete(f"{FAQS}/{data['id']}")
    got = await (await api.post("/v1/knowledge/match", {"text": "流量查询"})).json()
    assert got["matches"] == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "/text"),
        ({"text": ""}, "/text"),
        ({"text": 5}, "/text"),
        ({"text": "x" * 1001}, "/text"),
        ({"text": "流量", "limit": 0}, "/limit"),
    ],
)
async def test_a_bad_match_request_names_the_field(api, body, path):
    got = await problem(await api.post("/v1/knowledge/match", body), 422)
    assert [e["path"] for e in got["errors"]] == [path]


async def test_match_reports_the_bot_rules_threshold_and_the_chain_holds_answers_to_it(api):
    data = await _create(api, DATA)
    question = Question(api.tenant_id, "c1", "流量还剩多少", [], "rcs")
    top = (await (await api.post("/v1/knowledge/match", {"text": question.text})).json())["matches"][0]
    assert top["faq_id"] == data["id"] and DEFAULT_THRESHOLD <= top["confidence"] < 1
    resp = await api.put("/v1/conversations/rules", {"rules": [], "threshold": 1, "on_miss": "handoff"})
    assert resp.status == 200, await resp.text()
    got = await (await api.post("/v1/knowledge/match", {"text": question.text})).json()
    assert got["threshold"] == 1 and got["matches"][0] == top
    # The pipeline passes the rules' threshold with each question: the FAQ's answer is below
    # it now, so it is the chain's best guess (the bot asks back with it), not a final one.
    outcome = (await (await api.post("/v1/conversations/rules/test", {"text": question.text})).json())["outcome"]
    assert outcome["kind"] == "handoff" and outcome["confidence"] == top["confidence"]
    await api.put("/v1/conversations/rules", {"rules": [], "threshold": top["confidence"]})
    outcome = (await (await api.post("/v1/conversations/rules/test", {"text": question.text})).json())["outcome"]
    assert outcome["kind"] == "faq" and outcome["faq_id"] == data["id"]


async def test_tenants_do_not_see_each_others_knowledge(api):
    mine = await _create(api, DATA)
    other = await api.new_tenant()
    await problem(await other.get(f"{FAQS}/{mine['id']}"), 404)
    await problem(await other.delete(f"{FAQS}/{mine['id']}"), 404)
    assert (await (await other.get(FAQS)).json())["faqs"] == []
    assert (await (await other.post("/v1/knowledge/match", {"text": "流量查询"})).json())["matches"] == []


async def test_answerer_settings_keep_the_api_key_sealed_and_write_only(api):
    got = await (await api.get("/v1/knowledge/answerer")).json()
    assert got["enabled"] is False and "threshold" not in got and "on_miss" not in got
    assert got["api_key_set"] is False
    body = {
        "kind": "openai",
        "enabled": True,
        "base_url": "https://ai.example.com/v1/",
        "model": "qwen-plus",
        "api_key": "sk-secret-123",
        "timeout_s": 3,
        "synonyms": {"流量": ["数据", "上网"]},
    }
    resp = await api.put("/v1/knowledge/answerer", body)
    assert resp.status == 200, await resp.text()
    got = await resp.json()
    assert "api_key" not in got and got["api_key_set"] is True
    assert got["base_url"] == "https://ai.example.com/v1" and got["timeout_s"] == 3
    assert got["synonyms"] == {"流量": ["数据", "上网"]}
    async with api.client.app[DATABASE].read.connect() as conn:
        sealed = (await conn.execute(select(knowledge_settings.c.ai_key_enc))).scalar_one()
    assert b"sk-secret-123" not in sealed
    # Fields left out keep their value; null removes the key.
    got = await (await api.put("/v1/knowledge/answerer", {"api_key": None})).json()
    assert got["api_key_set"] is False and got["model"] == "qwen-plus"
    # Synonyms reach matching: 数据 is read as 流量.
    await _create(api, DATA)
    got = await (await api.post("/v1/knowledge/match", {"text": "数据查询"})).json()
    assert got["matches"] and got["matches"][0]["question"] == "怎么查询剩余流量"


BAD_ANSWERERS = [
    # The threshold and what a miss does are the bot rules' (PUT /v1/conversations/rules) only.
    ({"threshold": 0.7}, "/threshold"),
    ({"on_miss": "handoff"}, "/on_miss"),
    ({"kind": "claude"}, "/kind"),
    ({"enabled": "yes"}, "/enabled"),
    ({"base_url": "ftp://ai.example.com"}, "/base_url"),
    ({"base_url": "https://user:pw@ai.example.com"}, "/base_url"),
    ({"timeout_s": 0}, "/timeout_s"),
    ({"timeout_s": 120}, "/timeout_s"),
    ({"api_key": "has space"}, "/api_key"),
    ({"synonyms": ["流量"]}, "/synonyms"),
    ({"synonyms": {"流量": "数据"}}, "/synonyms/流量"),
    ({"kind": "openai", "enabled": True, "base_url": "https://ai.example.com"}, "/model"),
    ({"temperature": 2}, "/temperature"),
]


@pytest.mark.parametrize(("body", "path"), BAD_ANSWERERS)
async def test_bad_answerer_settings_are_a_problem_naming_the_field(api, body, path):
    got = await problem(await api.put("/v1/knowledge/answerer", body), 422)
    assert path in [e["path"] for e in got["errors"]]


async def test_the_tenants_answerer_answers_from_its_faq(api):
    data = await _create(api, DATA)
    answerer = api.client.app[KNOWLEDGE].answerer_for(api.tenant_id)
    got = await answerer.answer(Question(api.tenant_id, "c1", "流量还剩多少", [], "rcs"))
    assert got is not None and got.faq_id == data["id"] and got.source == f"faq:{data['id']}"
    assert got.text == DATA["answer"]["text"] and got.card == DATA["answer"]["card"] and got.confidence >= 0.5
    assert await answerer.answer(Question(api.tenant_id, "c1", "今天天气怎么样", [], "sms")) is None


async def test_the_tenants_answerer_asks_its_ai_service_when_the_faq_does_not_know(api, aiohttp_server):
    from aiohttp import web

    seen: list[tuple[str, dict]] = []

    async def completions(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization", ""), await request.json()))
        message = {"role": "assistant", "content": "抱歉，这个问题请咨询人工客服。"}
        return web.json_response(
            {
                "id": "c",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )

    ai = web.Application()
    ai.router.add_post("/v1/chat/completions", completions)
    server = await aiohttp_server(ai)
    api.client.app[KNOWLEDGE].allow_private = True  # as in the sandbox: the stand-in is on loopback
    data = await _create(api, DATA)
    settings = {"kind": "openai", "enabled": True, "base_url": str(server.make_url("/v1")), "model": "qwen-plus"}
    resp = await api.put(
        "/v1/knowledge/answerer", {**settings, "api_key": "sk-tenant", "system_prompt": "你是电信客服"}
    )
    assert resp.status == 200, await resp.text()
    answerer = api.client.app[KNOWLEDGE].answerer_for(api.tenant_id)

    got = await answerer.answer(Question(api.tenant_id, "c1", "流量还剩多少", [], "rcs"))
    assert got is not None and got.faq_id == data["id"] and seen == []  # the FAQ knew: no AI call
    got = await answerer.answer(Question(api.tenant_id, "c1", "今天天气怎么样", [("user", "你好")], "rcs"))
    assert got is not None and got.source == "ai:qwen-plus" and got.text == "抱歉，这个问题请咨询人工客服。"
    auth, body = seen[0]
    assert auth == "Bearer sk-tenant" and body["model"] == "qwen-plus"
    assert body["messages"][0] == {"role": "system", "content": "你是电信客服"}
    assert body["messages"][1:] == [{"role": "user", "content": "你好"}, {"role": "user", "content": "今天天气怎么样"}]

    await api.put("/v1/knowledge/answerer", {"enabled": False})
    assert await answerer.answer(Question(api.tenant_id, "c1", "今天天气怎么样", [], "rcs")) is None
    assert len(seen) == 1


async def test_another_process_sees_a_change_once_its_settings_are_due(api):
    from conversations.knowledge import SETTINGS_TTL_S, Knowledge
    from server import KEYRING, WIRING
    from server import messages_http as mh

    app = api.client.app
    now = [0.0]
    other = Knowledge(app[DATABASE], app[mh.LEDGER].writer, app[KEYRING], app[WIRING].clock)
    other.monotonic = lambda: now[0]
    question = Question(api.tenant_id, "c1", "宽带断网了", [], "rcs")
    assert await other.answerer_for(api.tenant_id).answer(question) is None  # no FAQ yet (cached)
    made = await _create(api, BROADBAND)  # through this process's Knowledge
    assert await other.answerer_for(api.tenant_id).answer(question) is None  # still trusted
    now[0] += SETTINGS_TTL_S
    got = await other.answerer_for(api.tenant_id).answer(question)
    assert got is not None and got.faq_id == made["id"] and got.card == BROADBAND["answer"]["card"] and got.text is None


async def test_a_card_only_answer_reaches_sms_as_the_cards_text(api):
    made = await _create(api, BROADBAND)
    answerer = api.client.app[KNOWLEDGE].answerer_for(api.tenant_id)
    rcs = await answerer.answer(Question(api.tenant_id, "c1", "宽带断网了怎么报修", [], "rcs"))
    sms = await answerer.answer(Question(api.tenant_id, "c1", "宽带断网了怎么报修", [], "sms"))
    assert rcs is not None and rcs.text is None and rcs.card == BROADBAND["answer"]["card"]
    assert sms is not None and sms.faq_id == made["id"] and "宽带报修" in (sms.text or "")


async def test_key_rotation_reseals_the_ai_key(api, settings):
    import security
    from accounts import Accounts
    from accounts.rotation import rotate_all
    from server import ACCOUNTS, master_key_provider, sealed_columns
    from store import SystemClock, open_database

    settings_body = {"kind": "openai", "base_url": "https://ai.example.com/v1", "model": "m", "api_key": "sk-rotate"}
    assert (await api.put("/v1/knowledge/answerer", settings_body)).status == 200
    job_db = open_database(settings.db_url)
    job = Accounts(job_db, security.Keyring(master_key_provider(settings)), SystemClock())
    await rotate_all(job_db, job, sealed_columns(), progress=lambda _: None, settle_seconds=0)
    await job_db.dispose()
    server = api.client.app[ACCOUNTS]
    await server.load_keys()
    async with api.client.app[DATABASE].read.connect() as conn:
        sealed = (await conn.execute(select(knowledge_settings.c.ai_key_enc))).scalar_one()
    assert security.sealed_key_id(sealed) == server.keyring.active_key_id(api.tenant_id)
    knowledge = api.client.app[KNOWLEDGE]
    ai = await knowledge.ai_answerer(
        api.tenant_id, replace(await knowledge._read_settings(api.tenant_id), ai_enabled=True)
    )
    assert ai is not None and ai.config.api_key == "sk-rotate"


async def test_indexes_of_the_least_recently_asked_tenants_are_dropped_and_rebuilt(api, monkeypatch):
    """One process keeps at most MAX_CACHED_DOCS question variants indexed; a dropped tenant's
    index is rebuilt on its next question, with the same answer."""
    from conversations import knowledge

    monkeypatch.setattr(knowledge, "MAX_CACHED_DOCS", 4)  # two tenants' two-variant entries
    service = api.client.app[KNOWLEDGE]
    tenants = [api, await api.new_tenant(), await api.new_tenant()]
    expected = []
    for each in tenants:
        expected.append((await _create(each, DATA))["id"])
    for each, faq_id in zip(tenants, expected):
        got = await (await each.post("/v1/knowledge/match", {"text": "流量查询"})).json()
        assert got["matches"][0]["faq_id"] == faq_id
    assert list(service._built) == [tenants[1].tenant_id, tenants[2].tenant_id]  # the first one went
    got = await (await api.post("/v1/knowledge/match", {"text": "流量查询"})).json()
    assert got["matches"][0]["faq_id"] == expected[0]  # rebuilt from the database
    assert list(service._built) == [tenants[2].tenant_id, api.tenant_id]
