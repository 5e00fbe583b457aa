"""API keys: shown once, stored only as an HMAC-SM3 hash, found by their public id.

A key reads ``hy_live_<id>_<secret>`` (or ``hy_test_…``, a test key): ``id`` is 16 hex digits to
look the row up, ``secret`` is 192 random bits in lowercase base32. Only `hash_api_key` of the
whole string is stored, keyed with an optional server-side pepper so a leaked table alone cannot
confirm keys; since the hash covers the prefix, a test key cannot be made live by editing it.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

ENVIRONMENTS = ("live", "test")
SECRET_BYTES = 24  # 192 bits
# What a key may be allowed to do ("keys": manage API keys; "channels": the brand's own chatbot
# channels at the operators, with their credentials; "compliance": sending rules and word lists;
# "reviews": deciding what the review queue holds; "privacy": retention, erasure and export of
# one person's data; "users": the people who sign in to the web UI, their roles, and the audit
# log; "billing": the tenant's prices, balance, ledger and statements, read only; "audiences":
# contacts, their imports and exports, and segments; "campaigns": campaigns and triggered
# journeys, which send to segments; "conversations": conversations with recipients, their
# bot rules, the agent inbox and the knowledge base); stored as a space-separated string.
SCOPES = frozenset(
    {
        "messages",
        "cards",
        "templates",
        "webhooks",
        "keys",
        "channels",
        "compliance",
        "reviews",
        "privacy",
        "users",
        "billing",
        "audiences",
        "campaigns",
        "conversations",
    }
)
# The platform operator's scopes: never granted to a new tenant's key (a tenant must not set its
# own prices or top itself up), and a key can only hand on what it holds, so only a key made
# with them (`server.py billing admin-key`) holds them. "billing-admin": price books, top-ups,
# credit limits of any tenant; "routes-admin": the SMS routing overrides (ported numbers).
OPERATOR_SCOPES = frozenset({"billing-admin", "routes-admin"})
# What a test key may hold: what sends to the simulators, or only reads and shapes content.
# Scopes whose actions reach an operator or a person outside the simulators (a brand's own
# channels, campaigns and conversations, which send as the tenant's live traffic, reviews that
# release live messages) and those that change tenant-wide policy are for live keys only.
TEST_SCOPES = frozenset({"messages", "cards", "templates", "webhooks", "keys", "billing"})
_KEY = re.compile(r"hy_(live|test)_([0-9a-f]{16})_([a-z2-7]{39})")
_DOMAIN = b"hongyan/api-key/v1\x00"


def new_api_key(
    *,
    environment: str = "live",
    pepper: bytes = b"",
    token_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> tuple[str, str, bytes]:
    """A new key: (key string shown once, key id to store and look up, hash to store)."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}")
    key_id = token_bytes(8).hex()
    secret = base64.b32encode(token_bytes(SECRET_BYTES)).decode().rstrip("=").lower()
    key = f"hy_{environment}_{key_id}_{secret}"
    return key, key_id, hash_api_key(key, pepper=pepper)


def api_key_id(key: str) -> str | None:
    """The look-up id inside a well-formed key; None for anything else."""
    match = _KEY.fullmatch(key)
    return match.group(2) if match else None


def api_key_environment(key: str) -> str | None:
    """ "live" or "test" for a well-formed key; None for anything else."""
    match = _KEY.fullmatch(key)
    return match.group(1) if match else None


def hash_api_key(key: str, *, pepper: bytes = b"") -> bytes:
    """HMAC-SM3 of the whole key string (32 bytes), keyed by the pepper."""
    mac = crypto_hmac.HMAC(_DOMAIN + pepper, hashes.SM3())
    mac.update(key.encode("utf-8"))
    return mac.finalize()


def check_api_key(key: str, stored_hash: bytes, *, pepper: bytes = b"") -> bool:
    """Whether ``key`` matches ``stored_hash``, compared in constant time."""
    if api_key_id(key) is None:
        return False
    return hmac.compare_digest(hash_api_key(key, pepper=pepper), stored_hash)


def parse_scopes(value: str | Iterable[str]) -> frozenset[str]:
    """Scopes from their stored form (space-separated) or any iterable; unknown ones raise."""
    scopes = frozenset(value.split() if isinstance(value, str) else value)
    unknown = scopes - SCOPES - OPERATOR_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    return scopes


def format_scopes(scopes: Iterable[str]) -> str:
    """The stored form of a set of scopes: sorted, space-separated."""
    return " ".join(sorted(parse_scopes(scopes)))


def scopes_beyond(holder: str | Iterable[str] | None, wanted: str | Iterable[str]) -> frozenset[str]:
    """The scopes in ``wanted`` that ``holder`` lacks: a key may hand on only what it holds
    (``holder`` None: no limit, e.g. the command line)."""
    if holder is None:
        return frozenset()
    held = frozenset(holder.split() if isinstance(holder, str) else holder)
    return frozenset(wanted.split() if isinstance(wanted, str) else wanted) - held


def has_scope(granted: str | Iterable[str], required: str) -> bool:
    """Whether ``granted`` (stored form or set) includes ``required``."""
    return required in (granted.split() if isinstance(granted, str) else granted)
