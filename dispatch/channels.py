"""Which RCS channel a tenant's messages go out on: the brand's own chatbot when it has one,
else the platform's default channel — and a test key's messages, whatever is configured, only
the sandbox MaaP simulator's (`test`). One client per chatbot per process, so each chatbot has
exactly one token holder (asking the operator for a new token invalidates the old one)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from rcs.maap import RcsChannel

log = logging.getLogger("hongyan.dispatch.channels")

# How long a tenant's choice of channel is trusted before asking again (an edited channel is
# picked up within this).
LOOKUP_TTL_S = 5.0


class ChannelSpec(Protocol):
    """What a stored channel must tell: which one it is, and which version of it."""

    id: str
    updated_ms: int


ChannelLookup = Callable[[str], Awaitable[Any]]  # tenant id → ChannelSpec | None
ChannelBuilder = Callable[[Any], RcsChannel]  # ChannelSpec → a connected client


class Channels:
    """Tenant → RCS channel, with the clients of the brands' own chatbots built on first use and
    rebuilt when their channel changes."""

    def __init__(
        self,
        default: RcsChannel,
        *,
        lookup: ChannelLookup | None = None,
        build: ChannelBuilder | None = None,
        ttl_s: float = LOOKUP_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
        test: RcsChannel | None = None,
    ):
        if (lookup is None) != (build is None):
            raise ValueError("give both lookup and build, or neither")
        self.default = default
        # Where test keys' messages go: the sandbox simulator (None: nowhere; they wait).
        self.test = test
        self._lookup, self._build = lookup, build
        self._ttl_s, self._monotonic = ttl_s, monotonic
        self._by_tenant: dict[str, tuple[float, Hashable | None]] = {}
        self._clients: dict[Hashable, RcsChannel] = {}
        self._retired: list[RcsChannel] = []

    async def for_tenant(self, tenant_id: str, test: bool = False) -> RcsChannel:
        """The channel this tenant's messages go out on now; a test key's (`test`) always the
        simulator's, never a configured operator's."""
        if test:
            if self.test is None:
                raise LookupError("no sandbox channel for test messages in this process")
            return self.test
        if self._lookup is None:
            return self.default
        now = self._monotonic()
        hit = self._by_tenant.get(tenant_id)
        if hit is None or hit[0] <= now:
            spec = await self._lookup(tenant_id)
            key = (spec.id, spec.updated_ms) if spec is not None else None
            if spec is not None:
                await self.for_channel(spec)  # built on first use
            hit = (now + self._ttl_s, key)
            self._by_tenant[tenant_id] = hit
        return self.default if hit[1] is None else self._clients[hit[1]]

    async def for_channel(self, spec: Any) -> RcsChannel:
        """The client of one brand's channel, whether or not its messages go out on it now (its
        chatbot's menu and profile are published through it): the same client, so the same
        token holder, that sends on it."""
        if self._build is None:
            raise LookupError("this dispatcher serves no brand channels")
        key = (spec.id, spec.updated_ms)
        if key not in self._clients:
            self._retire(spec.id)
            self._clients[key] = self._build(spec)
        return self._clients[key]

    def _retire(self, channel_id: str) -> None:
        """An edited channel: its old client is closed when the platform stops (a send may still
        be using it now)."""
        for key in [k for k in self._clients if isinstance(k, tuple) and k[0] == channel_id]:
            self._retired.append(self._clients.pop(key))

    async def close(self) -> None:
        """Close every client this built (the default channel belongs to whoever made it)."""
        clients = [*self._clients.values(), *self._retired]
        self._clients.clear()
        self._retired.clear()
        for result in await asyncio.gather(*(c.close() for c in clients), return_exceptions=True):
            if isinstance(result, Exception):
                log.warning("closing an RCS channel failed: %s", type(result).__name__)
