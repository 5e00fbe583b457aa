"""Production webhooks stay off private networks: registration refuses private hosts and
delivery connects only to public addresses (so a re-pointed name gets nowhere)."""

from __future__ import annotations

import socket

import pytest

from security.addresses import host_refusal
from security.resolver import PublicOnlyResolver
from webhooks.endpoints import check_url

REFUSED = [
    "https://127.0.0.1/x",
    "https://127.1.2.3/x",
    "https://[::1]/x",
    "https://10.0.0.8/x",
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/x",
    "https://0.0.0.0/x",
    "https://[fe80::1]/x",
    "https://[fc00::1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://224.0.0.1/x",
    "https://localhost/x",
    "https://LOCALHOST./x",
    "https://api.localhost/x",
    # Issue 13 finding 12: forms the resolver reads as loopback, NAT64, mapped IPv6, metadata names.
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://0x7f.1/",
    "https://１２７．０．０．１/",
    "https://[64:ff9b::7f00:1]/",
    "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
    "https://[64:ff9b:1::a00:1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[2002:a9fe:a9fe::]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "https://[fec0::1]/",
    "https://[fe80::1%25eth0]/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.GOOGLE.INTERNAL./",
    "https://metadata/",
    "https://instance-data.ec2.internal/",
    "https://metadata.tencentyun.com/latest/meta-data/",
    "https://printer.local/",
    "https://134744072/",  # 8.8.8.8, but HTTP clients refuse the form: it could never be delivered
    "https://999.1.1.1/",
]
ALLOWED = [
    "https://hooks.example.com/x",
    "https://8.8.8.8/x",
    "https://[2001:4860:4860::8888]/x",
    "https://hooks.example.com:8443/a?b=c",
    "https://[64:ff9b::808:808]/x",  # NAT64 of a public address
    "https://[::ffff:8.8.8.8]/x",
    "https://internal-hooks.example.com/x",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_hosts_are_refused_in_production(url):
    assert check_url(url, allow_http=False) is not None
    assert check_url(url, allow_http=False, allow_private=True) is None  # the sandbox may


@pytest.mark.parametrize("url", ALLOWED)
def test_public_hosts_and_names_are_accepted(url):
    assert check_url(url, allow_http=False) is None


@pytest.mark.parametrize(
    "url",
    ["https://169.254.169.254/x", "https://127.1/", "https://[64:ff9b::7f00:1]/", "https://metadata.google.internal/"],
)
async def test_registration_names_the_field(make_hooks, url):
    hooks = await make_hooks(allow_http=False)
    answer = await hooks.api.post("/v1/webhooks", {"url": url, "events": ["message.status"]})
    assert answer.status == 422
    [error] = (await answer.json())["errors"]
    assert error["path"] == "/url" and "public" in error["message"]


class _Answers:
    """A resolver that answers from a table (no DNS needed)."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": ip, "port": port, "family": family, "proto": 0, "flags": 0}
            for ip in self.table[host]
        ]

    async def close(self):
        pass


async def test_delivery_resolves_only_to_public_addresses():
    resolver = PublicOnlyResolver(
        _Answers(
            {
                "rebound.example": ["10.1.2.3"],
                "mixed.example": ["192.168.0.9", "93.184.215.14"],
                "public.example": ["93.184.215.14"],
            }
        )
    )
    with pytest.raises(OSError, match="non-public"):
        await resolver.resolve("rebound.example", 443)
    assert [a["host"] for a in await resolver.resolve("mixed.example", 443)] == ["93.184.215.14"]
    assert [a["host"] for a in await resolver.resolve("public.example", 443)] == ["93.184.215.14"]
    with pytest.raises(OSError):
        await PublicOnlyResolver().resolve("localhost", 443)  # the real resolver: 127.0.0.1 / ::1


async def test_a_name_that_points_inside_is_not_posted_to(make_hooks):
    """Registered while the name looked fine; at delivery it resolves to loopback: no POST,
    the attempt is recorded as failed and retried later like any unreachable endpoint."""
    from tests.webhooks.conftest import status_event
    from tests.webhooks.test_delivery import delivery_of

    hooks = await make_hooks(allow_http=True, allow_private=False)
    port = int(hooks.receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    name = socket.gethostname()
    if all(not host_refusal(a[4][0]) for a in socket.getaddrinfo(name, port)):
        pytest.skip(f"{name} resolves to a public address here")
    answer = await hooks.api.post("/v1/webhooks", {"url": f"http://{name}:{port}/hook", "events": ["message.status"]})
    assert answer.status == 201
    await hooks.emit(status_event(hooks, "m1", "rcs_delivered", "evt-1"))
    d = await delivery_of(hooks, "evt-1", attempts=1)
    assert d["status"] == "pending" and d["last_status"] is None and "non-public" in d["last_error"]
    assert hooks.receiver.hits.empty()
