"""Validating a webhook registration (POST /v1/webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from api.problems import FieldError, Problem, pointer
from security.addresses import host_refusal
from webhooks.outbox import EVENT_TYPES

MAX_URL = 2048
FIELDS = ("url", "events")


@dataclass(frozen=True)
class Registration:
    url: str
    events: list[str]


def check_url(url, *, allow_http: bool, allow_private: bool | None = None) -> str | None:
    """Why `url` cannot receive webhooks, or None when it can (private hosts only with
    `allow_private`, which follows `allow_http` unless given: the embedded sandbox)."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "must be an https:// URL" if not allow_http else "must be an http(s) URL"
    if parts.scheme == "http" and not allow_http:
        return "must be an https:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (the signature authenticates us)"
    if parts.fragment:
        return "must not have a #fragment"
    if any(c.isspace() for c in url):
        return "must not contain whitespace"
    if not (allow_http if allow_private is None else allow_private):
        return host_refusal(parts.hostname)
    return None


def parse_registration(body: dict, *, allow_http: bool, allow_private: bool | None = None) -> Registration:
    """The registration in `body`, or a 422 Problem naming every wrong field."""
    errors: list[FieldError] = []
    for key in body:
        if key not in FIELDS:
            errors.append(FieldError(pointer(key), "unknown field"))
    if "url" not in body:
        errors.append(FieldError("/url", "required"))
    else:
        why = check_url(body["url"], allow_http=allow_http, allow_private=allow_private)
        if why:
            errors.append(FieldError("/url", why))
    events = body.get("events")
    if "events" not in body:
        errors.append(FieldError("/events", "required"))
    elif not isinstance(events, list) or not events:
        errors.append(FieldError("/events", f"must be a non-empty list of {', '.join(EVENT_TYPES)}"))
    else:
        seen = set()
        for i, name in enumerate(events):
            if not isinstance(name, str) or name not in EVENT_TYPES:
                errors.append(FieldError(pointer("events", i), f"must be one of {', '.join(EVENT_TYPES)}"))
            elif name in seen:
                errors.append(FieldError(pointer("events", i), "listed twice"))
            else:
                seen.add(name)
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return Registration(body["url"], list(events))
