"""Numbers in queries and cursors: `str.isdigit` also takes ² and ٣ (and `int()` then fails on ²);
every such value is a 4xx naming the field, never a 500."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import card


def _cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "path, pointer",
    [
        ("/v1/messages?limit=²", "/limit"),
        ("/v1/messages?limit=٣", "/limit"),
        ("/v1/messages?batch_id={batch}&cursor=" + _cursor("²"), "/cursor"),
        ("/v1/webhook-deliveries?limit=²", "/limit"),
        ("/v1/media?cursor=" + _cursor("²:x"), "/cursor"),
        ("/v1/templates/t/diff?from=²&to=1", "/from"),
        ("/v1/channels?limit=²", "/limit"),
    ],
)
async def test_non_ascii_digits_are_a_422(api, path, pointer):
    sent = await api.post("/v1/messages", {"to": "+8613800138011", "card": card()})
    batch = (await sent.json())["batch_id"]
    resp = await api.get(path.format(batch=batch))
    assert resp.status == 422, await resp.text()
    assert pointer in [e["path"] for e in (await resp.json())["errors"]]
