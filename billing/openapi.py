"""OpenAPI fragment for billing (/v1/billing)."""

from api.openapi import problem_responses, register_fragment

_JSON = "application/json"
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{4}$", "description": "yuan, exactly four decimals"}
_MONEY_IN = {"type": "string", "maxLength": 32, "description": "yuan as a decimal string, at most four decimals"}
_NMONEY = {**_MONEY, "type": ["string", "null"]}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_PRICE = {
    "type": "object",
    "properties": {
        "channel": {"enum": ["rcs", "sms"]},
        "carrier": {"enum": ["cmcc", "cucc", "ctcc", "other", "*"]},
        "kind": {"enum": ["text", "card", "carousel", "file", "location", "part"]},
        "price": _NMONEY,
        "source": {"enum": ["tenant", "default", "sms_price", "none"]},
    },
}
_BOOK = {
    "type": "object",
    "required": ["currency", "prices"],
    "properties": {"currency": {"const": "CNY"}, "prices": {"type": "array", "items": _PRICE}},
}
_PRICE_CHANGES = {
    "type": "object",
    "required": ["prices"],
    "additionalProperties": False,
    "properties": {
        "tenant_id": {"type": "string", "description": 'a tenant, or "default" for the platform\'s default book'},
        "prices": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["channel", "kind", "price"],
                "additionalProperties": False,
                "properties": {
                    "channel": {"enum": ["rcs", "sms"]},
                    "carrier": {"enum": ["cmcc", "cucc", "ctcc", "other", "*"]},
                    "kind": {"enum": ["text", "card", "carousel", "file", "location", "part"]},
                    "price": {**_MONEY_IN, "type": ["string", "null"], "description": "null removes the entry"},
                },
            },
        },
    },
}
_BALANCE = {
    "type": "object",
    "required": ["currency", "balance", "held", "credit_limit", "available", "enforced"],
    "properties": {
        "currency": {"const": "CNY"},
        "balance": _MONEY,
        "held": _MONEY,
        "credit_limit": _NMONEY,
        "available": _NMONEY,
        "enforced": {"type": "boolean"},
    },
}
_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"enum": ["hold", "release", "charge", "refund", "credit", "adjustment"]},
        "message_id": {"type": ["string", "null"]},
        "channel": {"type": ["string", "null"]},
        "carrier": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]},
        "units": {"type": "integer"},
        "amount": _MONEY,
        "balance_after": _MONEY,
        "at": {"type": "string", "format": "date-time"},
        "note": {"type": ["string", "null"]},
    },
}
_CREDIT = {
    "type": "object",
    "required": ["amount"],
    "additionalProperties": False,
    "properties": {
        "tenant_id": {"type": "string"},
        "amount": _MONEY_IN,
        "type": {"enum": ["credit", "adjustment"]},
        "note": {"type": "string", "maxLength": 200},
    },
}
_COST = {
    "type": "object",
    "required": ["message_id", "currency", "charged", "refunded", "entries"],
    "properties": {
        "message_id": {"type": "string"},
        "currency": {"const": "CNY"},
        "charged": _NMONEY,
        "channel": {"type": ["string", "null"]},
        "carrier": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]},
        "units": {"type": ["integer", "null"]},
        "unit_price": _NMONEY,
        "held": _NMONEY,
        "refunded": {"type": "boolean"},
        "entries": {"type": "array", "items": _ENTRY},
    },
}
_STATEMENT = {
    "type": "object",
    "required": ["month", "currency", "opening_balance", "closing_balance", "totals", "lines"],
    "properties": {
        "tenant_id": {"type": "string"},
        "month": {"type": "string"},
        "time_zone": {"type": "string"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "currency": {"const": "CNY"},
        "opening_balance": _MONEY,
        "closing_balance": _MONEY,
        "totals": {"type": "object", "additionalProperties": _MONEY},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "channel": {"type": ["string", "null"]},
                    "carrier": {"type": ["string", "null"]},
                    "kind": {"type": ["string", "null"]},
                    "count": {"type": "integer"},
                    "units": {"type": "integer"},
                    "unit_price": _NMONEY,
                    "amount": _MONEY,
                },
            },
        },
    },
}
_ADMIN = " (needs the operator's billing-admin scope)"

register_fragment(
    {
        "schemas": {
            "BillingPrices": _BOOK,
            "BillingBalance": _BALANCE,
            "BillingEntry": _ENTRY,
            "BillingStatement": _STATEMENT,
        },
        "paths": {
            "/v1/billing/prices": {
                "get": {
                    "summary": "Your effective price book per channel, carrier and kind (scope billing)",
                    "parameters": [{"name": "book", "in": "query", "schema": {"enum": ["default"]}}],
                    "responses": {"200": _json(_BOOK), **problem_responses(401, 403, 422)},
                },
                "put": {
                    "summary": "Set or remove prices of a tenant's book or of the platform default" + _ADMIN,
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _PRICE_CHANGES}}},
                    "responses": {"200": _json(_BOOK), **problem_responses(400, 401, 403, 415, 422)},
                },
            },
            "/v1/billing/balance": {
                "get": {
                    "summary": "Your balance, what is held for messages in flight, and your credit limit",
                    "responses": {"200": _json(_BALANCE), **problem_responses(401, 403)},
                }
            },
            "/v1/billing/credits": {
                "post": {
                    "summary": "Top a tenant up (or adjust its balance)" + _ADMIN,
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 64}}
                    ],
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _CREDIT}}},
                    "responses": {"201": _json(_ENTRY, "Credited"), **problem_responses(400, 401, 403, 409, 415, 422)},
                }
            },
            "/v1/billing/credit-limit": {
                "put": {
                    "summary": "Set a tenant's credit limit; null: sends are never refused for money" + _ADMIN,
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["credit_limit"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "tenant_id": {"type": "string"},
                                        "credit_limit": {**_MONEY_IN, "type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": _json(_BALANCE), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/billing/entries": {
                "get": {
                    "summary": "Your ledger, newest first",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": _ENTRY},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 422),
                    },
                }
            },
            "/v1/billing/messages/{message_id}": {
                "get": {
                    "summary": "One message's cost: held, charged or refunded",
                    "parameters": [
                        {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": _json(_COST), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/billing/statements/{month}": {
                "get": {
                    "summary": "A month's statement (China time) as JSON, CSV (Accept: text/csv or ?format=csv) or "
                    "a printable HTML page (?format=html)",
                    "parameters": [
                        {"name": "month", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "html"]}},
                    ],
                    "responses": {
                        "200": {
                            "description": "The statement",
                            "content": {
                                _JSON: {"schema": _STATEMENT},
                                "text/csv": {"schema": {"type": "string"}},
                                "text/html": {"schema": {"type": "string"}},
                            },
                        },
                        **problem_responses(401, 403, 422),
                    },
                }
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "PUT /v1/billing/prices": {
                "prices": [
                    {"channel": "rcs", "carrier": "*", "kind": "card", "price": "0.0500"},
                    {"channel": "sms", "carrier": "cmcc", "kind": "part", "price": "0.0450"},
                ]
            },
            "POST /v1/billing/credits": {"amount": "500.0000", "type": "credit", "note": "十二月充值"},
            "PUT /v1/billing/credit-limit": {"credit_limit": "1000.0000"},
        }
    }
)

# Text answers as the server writes them.
register_fragment(
    {
        "response_examples": {
            "GET /v1/billing/statements/{month} 200 text/csv": (
                "month,type,channel,carrier,kind,count,units,unit_price,amount,currency\r\n"
                "2026-11,charge,rcs,cmcc,card,1200,1200,0.0500,60.0000,CNY\r\n"
                "2026-11,total_charge,,,,,,,60.0000,CNY\r\n"
            )
        }
    }
)
