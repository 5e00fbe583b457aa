"""People's roles in a tenant and what each may do, by area of the API.

An area is an API-key scope (`security.apikeys.SCOPES`: the path prefix decides it, see
`api.middleware.required_scope`) or one of two more: `audit` (the audit log) and `self` (a
person's own account at /v1/users/me, open to every role). A role reads an area (GET and HEAD
only) or writes it (every method). docs/users.md shows the same table.
"""

from __future__ import annotations

from collections.abc import Mapping

from security.apikeys import SCOPES

READ, WRITE = "read", "write"
ROLES = ("owner", "admin", "designer", "sender", "reviewer", "auditor", "read-only", "agent")
AREAS = (*sorted(SCOPES), "audit", "self")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _all(level: str, *, but: Mapping[str, str | None] | None = None) -> dict[str, str]:
    table: dict[str, str] = {area: level for area in AREAS}
    for area, other in (but or {}).items():
        if other is None:
            table.pop(area, None)
        else:
            table[area] = other
    table["self"] = WRITE
    return table


_R, _W = READ, WRITE
# One person's data (retention, erasure, export: the `privacy` scope, where it exists) is for
# owners and admins only: an export is personal data in full.
_NO_PERSONAL = {"privacy": None}
_STAFF_HIDDEN = {"keys": None, "users": None, "audit": None, **_NO_PERSONAL}
# Contacts (numbers in full) and segments: for the people who send to them, not for designers,
# reviewers or read-only members.
_NO_CONTACTS = {"audiences": None}
# role → area → read | write (an area missing: no access at all)
ROLE_TABLE: dict[str, dict[str, str]] = {
    "owner": _all(_W),
    # Manages people (not owners: checked by /v1/users), keys, channels, webhooks, compliance and
    # privacy operations; sees the rest.
    "admin": _all(
        _R,
        but={
            "users": _W,
            "keys": _W,
            "channels": _W,
            "webhooks": _W,
            "compliance": _W,
            "cards": _W,
            "privacy": _W,
            "audiences": _W,
            "campaigns": _W,
            "conversations": _W,
        },
    ),
    # Edits cards and templates (and their media) and submits them for review; cannot decide.
    "designer": _all(_R, but={"cards": _W, "templates": _W, **_STAFF_HIDDEN, **_NO_CONTACTS}),
    # Sends messages (and cancels them); previews cards.
    "sender": _all(_R, but={"messages": _W, "cards": _W, "audiences": _W, "campaigns": _W, **_STAFF_HIDDEN}),
    # Approves and rejects what the review queue holds.
    "reviewer": _all(_R, but={"reviews": _W, "cards": _W, **_STAFF_HIDDEN, **_NO_CONTACTS}),
    # Reads everything, the audit log and the people included; changes nothing.
    "auditor": _all(_R, but=_NO_PERSONAL),
    # Reads the tenant's work; not its keys, people or audit log.
    "read-only": _all(_R, but={**_STAFF_HIDDEN, **_NO_CONTACTS}),
    # Answers people in the conversations inbox (hand-off from the bot); reads the card library
    # to reply with a card.
    "agent": _all(_R, but={"conversations": _W, **_STAFF_HIDDEN, **_NO_CONTACTS}),
}


def role_permits(role: str, area: str, method: str) -> bool:
    """Whether `role` may use `method` on `area`."""
    level = ROLE_TABLE.get(role, {}).get(area)
    if level is None:
        return False
    return level == WRITE or method.upper() in SAFE_METHODS


def refusal(role: str, area: str, method: str) -> str:
    """Why `role_permits` said no, naming the role (the text of the 403)."""
    level = ROLE_TABLE.get(role, {}).get(area)
    if level == READ:
        return f"the `{role}` role may only read `{area}`: {method.upper()} is not allowed"
    return f"the `{role}` role has no access to `{area}`"


def role_scopes(role: str) -> frozenset[str]:
    """The API-key scopes equal to what `role` may write: what keys it may mint at most."""
    return frozenset(a for a, level in ROLE_TABLE.get(role, {}).items() if level == WRITE and a in SCOPES)


def role_levels(role: str) -> dict[str, str]:
    """area → read | write for `role` (for the web UI to show only what it may use)."""
    return dict(ROLE_TABLE.get(role, {}))


def outranks(actor_role: str, target_role: str) -> bool:
    """Whether `actor_role` may grant, change or disable `target_role`: owners anything,
    admins anything but owners, nobody else."""
    if actor_role == "owner":
        return True
    return actor_role == "admin" and target_role != "owner"
