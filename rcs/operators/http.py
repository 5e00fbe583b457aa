"""What every operator client over HTTP shares: built from a settings mapping, and one pooled
session to its peer that (when the settings say public only) resolves and connects to public
addresses alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import aiohttp

from security.resolver import PublicOnlyResolver


class AddressRefused(aiohttp.ClientConnectionError):
    """The peer's host is not a public address, and this client may connect only to those."""


def settings_from(settings_type: type, config: Mapping[str, object], interface: str) -> Any:
    """`settings_type` (a dataclass) from a mapping of its field names; unknown names refused."""
    unknown = set(config) - {f.name for f in fields(settings_type)}
    if unknown:
        raise ValueError(f"unknown {interface} settings: {sorted(unknown)}")
    return settings_type(**config)


class PooledSession:
    """One client's session to its peer, made on first use (and again once closed) with the
    settings' pool size and timeouts; closed with the client unless the caller gave it."""

    def __init__(self, settings: Any, session: aiohttp.ClientSession | None, *, refused: str | None, peer: str):
        self._settings = settings
        self._session = session
        self._owns = session is None
        # A literal address skips the resolver: judged before connecting (None: allowed).
        self._refused = refused
        self._peer = peer

    def get(self) -> aiohttp.ClientSession:
        """The session (raises AddressRefused where transport errors are handled)."""
        if self._refused:
            raise AddressRefused(f"{self._peer}'s host {self._refused}")
        if self._session is None or self._session.closed:
            s = self._settings
            resolver = PublicOnlyResolver() if s.public_only else None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=s.pool_size, limit_per_host=s.pool_size, resolver=resolver),
                timeout=aiohttp.ClientTimeout(total=s.timeout_s, sock_connect=s.connect_timeout_s),
                # Operator interfaces authenticate by token, never by cookie: no jar to look
                # through and update on every request (~10 µs each of a send's CPU).
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._owns = True
        return self._session

    async def close(self) -> None:
        if self._owns and self._session is not None:
            await self._session.close()
