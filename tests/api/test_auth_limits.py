"""Failed authentications are rate-limited per client — its address and the public part of the
key it presents — so guessing at a key stops, and nobody else behind the same NAT is locked out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.middleware import AUTH_FAILURE_ATTEMPTS, client_address, trusted_networks
from tests.conftest import card

PROBLEM = "application/problem+json"


def _wrong(key: str) -> str:
    """The same key id with another secret (what someone guessing at that key sends)."""
    return key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")


async def test_failed_bearer_keys_are_limited_per_client(api):
    """Issue 13 finding 13: failed bearer keys were never rate-limited."""
    wrong = {"Authorization": f"Bearer {_wrong(api.api_key)}"}
    statuses = [(await api.client.get("/v1/messages", headers=wrong)).status for _ in range(AUTH_FAILURE_ATTEMPTS + 2)]
    assert statuses == [401] * AUTH_FAILURE_ATTEMPTS + [429, 429]
    limited = await api.client.get("/v1/messages", headers=wrong)
    assert limited.content_type == PROBLEM and 1 <= int(limited.headers["Retry-After"]) <= 60
    # Past the limit the right key is not looked up for that client — but a right key is never
    # held back by failures: it has its own id, so its own client.
    other = await api.new_tenant()
    assert (await other.get("/v1/messages")).status == 200
    assert (await api.client.get("/v1/messages", headers={"Authorization": "Bearer nonsense"})).status == 401
    sent = await other.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert sent.status == 202


async def test_a_client_guessing_does_not_lock_out_the_key_holder_elsewhere(aiohttp_client, settings):
    """Behind a trusted proxy each X-Forwarded-For client is counted apart."""
    from server import ACCOUNTS, create_app

    client = await aiohttp_client(create_app(replace(settings, trusted_proxies=("127.0.0.1/32", "::1"))))
    _, key = await client.app[ACCOUNTS].create_tenant("Proxied brand")
    guesser = {"Authorization": f"Bearer {_wrong(key)}", "X-Forwarded-For": "203.0.113.5"}
    for _ in range(AUTH_FAILURE_ATTEMPTS):
        assert (await client.get("/v1/messages", headers=guesser)).status == 401
    assert (await client.get("/v1/messages", headers=guesser)).status == 429
    # The holder of the real key, elsewhere: same key id, not limited.
    holder = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "198.51.100.7"}
    assert (await client.get("/v1/messages", headers=holder)).status == 200
    # A guesser cannot escape by writing another address further left: the proxy appends.
    spoofed = {**guesser, "X-Forwarded-For": "198.51.100.99, 203.0.113.5"}
    assert (await client.get("/v1/messages", headers=spoofed)).status == 429


async def test_without_trusted_proxies_forwarded_for_is_ignored(api):
    headers = {"Authorization": f"Bearer {_wrong(api.api_key)}"}
    for i in range(AUTH_FAILURE_ATTEMPTS):
        fake = {**headers, "X-Forwarded-For": f"203.0.113.{i}"}
        assert (await api.client.get("/v1/messages", headers=fake)).status == 401
    assert (await api.client.get("/v1/messages", headers={**headers, "X-Forwarded-For": "203.0.113.99"})).status == 429


class _Request:
    def __init__(self, remote, forwarded, trusted):
        from multidict import CIMultiDict

        from api.middleware import TRUSTED_PROXIES

        self.remote = remote
        self.headers = CIMultiDict([("X-Forwarded-For", f) for f in forwarded])
        self.app = {TRUSTED_PROXIES: trusted_networks(trusted)}


@pytest.mark.parametrize(
    "remote, forwarded, trusted, client",
    [
        ("198.51.100.1", ["203.0.113.5"], [], "198.51.100.1"),  # no proxy trusted: the peer
        ("10.0.0.2", ["203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.5, 10.0.0.9"], ["10.0.0.0/8"], "203.0.113.5"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"),  # two headers
        ("198.51.100.1", ["203.0.113.5"], ["10.0.0.0/8"], "198.51.100.1"),  # peer is not a proxy
        ("10.0.0.2", [], ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.7"], ["10.0.0.0/8"], "10.0.0.2"),
        ("::1", ["2001:db8::5"], ["::1"], "2001:db8::5"),
    ],
)
def test_client_address(remote, forwarded, trusted, client):
    assert client_address(_Request(remote, forwarded, trusted)) == client


def test_trusted_proxies_must_be_addresses():
    with pytest.raises(ValueError, match="proxy.example"):
        trusted_networks(["10.0.0.0/8", "proxy.example"])


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_429_is_documented_wherever_a_key_is_taken():
    from server import openapi_document

    doc = openapi_document("http://x")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in HTTP_METHODS:
                continue  # path-level `parameters`, `summary`…
            if "401" in op.get("responses", {}):
                assert "429" in op["responses"], (method, path)
