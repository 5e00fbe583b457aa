"""OpenAPI fragment for contacts and segments (/v1/contacts, /v1/segments)."""

from api.openapi import problem_responses, register_fragment

_JSON = "application/json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_PAGE = [
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]
_VALUE = {
    "oneOf": [{"type": "string", "maxLength": 500}, {"type": "number"}],
    "description": "a string, a number, or a date as YYYY-MM-DD (compared as a date)",
}
_CONTACT_IN = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "phone": {"type": "string", "description": "the number, E.164 or Chinese national; the upsert key"},
        "attributes": {"type": "object", "additionalProperties": _VALUE, "maxProperties": 100},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50},
        "time_zone": {"type": ["string", "null"], "description": "IANA name; null: the number's own zone"},
    },
}
_CONTACT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "phone": {"type": "string"},
        "attributes": {"type": "object", "additionalProperties": _VALUE},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time_zone": {"type": "string"},
        "time_zone_source": {"enum": ["set", "number"]},
        "marketing_consent": {"type": "boolean", "description": "an active consent covers marketing (compliance)"},
        "opted_out": {"type": "boolean", "description": "on the marketing opt-out list"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_IMPORT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"enum": ["queued", "running", "finished", "failed", "cancelled"]},
        "format": {"enum": ["csv", "xlsx"]},
        "size_bytes": {"type": "integer"},
        "rows_done": {"type": "integer"},
        "rows_failed": {"type": "integer"},
        "errors": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {"line": {"type": "integer"}, "field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "error": {"type": ["string", "null"]},
        "progress": {
            "type": ["number", "null"],
            "description": "0 to 1: the share of the file read (null when an XLSX sheet does not say its size)",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_FILTER = {
    "type": "object",
    "description": (
        "A condition tree: {all: [...]}, {any: [...]}, {not: …}; "
        "{attribute, op: eq|ne|in|gt|gte|lt|lte|exists, value}; {tags: any|all|none, values}; "
        "{behaviour: sent|delivered|read|clicked|replied, within_days?, batch_id?}; {behaviour: not_read, batch_id}"
    ),
}
_SEGMENT_IN = {
    "type": "object",
    "required": ["name", "filter"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 200}, "filter": _FILTER},
}
_SEGMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "filter": _FILTER,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_MEMBER = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "phone": {"type": "string"}, "attributes": {"type": "object"}},
}
_COUNT = {"type": "object", "properties": {"id": {"type": "string"}, "count": {"type": "integer"}}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _list(item: dict) -> dict:
    return _json(
        {
            "type": "object",
            "properties": {"data": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        }
    )


def _body(schema: dict) -> dict:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


register_fragment(
    {
        "paths": {
            "/v1/contacts": {
                "post": {
                    "summary": "Create a contact, or update the fields given of the contact with that number",
                    "requestBody": _body({**_CONTACT_IN, "required": ["phone"]}),
                    "responses": {
                        "201": _json(_CONTACT, "Created"),
                        "200": _json(_CONTACT, "Updated"),
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                },
                "get": {
                    "summary": "Your contacts, in id order (include=consent adds consent and opt-out states)",
                    "parameters": [*_PAGE, {"name": "include", "in": "query", "schema": {"enum": ["consent"]}}],
                    "responses": {"200": _list(_CONTACT), **problem_responses(401, 403, 422)},
                },
            },
            "/v1/contacts/{id}": {
                "parameters": _ID,
                "get": {
                    "summary": "One contact",
                    "responses": {"200": _json(_CONTACT), **problem_responses(401, 403, 404)},
                },
                "patch": {
                    "summary": "Change a contact: attributes merge (null removes one), tags and time_zone replace",
                    "requestBody": _body(_CONTACT_IN),
                    "responses": {"200": _json(_CONTACT), **problem_responses(400, 401, 403, 404, 415, 422)},
                },
                "delete": {
                    "summary": "Delete a contact",
                    "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 403, 404)},
                },
            },
            "/v1/contacts/imports": {
                "post": {
                    "summary": (
                        "Import contacts from CSV or XLSX (columns phone, tags, time_zone, any other an "
                        "attribute): the upload is stored, then imported in the background"
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            XLSX: {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "202": _json(_IMPORT, "The job, queued (Location: the job)"),
                        **problem_responses(401, 403, 413, 415, 422),
                    },
                },
                "get": {
                    "summary": "Your import jobs, newest first",
                    "parameters": _PAGE,
                    "responses": {"200": _list(_IMPORT), **problem_responses(401, 403, 422)},
                },
            },
            "/v1/contacts/imports/{id}": {
                "parameters": _ID,
                "get": {
                    "summary": "An import job's progress",
                    "responses": {"200": _json(_IMPORT), **problem_responses(401, 403, 404)},
                },
            },
            "/v1/contacts/imports/{id}/cancel": {
                "parameters": _ID,
                "post": {
                    "summary": "Cancel a queued or running import (the rows it committed stay)",
                    "responses": {"200": _json(_IMPORT), **problem_responses(401, 403, 404, 409)},
                },
            },
            "/v1/contacts/attributes": {
                "get": {
                    "summary": "The attribute names your contacts use (at most 200, in order)",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"data": {"type": "array", "items": {"type": "string"}}},
                                        "required": ["data"],
                                    }
                                }
                            },
                        },
                        **problem_responses(401, 403),
                    },
                }
            },
            "/v1/contacts/export": {
                "get": {
                    "summary": "Every contact as CSV (streamed)",
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403, 422),
                    },
                }
            },
            "/v1/segments": {
                "post": {
                    "summary": "Save a segment",
                    "requestBody": _body(_SEGMENT_IN),
                    "responses": {"201": _json(_SEGMENT, "Created"), **problem_responses(400, 401, 403, 415, 422)},
                },
                "get": {
                    "summary": "Your segments",
                    "parameters": _PAGE,
                    "responses": {"200": _list(_SEGMENT), **problem_responses(401, 403, 422)},
                },
            },
            "/v1/segments/preview": {
                "post": {
                    "summary": "Count the contacts of a filter not saved",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["filter"],
                            "additionalProperties": False,
                            "properties": {"filter": _FILTER},
                        }
                    ),
                    "responses": {"200": _json(_COUNT), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/segments/{id}": {
                "parameters": _ID,
                "get": {
                    "summary": "One segment",
                    "responses": {"200": _json(_SEGMENT), **problem_responses(401, 403, 404)},
                },
                "put": {
                    "summary": "Replace a segment's name and filter",
                    "requestBody": _body(_SEGMENT_IN),
                    "responses": {"200": _json(_SEGMENT), **problem_responses(400, 401, 403, 404, 415, 422)},
                },
                "delete": {
                    "summary": "Delete a segment",
                    "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 403, 404)},
                },
            },
            "/v1/segments/{id}/count": {
                "parameters": _ID,
                "get": {
                    "summary": "How many contacts the segment holds now",
                    "responses": {"200": _json(_COUNT), **problem_responses(401, 403, 404)},
                },
            },
            "/v1/segments/{id}/contacts": {
                "parameters": [*_ID, *_PAGE],
                "get": {
                    "summary": "The segment's contacts, in id order",
                    "responses": {"200": _list(_MEMBER), **problem_responses(401, 403, 404, 422)},
                },
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/contacts/imports text/csv": "phone,name,city,tags\n13800138001,张先生,上海,会员\n13800138010,李女士,杭州,\n",
            "POST /v1/segments": {
                "name": "上海会员",
                "filter": {
                    "all": [{"tags": "any", "values": ["会员"]}, {"attribute": "city", "op": "eq", "value": "上海"}]
                },
            },
            "POST /v1/segments/preview": {"filter": {"tags": "any", "values": ["会员"]}},
            "PUT /v1/segments/{id}": {"name": "全部会员", "filter": {"tags": "any", "values": ["会员"]}},
        }
    }
)

# Text answers as the server writes them.
register_fragment(
    {
        "response_examples": {
            "GET /v1/contacts/export 200 text/csv": "phone,tags,time_zone,city,name\n+8613800138001,会员,Asia/Shanghai,上海,张先生\n"
        }
    }
)
