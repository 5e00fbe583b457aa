"""GET /v1/evidence/{message_id}: a message's chained records with inclusion proofs."""

from __future__ import annotations

from aiohttp import web

from api.middleware import TENANT_ID
from api.openapi import problem_responses, register_fragment
from api.problems import Problem
from messages.evidence import EvidenceLog

EVIDENCE = web.AppKey("evidence", EvidenceLog)
routes = web.RouteTableDef()


@routes.get("/v1/evidence/{message_id}")
async def message_evidence(request: web.Request) -> web.Response:
    found = await request.app[EVIDENCE].message_evidence(request[TENANT_ID], request.match_info["message_id"])
    if found is None:
        raise Problem(404, "no evidence for this message (unknown, another tenant's, or not chained yet)")
    return web.json_response(found)


register_fragment(
    {
        "paths": {
            "/v1/evidence/{message_id}": {
                "get": {
                    "summary": "A message's SM3 evidence records, each with an inclusion proof to the tenant's chain head",
                    "parameters": [
                        {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "Records and proofs"}, **problem_responses(401, 404)},
                }
            }
        }
    }
)
