"""RFC 7807 problem details.

Services and handlers raise `Problem` (this module needs no web stack, so domain code may raise
it); `api.responses` renders it and the middleware answers it as `application/problem+json`. `errors` lists JSON Pointers to the fields at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Every problem's `type` is a page of /docs/problems (relative to the API's own address, as RFC
# 9457 allows): what it means and what to do about it.
PROBLEM_DOCS = "/docs/problems"
# (anchor, what it means, what to do) per type; a status without its own is `error`.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "bad-request": ("The request could not be read: malformed JSON, a body where none belongs.", "Fix the request."),
    "unauthorized": (
        "No API key, a wrong or revoked one, or an editor session that ended.",
        "Send `Authorization: Bearer <key>`; after many failures wait `Retry-After` seconds.",
    ),
    "insufficient-funds": (
        "The tenant's balance and credit limit cannot cover the estimated cost of the send (billing).",
        "Top up or raise the credit limit; `estimated_cost` and `available` say by how much.",
    ),
    "forbidden": (
        "The key lacks the scope, or the person's role the right, for this.",
        "Use a key or a role that has it.",
    ),
    "not-found": ("No such thing for this tenant (another tenant's things are not found either).", "Check the id."),
    "method-not-allowed": ("This path does not take this method.", "See `Allow`."),
    "conflict": (
        "The request contradicts the state: an Idempotency-Key reused with another body, a version that moved on.",
        "Read the current state, then decide.",
    ),
    "gone": ("It existed and has ended (an expired or revoked link).", "Ask for a new one."),
    "too-large": ("The body is larger than the server takes.", "Send less (batches of up to 10,000 recipients)."),
    "unsupported-media-type": (
        "The body is not `application/json` (or the upload's type is not allowed).",
        "Fix `Content-Type`.",
    ),
    "validation": (
        "Fields are wrong: `errors[]` names each by its JSON Pointer (`path`), with a stable `code` and `params`.",
        "Fix each field named; `code` is stable across releases and languages.",
    ),
    "compliance": (
        "A compliance rule refused the send: a blocked word, the send window, a frequency cap, consent, the daily volume.",
        "`rule` names the rule; a deferral says when the send can go (`Retry-After`).",
    ),
    "rate-limited": (
        "Over the tenant's rate limit (recipients a second) or too many failed authentications.",
        "Wait `Retry-After` seconds; `RateLimit-*` say where the limit stands.",
    ),
    "server-error": (
        "The server failed; nothing of the request was completed.",
        "Retry with the same Idempotency-Key.",
    ),
    "unavailable": ("A part the request needs is not available now.", "Retry later."),
    "error": ("Another error: `detail` says what.", "Read `detail`."),
}
STATUS_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    402: "insufficient-funds",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    500: "server-error",
    503: "unavailable",
}


def problem_type(name: str) -> str:
    """The `type` URI of the problem type `name` (an anchor of PROBLEM_TYPES)."""
    assert name in PROBLEM_TYPES, name
    return f"{PROBLEM_DOCS}#{name}"


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class FieldError:
    """One wrong field: `path` is a JSON Pointer into the request body; `code` (where given) a
    stable name of the rule broken and `params` its figures, so that a client can say it in its
    user's language — `message` is the English text."""

    path: str
    message: str
    code: str | None = field(default=None, compare=False)
    params: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    def at(self, path: str) -> FieldError:
        """The same finding about the field at `path` (a card's error inside a request body)."""
        return replace(self, path=path)

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.code is not None:
            out["code"] = self.code
            if self.params:
                out["params"] = dict(self.params)
        return out


@dataclass
class Problem(Exception):
    """An HTTP error answered as problem+json."""

    status: int
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    type: str | None = None  # None: the status's own (`problem_type`)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.detail}"

    def body(self) -> dict:
        out = {
            "type": self.type or problem_type(STATUS_TYPES.get(self.status, "error")),
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        out.update(self.extra)
        return out


def pointer(*parts: str | int) -> str:
    """Build a JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
