"""OpenAPI fragment for media uploads and the public media URLs."""

from api.openapi import page_response, problem_responses, register_fragment

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
        "kind",
        "source_id",
        "focus",
        "duration_ms",
    ],
    "properties": {
        "id": {"type": "string", "description": "128 random bits, URL-safe base64"},
        "url": {"type": "string", "format": "uri", "description": "public; use as the card's mediaUrl"},
        "content_type": {"enum": ["image/jpeg", "image/png", "video/mp4", "audio/mp4", "audio/mpeg", "audio/amr"]},
        "file_size": {
            "type": "integer",
            "maximum": 10 * 1024 * 1024,
            "description": "images ≤ 2 MB, audio ≤ 5 MB, video ≤ 10 MB (CN CSP interface V1.0.4)",
        },
        "width": {"type": "integer", "description": "pixels; 0 for audio"},
        "height": {"type": "integer", "description": "pixels; 0 for audio"},
        "thumbnail_url": {"type": "string", "format": "uri"},
        "thumbnail_content_type": {"enum": ["image/jpeg", "image/png"]},
        "thumbnail_file_size": {"type": "integer", "maximum": 200 * 1024},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": {"type": "string", "format": "date-time"},
        "kind": {"enum": ["image", "video", "audio"]},
        "source_id": {"type": ["string", "null"], "description": "the image a crop was cut from"},
        "focus": {
            "type": ["object", "null"],
            "description": "a crop's focal point, as fractions of its width and height",
            "required": ["x", "y"],
            "properties": {
                "x": {"type": "number", "minimum": 0, "maximum": 1},
                "y": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "duration_ms": {"type": ["integer", "null"], "description": "video and audio: the length"},
    },
}
_FRAME_HEIGHTS = ["SHORT_HEIGHT", "MEDIUM_HEIGHT", "TALL_HEIGHT"]
_CROP = {
    "type": "object",
    "required": ["x", "y", "width", "height"],
    "properties": {
        "x": {"type": "integer", "minimum": 0},
        "y": {"type": "integer", "minimum": 0},
        "width": {"type": "integer", "minimum": 16},
        "height": {"type": "integer", "minimum": 16},
        "focus": {
            "type": "object",
            "properties": {
                "x": {"type": "number", "minimum": 0, "maximum": 1},
                "y": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "frame": {
            "type": "object",
            "description": "the card media area the crop is for: the box must match its width/height ratio (±2 %)",
            "required": ["height"],
            "properties": {
                "height": {"enum": _FRAME_HEIGHTS},
                "cardOrientation": {"enum": ["VERTICAL", "HORIZONTAL"]},
                "cardWidth": {"enum": ["SMALL_WIDTH", "MEDIUM_WIDTH"]},
            },
        },
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
                    "content": {
                        "image/jpeg": _BINARY,
                        "image/png": _BINARY,
                        "video/mp4": _BINARY,
                        "audio/mpeg": _BINARY,
                    },
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
                    "summary": "Upload an image (JPEG, PNG, WebP or GIF in; JPEG or PNG stored), "
                    "an MP4 video or MP4/MP3/AMR audio",
                    "description": "The type is sniffed from the content. The image is EXIF-oriented, stripped of "
                    "all metadata, scaled to at most 2048 px, re-encoded to at most 2 MB, and "
                    "given a thumbnail of at most 400 px and 200 KB. Video (≤ 10 MB, ≤ 60 s) and "
                    "audio (≤ 5 MB, ≤ 90 s) are remuxed without their metadata; the thumbnail is "
                    "a poster: a video frame about a second in, or a drawn waveform. The same "
                    "file again answers with the id it already has.",
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
                    "responses": {
                        "200": page_response("A page", {"$ref": "#/components/schemas/Media"}),
                        **problem_responses(401, 422),
                    },
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
            "/v1/media/{id}/crop": {
                "post": {
                    "summary": "Crop an image into a new media item (the source is kept)",
                    "parameters": [_ID],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _CROP}}},
                    "responses": {
                        "201": {
                            "description": "The cropped image",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Media"}}},
                        },
                        **problem_responses(400, 401, 404, 415, 422),
                    },
                }
            },
            "/media/{id}": _public("An uploaded image (public: the id is unguessable)"),
            "/media/{id}/thumbnail": _public("An uploaded image's thumbnail"),
        },
    }
)
