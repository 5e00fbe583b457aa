"""Keeping webhooks off private networks (server-side request forgery).

An integrator chooses the URL we POST to; in production that must not let them reach our own
network (a metadata service, the database, loopback). Two checks: the registered URL may not
name a non-public address or a localhost name, and at delivery time every address a name
resolves to must be public — checked on the addresses actually connected to, so a name that
is re-pointed after registration (DNS rebinding) gets nowhere. The embedded sandbox allows
loopback receivers.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

REFUSED = "must be a public address (private, loopback, link-local and reserved addresses are refused)"


def is_public_ip(host: str) -> bool:
    """True for a globally routable IP address (an IPv4-mapped IPv6 address counts as its IPv4)."""
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_refusal(hostname: str) -> str | None:
    """Why a URL's host may not receive production webhooks, or None (names are checked at delivery)."""
    host = hostname.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return REFUSED
    try:
        return None if is_public_ip(host) else REFUSED
    except ValueError:
        return None  # a name: its addresses are checked each time it is resolved


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
            raise OSError(errno.EACCES, "resolves only to non-public addresses; webhooks are not sent there")
        return public

    async def close(self) -> None:
        await self.inner.close()
