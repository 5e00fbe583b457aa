"""The role table over every /v1/ route of the app: each role reaches exactly what
docs/users.md says (table-driven; the middleware asks the same functions)."""

from __future__ import annotations

import pytest

from security.roles import READ, ROLE_TABLE, ROLES, WRITE, outranks, role_permits, role_scopes

SAFE = {"GET", "HEAD"}

# What each role may write (besides its own account), and what it may not even read.
EXPECTED = {
    "owner": (
        {
            "messages",
            "cards",
            "templates",
            "webhooks",
            "keys",
            "channels",
            "compliance",
            "reviews",
            "users",
            "privacy",
            "billing",
            "audiences",
            "campaigns",
            "conversations",
        },
        set(),
    ),
    "admin": (
        {
            "users",
            "keys",
            "channels",
            "webhooks",
            "compliance",
            "cards",
            "privacy",
            "audiences",
            "campaigns",
            "conversations",
        },
        set(),
    ),
    # One person's data in full (privacy) is for owners and admins only; contacts and segments
    # (audiences) for those who send to them, and auditors who read.
    "designer": ({"cards", "templates"}, {"keys", "users", "audit", "privacy", "audiences"}),
    "sender": ({"messages", "cards", "audiences", "campaigns"}, {"keys", "users", "audit", "privacy"}),
    "reviewer": ({"reviews", "cards"}, {"keys", "users", "audit", "privacy", "audiences"}),
    "auditor": (set(), {"privacy"}),
    "read-only": (set(), {"keys", "users", "audit", "privacy", "audiences"}),
    # Answers conversations handed off by the bot; reads the card library to reply with a card.
    "agent": ({"conversations"}, {"keys", "users", "audit", "privacy", "audiences"}),
}


def app_routes() -> list[tuple[str, str]]:
    from api.middleware import role_area
    from server import Settings, create_app

    app = create_app(Settings(demo_tenant=False))
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/v1/") and route.method != "HEAD":
            out.add((route.method, path, role_area(path)))
    return sorted(out)


ROUTES = app_routes()


def test_every_role_has_a_row_and_the_routes_include_the_new_ones():
    assert set(ROLE_TABLE) == set(ROLES) == set(EXPECTED)
    assert ("POST", "/v1/reviews/{id}/approve", "reviews") in ROUTES
    assert ("GET", "/v1/audit", "audit") in ROUTES
    assert ("POST", "/v1/users/me/password", "self") in ROUTES


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "area"), ROUTES)
def test_role_on_route(role, method, path, area):
    writes, hidden = EXPECTED[role]
    if area == "self":
        expected = True  # one's own password and TOTP, whatever the role
    elif area in hidden:
        expected = False
    elif method in SAFE:
        expected = True
    else:
        expected = area in writes
    assert role_permits(role, area, method) is expected, (role, method, path)


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("owner", "owner", True),
        ("owner", "admin", True),
        ("admin", "owner", False),
        ("admin", "admin", True),
        ("admin", "designer", True),
        ("designer", "sender", False),
        ("auditor", "read-only", False),
    ],
)
def test_who_manages_whom(actor, target, allowed):
    assert outranks(actor, target) is allowed


def test_scopes_a_person_may_hand_to_keys_are_what_they_write():
    assert role_scopes("read-only") == frozenset()
    assert role_scopes("designer") == {"cards", "templates"}
    assert READ != WRITE
