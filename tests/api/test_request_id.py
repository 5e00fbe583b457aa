"""X-Request-Id: a sane id from the client is kept, anything else replaced by a new one, echoed
on every answer (problems and pages outside /v1/ too), and carried by the log records written
while the request is handled — in the text and the JSON log formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from api.requestid import REQUEST_ID, RequestIdFilter


@pytest.mark.parametrize(
    "given, kept",
    [
        ("trace-7f3a.9:abc", True),
        ("a" * 128, True),
        ("a" * 129, False),  # too long
        ("two words", False),
        ('quote"d', False),
        ("", False),
    ],
)
async def test_the_clients_id_is_kept_when_sane_and_echoed(api, given, kept):
    resp = await api.get("/v1/messages?limit=1", headers={"X-Request-Id": given})
    assert resp.status == 200
    echoed = resp.headers["X-Request-Id"]
    assert (echoed == given) is kept
    if not kept:
        assert len(echoed) == 32 and echoed.isalnum()


async def test_problems_and_other_pages_carry_it_too(api):
    missing = await api.get("/v1/messages/nope", headers={"X-Request-Id": "r-404"})
    assert missing.status == 404 and missing.headers["X-Request-Id"] == "r-404"
    assert missing.content_type == "application/problem+json"
    unauthenticated = await api.client.get("/v1/messages", headers={"X-Request-Id": "r-401"})
    assert unauthenticated.status == 401 and unauthenticated.headers["X-Request-Id"] == "r-401"
    page = await api.client.get("/healthz")
    assert len(page.headers["X-Request-Id"]) == 32
    nowhere = await api.client.get("/no/such/page", headers={"X-Request-Id": "r-nowhere"})
    assert nowhere.status == 404 and nowhere.headers["X-Request-Id"] == "r-nowhere"


def _log_line(log_format: str) -> str:
    from pythonjsonlogger.json import JsonFormatter

    from server import LOG_FORMAT

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s")
        if log_format == "json"
        else logging.Formatter(LOG_FORMAT)
    )
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("hongyan.test.requestid")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    token = REQUEST_ID.set("r-123")
    try:
        logger.info("sent %d", 3)
    finally:
        REQUEST_ID.reset(token)
        logger.info("outside")
        logger.removeHandler(handler)
    return out.getvalue()


def test_log_records_carry_the_request_id_as_text_and_json():
    text = _log_line("text").splitlines()
    assert "[r-123]: sent 3" in text[0] and "[-]: outside" in text[1]
    records = [json.loads(line) for line in _log_line("json").splitlines()]
    assert records[0]["request_id"] == "r-123" and records[0]["message"] == "sent 3"
    assert records[1]["request_id"] == "-"
