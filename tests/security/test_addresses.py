"""Reading a host the way the HTTP client and the resolver will, and judging the address it
stands for: the shared guard of webhooks and brands' channels against reaching inside."""

from __future__ import annotations

import ipaddress

import pytest

from security.addresses import embedded_ipv4, host_refusal, is_public_ip, parse_ip


@pytest.mark.parametrize(
    "host, address",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("１２７．０．０．１", "127.0.0.1"),
        ("127。0。0。1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("hooks.example.com", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("0x1g", None),
        ("08.1.1.1", None),  # 08 is no octal number
        ("1.16777216", None),  # the last number overflows the three bytes left
    ],
)
def test_hosts_are_read_like_inet_aton(host, address):
    ip = parse_ip(host)
    assert (str(ip) if ip is not None else None) == address


@pytest.mark.parametrize(
    "v6, v4",
    [
        ("::ffff:7f00:1", "127.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("::a9fe:a9fe", "169.254.169.254"),
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("2001:4860:4860::8888", None),
        ("::1", None),
    ],
)
def test_ipv6_forms_that_carry_an_ipv4_address(v6, v4):
    inner = embedded_ipv4(ipaddress.IPv6Address(v6))
    assert (str(inner) if inner is not None else None) == v4


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("100.100.100.200", False),  # Alibaba Cloud's metadata service
        ("169.254.169.254", False),
        ("192.0.0.170", False),
        ("198.18.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b:1::808:808", False),
        ("2002:7f00:1::", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fec0::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_ip(address) is public


@pytest.mark.parametrize(
    "host, refused",
    [
        ("hooks.example.com", False),
        ("8.8.8.8", False),
        ("[2001:4860:4860::8888]", False),
        ("metadata.google.internal", True),
        ("metadata.goog", True),
        ("instance-data", True),
        ("ＬＯＣＡＬＨＯＳＴ", True),
        ("db.localdomain", True),
        ("router.home.arpa", True),
        ("134744072", True),  # 8.8.8.8 in a form HTTP clients refuse to connect to
        ("", True),
    ],
)
def test_host_refusal(host, refused):
    assert (host_refusal(host) is not None) is refused


def test_not_an_address_is_a_value_error():
    with pytest.raises(ValueError):
        is_public_ip("hooks.example.com")
