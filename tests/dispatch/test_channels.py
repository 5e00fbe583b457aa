"""dispatch.channels: the default channel, a brand's own chatbot, and an edit picked up."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dispatch.channels import Channels


@dataclass
class Spec:
    id: str
    updated_ms: int


class Client:
    def __init__(self, name: str):
        self.name, self.closed = name, False

    async def close(self) -> None:
        self.closed = True


async def test_default_own_and_edited_channels():
    now = [0.0]
    stored = {"t-own": Spec("c1", 1)}
    built: list[Client] = []
    asked: list[str] = []

    async def lookup(tenant_id: str):
        asked.append(tenant_id)
        return stored.get(tenant_id)

    def build(spec: Spec) -> Client:
        built.append(Client(f"{spec.id}@{spec.updated_ms}"))
        return built[-1]

    default = Client("default")
    channels = Channels(default, lookup=lookup, build=build, ttl_s=5.0, monotonic=lambda: now[0])
    assert await channels.for_tenant("t-none") is default
    own = await channels.for_tenant("t-own")
    assert own.name == "c1@1" and await channels.for_tenant("t-own") is own
    assert asked == ["t-none", "t-own"]  # answers are trusted for the TTL

    stored["t-own"] = Spec("c1", 2)  # the brand edited its channel
    assert await channels.for_tenant("t-own") is own  # …seen once the TTL has passed
    now[0] = 6.0
    edited = await channels.for_tenant("t-own")
    assert edited.name == "c1@2" and not own.closed  # a send may still be using the old one
    await channels.close()
    assert own.closed and edited.closed and not default.closed


def test_lookup_and_build_go_together():
    with pytest.raises(ValueError):
        Channels(Client("d"), lookup=lambda t: None)
