"""Every field error of a send carries a stable code that the editor can say in English and in
Chinese (editor/static/i18n): the table of bad bodies covers each check of POST /v1/messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import card, problem

I18N = Path(__file__).resolve().parents[2] / "editor" / "static" / "i18n"
BAD = [
    # (body, path, code)
    ({"to": "+8613800138001", "card": card(), "colour": "red"}, "/colour", "unknown_field"),
    ({"card": card()}, "/to", "exactly_one"),
    ({"to": "call me", "card": card()}, "/to", "not_phone_number"),
    ({"to": "+8613800138001", "card": card(), "variables": [1]}, "/variables", "not_object"),
    ({"recipients": [{"to": "+8613800138001"}], "card": card(), "variables": {}}, "/variables", "per_recipient"),
    ({"to": "+8613800138001"}, "/card", "exactly_one"),
    ({"to": "+8613800138001", "card": "hello"}, "/card", "not_object"),
    ({"to": "+8613800138001", "card": {"x": 1}}, "/card/message", "required"),
    ({"to": "+8613800138001", "text": 5}, "/text", "not_string"),
    ({"to": "+8613800138001", "template": {"version": 1}}, "/template", "not_template"),
    ({"to": "+8613800138001", "template": {"name": "t", "version": 0}}, "/template/version", "not_positive_integer"),
    ({"to": "+8613800138001", "card": card(), "traffic_type": "spam"}, "/traffic_type", "not_one_of"),
    ({"to": "+8613800138001", "card": card(), "ttl": 10**9}, "/ttl", "seconds_range"),
    ({"to": "+8613800138001", "card": card(), "send_at": "tomorrow"}, "/send_at", "not_datetime"),
    ({"to": "+8613800138001", "card": card(), "client_ref": "x" * 500}, "/client_ref", "text_too_long"),
    ({"to": "+8613800138001", "card": card(), "fallback": "fax"}, "/fallback", "not_one_of"),
    ({"to": "+8613800138001", "card": card(), "channel": "sms", "fallback": "none"}, "/fallback", "sms_only_needs_sms"),
    ({"to": "+8613800138001", "file": []}, "/file", "not_object"),
    ({"to": "+8613800138001", "location": 1}, "/location", "not_object"),
    ({"to": "+8613800138001", "text": "hi", "suggestions": {}}, "/suggestions", "not_array"),
    ({"recipients": [], "card": card()}, "/recipients", "not_array"),
    ({"recipients": [{"to": "nope"}], "card": card()}, "/recipients/0/to", "not_phone_number"),
    ({"recipients": [{"to": "+8613800138001", "x": 1}], "card": card()}, "/recipients/0/x", "unknown_field"),
    ({"to": "+8613800138001", "card": card(), "segment": "!!"}, "/segment", "not_segment_name"),
]


@pytest.mark.parametrize("body, path, code", BAD)
async def test_each_bad_field_has_a_code_the_editor_can_say(api, body, path, code):
    errors = (await problem(await api.post("/v1/messages", body), 422))["errors"]
    assert (path, code) in [(e["path"], e.get("code")) for e in errors], errors
    for lang in ("en", "zh-CN"):
        strings = json.loads((I18N / f"{lang}.json").read_text())
        assert all(f"problem.{e['code']}" in strings for e in errors if "code" in e), (lang, errors)
