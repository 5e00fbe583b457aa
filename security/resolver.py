"""Connecting only to public addresses: the resolver half of `security.addresses` (apart, so
domain code that checks hosts at registration does not import the web stack)."""

from __future__ import annotations

import errno
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from security.addresses import is_public_ip


class PublicOnlyResolver(AbstractResolver):
    """A resolver that answers only with public addresses; a name with none fails to resolve."""

    def __init__(self, inner: AbstractResolver | None = None):
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        public = [a for a in answers if is_public_ip(a["host"])]
        if not public:
            # errno + strerror: aiohttp shows strerror in the error recorded for the attempt.
            raise OSError(errno.EACCES, "resolves only to non-public addresses; not connecting there")
        return public

    async def close(self) -> None:
        await self.inner.close()
