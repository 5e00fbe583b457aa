"""Every problem's `type` resolves to the docs: a section of /docs/problems that says what it
means and what to do."""

from __future__ import annotations

import re

from api.problems import PROBLEM_TYPES, STATUS_TYPES
from tests.conftest import card, problem


async def _resolves(api, type_uri: str) -> None:
    path, _, anchor = type_uri.partition("#")
    page = await api.client.get(path)
    assert page.status == 200 and page.content_type == "text/html"
    assert f'id="{anchor}"' in await page.text(), type_uri


async def test_the_problems_the_api_answers_with_resolve_to_their_sections(api):
    answers = [
        (await api.get("/v1/messages/none-such"), 404),
        (await api.post("/v1/messages", {"to": "call me", "card": card()}), 422),
        (await api.client.get("/v1/messages"), 401),
        (await api.get("/v1/messages?limit=0"), 422),
    ]
    for resp, status in answers:
        body = await problem(resp, status)
        assert body["type"] == f"/docs/problems#{STATUS_TYPES[status]}"
        await _resolves(api, body["type"])


async def test_every_type_has_its_section_and_the_page_keeps_to_its_policy(api):
    page = await api.client.get("/docs/problems")
    text = await page.text()
    assert set(re.findall(r'<section id="([a-z-]+)"', text)) == set(PROBLEM_TYPES)
    assert set(STATUS_TYPES.values()) <= set(PROBLEM_TYPES)
    assert "`" not in text and "<code>errors[]</code>" in text  # names set as code, not Markdown
    assert "script-src" not in page.headers["Content-Security-Policy"]  # nothing runs there


async def test_a_cursor_that_is_no_id_is_a_422_naming_it(api):
    """Found by the fuzzer on PostgreSQL: a NUL in the erasures' cursor reached the query."""
    for bad in ("\x00", "not-an-id", "0" * 200):
        body = await problem(await api.get("/v1/privacy/erasures", params={"cursor": bad}), 422)
        assert [e["path"] for e in body["errors"]] == ["/cursor"]
    assert (await api.get("/v1/privacy/erasures", params={"cursor": "0" * 32})).status == 200
