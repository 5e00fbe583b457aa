"""A Google service-account key (the JSON file Google hands out), as the RBM channel uses it.

Kept apart from `rcs.operators.rbm` (which speaks HTTP) so that the channel store can check a
key it is given without loading a web client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MAX_KEY_TEXT = 8192  # a 2048-bit key's file is about 2.3 KB; 4096-bit about 3.3 KB


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a service-account key that authentication uses."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI

    @classmethod
    def from_json(cls, text: str | bytes | Mapping) -> ServiceAccount:
        """Parse a key file; ValueError names what is wrong (never echoes the key)."""
        try:
            data = orjson.loads(text) if isinstance(text, str | bytes) else dict(text)
        except orjson.JSONDecodeError:
            raise ValueError("must be the service-account key file's JSON") from None
        if not isinstance(data, dict) or data.get("type", "service_account") != "service_account":
            raise ValueError("must be a service-account key (type service_account)")
        missing = [k for k in ("client_email", "private_key") if not isinstance(data.get(k), str) or not data[k]]
        if missing:
            raise ValueError(f"the service-account key lacks {', '.join(missing)}")
        if "PRIVATE KEY-----" not in data["private_key"]:
            raise ValueError("the service-account key's private_key is not a PEM key")
        token_uri = data.get("token_uri") or GOOGLE_TOKEN_URI
        if not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://")):
            raise ValueError("the service-account key's token_uri must be a URL")
        return cls(data["client_email"], data["private_key"], data.get("private_key_id"), token_uri)
