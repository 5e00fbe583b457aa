"""Query parameters: every bad one a 422 problem+json whose errors[] names it as `/<name>`
(the convention of api/pagination.py's `/limit` and `/cursor`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from api.problems import FieldError, Problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_query(query: Mapping[str, str]) -> None:
    """422 naming every query parameter whose value holds a control character (a NUL byte, a
    newline): no parameter of the API takes one, and a database would refuse or keep it."""
    errors = [
        FieldError(f"/{name}", "control characters are not allowed")
        for name, value in query.items()
        if _CONTROL.search(value)
    ]
    if errors:
        raise Problem(422, "a query parameter holds a control character", errors)


def query_choice(query: Mapping[str, str], name: str, choices: Iterable[str], default: str | None = None) -> str | None:
    """The query parameter `name`, one of `choices` (`default` when it is absent); 422 naming
    `/<name>` otherwise."""
    raw = query.get(name)
    if raw is None:
        return default
    allowed = list(choices)
    if raw not in allowed:
        raise Problem(
            422,
            f"{name} must be one of {', '.join(allowed)}",
            [
                FieldError(
                    f"/{name}",
                    f"must be one of {', '.join(allowed)}",
                    code="not_one_of",
                    params={"value": raw[:64], "allowed": allowed},
                )
            ],
        )
    return raw
