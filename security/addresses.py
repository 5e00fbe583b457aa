"""Keeping outgoing connections that tenants aim off our own network (server-side request forgery).

Tenants choose some of the hosts the platform connects to: webhook URLs, and the server roots of
their own chatbot channels. In production neither may reach inside — a cloud metadata service,
the database, loopback. Two checks share one parser:

- At registration, `host_refusal` reads a host the way the HTTP client and the system resolver
  will: besides dotted quads, the forms `inet_aton` takes (`127.1`, `2130706433`, `0x7f000001`,
  `0177.0.0.1`), IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64
  `64:ff9b::/96`, 6to4), fullwidth digits and dots (IDNA maps them), a zone id. It refuses every
  non-public address, localhost names and the cloud metadata names.
- At connect time, `security.resolver.PublicOnlyResolver` answers only public addresses, so a
  name re-pointed after registration (DNS rebinding) gets nowhere; a literal address skips any
  resolver, so whoever connects checks it with `host_refusal` too.

The embedded sandbox keeps its simulators and receivers on loopback: its callers skip both.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from security.numbers import ascii_digits

REFUSED = "must be a public address (private, loopback, link-local and reserved addresses are refused)"
REFUSED_NAME = "must be a public host, not a local or cloud-metadata name"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the low 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d
# Names that mean this machine, a local network, or a cloud's metadata service; a name under one
# of these suffixes too (metadata.google.internal, instance-data.ec2.internal, x.localhost).
_LOCAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa")
_METADATA_NAMES = frozenset(
    {"metadata", "instance-data", "metadata.goog", "metadata.tencentyun.com", "metadata.platformequinix.com"}
)
# One inet_aton number: hex, octal (leading 0) or decimal, ASCII only.
_AT_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
# Dots IDNA treats as label separators (ideographic, fullwidth and halfwidth full stops).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def normalise_host(hostname: str) -> str:
    """A URL's host as the client will look it up: brackets, zone id and trailing dots gone,
    compatibility forms folded (fullwidth ｌｏｃａｌｈｏｓｔ, １２７．０．０．１), lowercase."""
    host = unicodedata.normalize("NFKC", hostname.translate(_DOTS)).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.split("%", 1)[0].rstrip(".")


def parse_ip(hostname: str) -> IPAddress | None:
    """The address a host names literally, in any form the resolver accepts; None for a name."""
    host = normalise_host(hostname)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _inet_aton(host)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton(3)'s reading: 1 to 4 numbers; the last fills the bytes the others left."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_AT_NUMBER.fullmatch(p) for p in parts):
        return None
    *leading, last = [_at_number(p) for p in parts]
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for i, n in enumerate(leading):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _at_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public_ip(host: str | IPAddress) -> bool:
    """True for a globally routable unicast address, judged by the IPv4 address an IPv6 form
    carries; Teredo and local-use NAT64 (which hide where they lead) are never public."""
    ip = host if isinstance(host, ipaddress.IPv4Address | ipaddress.IPv6Address) else parse_ip(host)
    if ip is None:
        raise ValueError(f"not an IP address: {host!r}")
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None or ip in _NAT64_LOCAL or ip.is_site_local:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public_ip(inner)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def host_refusal(hostname: str) -> str | None:
    """Why a tenant's URL may not point at this host in production, or None. A name passes here
    (its addresses are checked each time it is resolved) unless it names a local or metadata host."""
    host = normalise_host(hostname)
    if not host:
        return "must name a host"
    ip = parse_ip(host)
    if ip is not None and not is_public_ip(ip):
        return REFUSED
    if isinstance(ip, ipaddress.IPv4Address) and host != str(ip):
        return "must write an IPv4 address as a dotted quad (a.b.c.d)"  # HTTP clients refuse 134744072
    if ip is not None:
        return None
    if host in _METADATA_NAMES or any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        return REFUSED_NAME
    if ascii_digits(host.replace(".", "")):
        return "is not a valid IP address"  # all digits, yet no address: no resolver takes it as a name
    return None
