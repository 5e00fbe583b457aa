"""RFC 7807 problem details.

Services and handlers raise `Problem` (this module needs no web stack, so domain code may raise
it); `api.responses` renders it and the middleware answers it as `application/problem+json`. `errors` lists JSON Pointers to the fields at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"

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
    type: str = "about:blank"
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.detail}"

    def body(self) -> dict:
        out = {
            "type": self.type,
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
