"""OpenAPI fragment for media uploads and the public media URLs."""

from api.openapi import problem_responses, register_fragment

_MEDIA = {
    "type": "object",
    "required": [
        "id",
        "url",
        "content_type",
        "file_size",
        "width",
        "height",
        "thumbnail_url",
        "thumbnail_content_type",
        "thumbnail_file_size",
        "sha256",
        "created_at",
    ],
    "properties": {
        "id": {"type": "string", "description": "128 random bits, URL-safe base64"},
        "url": {"type": "string", "format": "uri", "description": "public; use as the card's mediaUrl"},
        "content_type": {"enum": ["image/jpeg", "image/png"]},
        "file_size": {"type": "integer", "maximum": 2 * 1024 * 1024},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "thumbnail_url": {"type": "string", "format": "uri"},
        "thumbnail_content_type": {"enum": ["image/jpeg", "image/png"]},
        "thumbnail_file_size": {"type": "integer", "maximum": 200 * 1024},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_BINARY = {"schema": {"type": "string", "contentEncoding": "binary"}}


def _public(summary: str) -> dict:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "The image; immutable, cacheable for a year",
                    "content": {"image/jpeg": _BINARY, "image/png": _BINARY},
                },
                "304": {"description": "Not modified (If-None-Match)"},
                **problem_responses(404),
            },
        }
    }


register_fragment(
    {
        "schemas": {"Media": _MEDIA},
        "paths": {
            "/v1/media": {
                "post": {
                    "summary": "Upload an image (JPEG, PNG, WebP or GIF in; JPEG or PNG stored)",
                    "description": "The type is sniffed from the content. The image is EXIF-oriented, stripped of "
                    "all metadata, scaled to at most 2048 px, re-encoded to at most 2 MB, and "
                    "given a thumbnail of at most 400 px and 200 KB. The same image again "
                    "answers with the id it already has.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "contentEncoding": "binary"}},
                                }
                            },
                            "application/octet-stream": _BINARY,
                            "image/*": _BINARY,
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Media"}}},
                        },
                        **problem_responses(400, 401, 413, 422),
                    },
                },
                "get": {
                    "summary": "List the tenant's media, newest first",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],
                    "responses": {"200": {"description": "A page"}, **problem_responses(401, 422)},
                },
            },
            "/v1/media/{id}": {
                "get": {
                    "summary": "One of the tenant's media",
                    "parameters": [_ID],
                    "responses": {
                        "200": {
                            "description": "The media",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Media"}}},
                        },
                        **problem_responses(401, 404),
                    },
                }
            },
            "/media/{id}": _public("An uploaded image (public: the id is unguessable)"),
            "/media/{id}/thumbnail": _public("An uploaded image's thumbnail"),
        },
    }
)
