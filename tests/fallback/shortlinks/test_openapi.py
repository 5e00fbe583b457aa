"""The click report and the public pages are described in /openapi.json, and answers match it."""

import jsonschema
from linkkit import MOBILE_UA, OPEN
from openapi_spec_validator import validate


async def test_document_is_valid_and_describes_clicks(env):
    doc = await (await env.client.get("/openapi.json")).json()
    validate(doc)
    assert "/v1/clicks" in doc["paths"] and doc["paths"]["/s/{token}"]["get"]["security"] == []

    sent = await env.send()
    token = await env.link(message=sent)
    for path in (f"/s/{token}", f"/s/{token}/a/{OPEN}"):
        await env.client.get(path, headers={"User-Agent": MOBILE_UA}, allow_redirects=False)
    await env.client.head(f"/s/{token}", headers={"User-Agent": "curl/8.5.0"})
    body = await (
        await env.client.get("/v1/clicks", params={"message_id": sent["messages"][0]["id"]}, headers=env.auth)
    ).json()
    schema = {**doc["components"]["schemas"]["Clicks"], "$defs": doc["components"]["schemas"]}
    jsonschema.validate(body, schema)
    assert body["head"] == 1 and body["bots"] == 1 and body["human_hits"] == 2
