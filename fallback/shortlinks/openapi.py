"""OpenAPI fragment for the click report and the public short-link pages."""

from api.openapi import problem_responses, register_fragment
from fallback.shortlinks.service import KINDS as _KINDS

_COUNTS = {
    "hits": {"type": "integer", "description": "Every request, people and machines"},
    "human_hits": {"type": "integer", "description": "Hits that are not HEAD, bots or link previews"},
    "unique_humans": {
        "type": "integer",
        "description": "Distinct visitors (keyed digest of address and agent) per recipient link",
    },
    "bots": {"type": "integer", "description": "Crawlers, scripts and command-line tools"},
    "previews": {"type": "integer", "description": "Link-preview fetchers of chat apps"},
    "head": {"type": "integer", "description": "HEAD requests"},
}
_COUNT_SCHEMA = {"type": "object", "required": list(_COUNTS), "properties": _COUNTS}
KINDS = list(_KINDS)
CLICKS = {
    "type": "object",
    "required": [
        "links",
        "recipients_clicked",
        "total_hits",
        "human_hits",
        "unique_humans",
        "bots",
        "previews",
        "head",
        "by_kind",
        "actions",
    ],
    "properties": {
        "message_id": {"type": "string"},
        "batch_id": {"type": "string"},
        "links": {"type": "integer", "description": "Short links sent (one per SMS recipient)"},
        "recipients_clicked": {"type": "integer", "description": "Links with at least one human hit"},
        "total_hits": {"type": "integer"},
        **{k: v for k, v in _COUNTS.items() if k != "hits"},
        "by_kind": {
            "type": "object",
            "description": "Counts per hit kind: " + ", ".join(KINDS),
            "propertyNames": {"enum": KINDS},
            "additionalProperties": _COUNT_SCHEMA,
        },
        "actions": {
            "type": "array",
            "description": "Counts per suggestion (index on the page)",
            "items": {
                "type": "object",
                "required": ["index", "kind", *_COUNTS],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "kind": {"enum": ["action", "postback", "ics", "map", "expired"]},
                    **_COUNTS,
                },
            },
        },
    },
}
_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
}
_N = {"name": "n", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_GONE = {
    "404": {"description": "Unknown link (HTML page)", "content": _HTML},
    "410": {"description": "Expired link (HTML page)", "content": _HTML},
}


def _page(summary: str, params: list, ok: dict) -> dict:
    return {
        "summary": summary,
        "security": [],
        "tags": ["recipient pages"],
        "parameters": params,
        "responses": {**ok, **_GONE},
    }


register_fragment(
    {
        "schemas": {"Clicks": CLICKS},
        "paths": {
            "/v1/clicks": {
                "get": {
                    "summary": "Hits on the short links of one message or one batch",
                    "parameters": [
                        {"name": "message_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                        {"name": "batch_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Counts (give exactly one of message_id, batch_id)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Clicks"}}},
                        },
                        **problem_responses(401, 404, 422),
                    },
                }
            },
            "/s/{token}": {
                "get": _page(
                    "The recipient's page of the card (no API key)",
                    [_TOKEN],
                    {"200": {"description": "The card", "content": _HTML}},
                )
            },
            "/s/{token}/a/{n}": {
                "get": _page(
                    "Tracked redirect to the URL of suggestion n in the card",
                    [_TOKEN, _N],
                    {"302": {"description": "To the card's URL"}},
                )
            },
            "/s/{token}/ics/{n}": {
                "get": _page(
                    "Calendar event of suggestion n (RFC 5545)",
                    [_TOKEN, _N],
                    {
                        "200": {
                            "description": "iCalendar file",
                            "content": {"text/calendar": {"schema": {"type": "string"}}},
                        }
                    },
                )
            },
            "/s/{token}/map/{n}": {
                "get": _page(
                    "Map links for the location of suggestion n",
                    [_TOKEN, _N],
                    {"200": {"description": "geo: URI and a web map", "content": _HTML}},
                )
            },
            "/s/{token}/r": {
                "post": _page(
                    "A reply tapped on the page, recorded as the RCS tap would be",
                    [_TOKEN],
                    {"200": {"description": "Thank-you page", "content": _HTML}},
                )
                | {
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "required": ["suggestion"],
                                    "properties": {"suggestion": {"type": "string"}},
                                }
                            }
                        }
                    }
                }
            },
            "/s/{token}/r/{n}": {
                "post": _page(
                    "Reply suggestion n tapped",
                    [_TOKEN, _N],
                    {"200": {"description": "Thank-you page", "content": _HTML}},
                )
            },
            "/s/{token}/opt-out": {
                "get": _page(
                    "How to opt out (and a form when enabled)",
                    [_TOKEN],
                    {"200": {"description": "Page", "content": _HTML}},
                ),
                "post": _page(
                    "Opt out of this brand's marketing messages",
                    [_TOKEN],
                    {"200": {"description": "Confirmation", "content": _HTML}},
                ),
            },
            "/s/{token}/privacy": {
                "get": _page("What this page records", [_TOKEN], {"200": {"description": "Page", "content": _HTML}})
            },
        },
    }
)
