"""GSMA card model ⇄ RBM AgentMessage, against Google's own published examples
(tests/rcs/golden/rbm/: each names its source and what we change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcs.maap import ContentPart, OutboundMessage, wire_parts
from rcs.operators.rbm import TranslationError, agent_message, message_parts

GOLDEN = sorted((Path(__file__).parent / "golden" / "rbm").glob("*.json"))


def _parts(entries: list[dict]) -> tuple[ContentPart, ...]:
    return tuple(ContentPart(e["contentType"], e["contentText"], e.get("contentEncoding")) for e in entries)


def _message(parts, traffic=None, **extra) -> OutboundMessage:
    return OutboundMessage("m-1", "+12223334444", tuple(parts), "c-1", "c-1", traffic_type=traffic, extra=extra)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_gsma_to_rbm_is_googles_example(path: Path):
    case = json.loads(path.read_text())
    assert case["source"]
    assert agent_message(_message(_parts(case["gsma"]), case.get("traffic_type"))) == case["rbm"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_rbm_to_gsma_and_back(path: Path):
    case = json.loads(path.read_text())
    parts = message_parts(case["rbm"])
    if "rbm_round_trip" not in case:  # the GSMA form adds nothing RBM did not say
        assert wire_parts(parts) == case["gsma"]
    back = agent_message(_message(parts, case.get("traffic_type")))
    assert back == case.get("rbm_round_trip", case["rbm"])


def _card(**content) -> dict:
    return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": content}}}


@pytest.mark.parametrize(
    ("card", "path"),
    [
        (
            {"message": {"generalPurposeCardCarousel": {"layout": {}, "content": [{"title": "x"}] * 11}}},
            "/message/generalPurposeCardCarousel/content",
        ),
        (
            _card(title="x", suggestions=[{"action": {"displayText": "x", "composeAction": {}}}]),
            "/message/generalPurposeCard/content/suggestions/0/action",
        ),
        (
            _card(
                title="x",
                suggestions=[
                    {"action": {"displayText": "x", "dialerAction": {"dialVideoCall": {"phoneNumber": "+1"}}}}
                ],
            ),
            "/message/generalPurposeCard/content/suggestions/0/action/dialerAction",
        ),
        (
            _card(title="x", suggestions=[{"reply": {"displayText": "x" * 26}}]),
            "/message/generalPurposeCard/content/suggestions/0/reply/displayText",
        ),
        (_card(), "/message/generalPurposeCard/content"),
    ],
)
def test_what_rbm_cannot_say_is_refused_with_its_place(card, path):
    part = ContentPart("application/vnd.gsma.botmessage.v1.0+json", card)
    with pytest.raises(TranslationError) as caught:
        agent_message(_message([part]))
    assert caught.value.path == path


def test_horizontal_card_gets_the_alignment_rbm_requires():
    body = agent_message(_message([ContentPart("application/vnd.gsma.botmessage.v1.0+json", _card(title="Hi"))]))
    card = body["contentMessage"]["richCard"]["standaloneCard"]
    assert card["cardOrientation"] == "HORIZONTAL" and card["thumbnailImageAlignment"] == "LEFT"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"ttl": 30}, {"ttl": "30s"}),
        ({"ttl": "10.5s"}, {"ttl": "10.5s"}),
        ({"expireTime": "2026-01-01T00:00:00Z"}, {"expireTime": "2026-01-01T00:00:00Z"}),
    ],
)
def test_expiry(extra, expected):
    body = agent_message(_message([ContentPart("text/plain", "Hi")], **extra))
    assert expected.items() <= body.items()


def test_ttl_and_expire_time_together_are_refused():
    with pytest.raises(TranslationError):
        agent_message(_message([ContentPart("text/plain", "Hi")], ttl=5, expireTime="2026-01-01T00:00:00Z"))


def test_file_message_is_content_info():
    files = [
        {"type": "thumbnail", "url": "https://x.test/t.jpg"},
        {"type": "file", "url": "https://x.test/f.mp4", "contentType": "video/mp4", "fileSize": 1},
    ]
    body = agent_message(_message([ContentPart("application/vnd.gsma.rcs-ft-http", files, "utf8")]))
    assert body == {
        "contentMessage": {"contentInfo": {"fileUrl": "https://x.test/f.mp4", "thumbnailUrl": "https://x.test/t.jpg"}}
    }
