"""The 202 body's ids, read off its head for the Location header, agree with parsing it."""

from __future__ import annotations

import orjson
import pytest

from messages.ledger import answer_ids


@pytest.mark.parametrize(
    ("batch_id", "message_ids"),
    [
        ("0190f3a1b2c34d5e8f00112233445566", ["0190f3a1b2c37000800011223344aabb"]),
        ("0190f3a1b2c34d5e8f00112233445566", [f"{i:032x}" for i in range(1000)]),
        ("batch-1", ["msg-1", "msg-2"]),  # an injected id factory's ids
        ('b"quoted', ["m\\back", "m2"]),  # characters JSON escapes: read by parsing
        ("b", ["m\u00e9\u4e2d"]),
    ],
)
def test_answer_ids_agree_with_the_parsed_body(batch_id, message_ids):
    answer = orjson.dumps(
        {
            "batch_id": batch_id,
            "messages": [{"id": m, "to": "+8613800138000", "status": "accepted"} for m in message_ids],
        }
    )
    assert answer_ids(answer) == (batch_id, message_ids[0])
