"""Examples for the OpenAPI document: every operation's request body and success response.

A fragment's own examples (written next to the code, e.g. messages/openapi.py SEND_EXAMPLES)
always win. Where a fragment gives none, `fill_examples` builds one from the schema: a schema's
own `example`/`examples`/`const`/`default` first, then a realistic value for the property's name
(a sandbox number for `to`, Chinese brand text for `title`…), then one for its format or type.
tests/api/test_openapi_examples.py validates every example against its schema (jsonschema,
Draft 2020-12) and posts the request examples to a sandbox server: an example that stops being
true fails the suite, so a schema that outgrows these rules gets its own `examples`."""

from __future__ import annotations

import copy
import re
from typing import Any

_HEX_ID = "0193a4f2c8b57d1e9a06b3c2d4e5f6a7"
_AT = "2026-12-04T08:30:00Z"
_NUMBER = "+8613800138000"
# A property's name → what it typically holds here (kept only where the schema allows it).
_BY_NAME: dict[str, Any] = {
    "to": _NUMBER,
    "number": _NUMBER,
    "e164": _NUMBER,
    "msisdn": _NUMBER,
    "phone": _NUMBER,
    "from": _NUMBER,
    "name": "双十二会员日",
    "display_name": "红雁咖啡",
    "title": "您的账单已出",
    "description": "本月话费 58.00 元，点击查看详情",
    "text": "您的快递已到驿站，请凭取件码 8-2-3016 取件",
    "body": "您好，您的订单已发货",
    "question": "怎么查询快递进度？",
    "answer": "发送“快递”即可查询最新进度。",
    "detail": "本月话费 58.00 元",
    "reason": "用户回复退订",
    "note": "双十二活动素材",
    "comment": "文案已核对",
    "term": "加微信",
    "word": "加微信",
    "category": "marketing",
    "carrier": "cmcc",
    "channel": "rcs",
    "currency": "CNY",
    "locale": "zh-CN",
    "lang": "zh-CN",
    "timezone": "Asia/Shanghai",
    "time_zone": "Asia/Shanghai",
    "month": "2026-11",
    "url": "https://hooks.brand.example.cn/hongyan",
    "email": "ops@brand.example.cn",
    "city": "上海",
    "label": "红雁咖啡（南京西路店）",
    "latitude": 31.2304,
    "longitude": 121.4737,
    "status": "accepted",
    "secret": "whsec_3q9Vb0kXh1R2cZ8mN4pT6wY7",
    "token": "Zk3xQ9pL2mT7",
    "key": "hy_live_0193a4f2c8b57d1e_8cQ2mN4pT6wY7rZk3xQ9pL2",
    "cursor": None,
    "next_cursor": None,
    "template": "monthly_bill",
    "path": "/to",
    "error": "the operator answered 503 Service Unavailable",
    "last_error": "the operator answered 503 Service Unavailable",
    "message": "您的快递已到驿站，请凭取件码取件",
    "source": "api",
    "tag": "会员",
    "tags": "会员",
    "winner": "a",
    "variant": "a",
    "group": "a",
    "start": "08:00",
    "end": "21:00",
    "date_attribute": "birthday",
    "traffic_type": "notification",
    "status_reason": "文案含有未报备的营销用语",
    "postback": "bill-detail",
    "display_text": "查看详情",
    "suggestion": "查看详情",
    "evaluated_day": "2026-12-04",
    "assignee": "zhang.wei",
    "login": "zhang.wei",
    "questions": "怎么查询快递进度？",
    "value": "199.90",
    "rule": "frequency_cap",
    "number_masked": "+86138****8000",
    "password_set_url": "https://hongyan.example.cn/editor/password#token=Zk3xQ9pL2mT7",
    "handset_url": "https://hongyan.example.cn/sandbox/handset",
    "base_url": "https://hongyan.example.cn",
    "server_root": "maap.example.cn/csp",
    "field": "phone",
    "scope": "marketing",
    "brand": "红雁咖啡",
    "tenant_name": "红雁咖啡",
    "signature": "【红雁咖啡】",
    "unsubscribe_text": "拒收请回复R",
    "consent_keywords": "同意",
    "charged": "0.0500",
    "held": "0.0500",
    "cost": "0.0450",
    "sms_price": "0.0450",
    "role": "designer",
    "csrf_token": "q3V9bXk2Lm8pN4tR7wY0zA",
    "route": "sandbox-smsc",
    "event": "message.status",
    "at": _AT,
    "model": "qwen-plus",
    "subject": "十二月账单",
    "refunded": False,
    "disabled": False,
    "revoked": False,
    "truncated": False,
}
# A text body's example by media type where the schema is a bare string.
_BY_MEDIA_TYPE = {
    "text/html": '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>红雁咖啡</title>'
    "<h1>您的账单已出</h1><p>本月话费 58.00 元</p></html>",
    "text/calendar": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hongyan//CN\r\nBEGIN:VEVENT\r\n"
    "UID:0193a4f2c8b57d1e@hongyan\r\nDTSTART:20261212T020000Z\r\nDTEND:20261212T030000Z\r\n"
    "SUMMARY:双十二会员日\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    "text/event-stream": 'event: conversation.message\ndata: {"conversation_id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7"}\n\n',
    "text/plain": "您的账单已出\n本月话费 58.00 元\n[查看详情]",
}
BILL_CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "title": "{{ name }}，您的账单已出",
                "description": "本月话费 {{ amount }} 元",
                "suggestions": [{"reply": {"displayText": "查看详情", "postback": {"data": "bill-detail"}}}],
            },
        }
    }
}
# Objects by the property's name (kept only where the schema allows them).
_OBJECT_BY_NAME: dict[str, dict] = {
    "card": BILL_CARD,
    "variables": {"name": "张先生", "amount": "58.00"},
    "sample": {"name": "张先生", "amount": "58.00"},
}
_BY_FORMAT = {
    "date-time": _AT,
    "date": "2026-12-04",
    "time": "08:30:00",
    "uri": "https://brand.example.cn/bill",
    "uri-reference": "/v1/messages/" + _HEX_ID,
    "email": "ops@brand.example.cn",
    "uuid": "0193a4f2-c8b5-7d1e-9a06-b3c2d4e5f6a7",
    "ipv4": "203.0.113.7",
}
# Values tried, in order, against a string's `pattern` when neither its name nor its format fits.
_PATTERNED = (
    "58.0000",
    "58.00",
    "9f" * 32,
    "9f" * 64,
    "sip:12520040001@botplatform.rcs.chinamobile.com",
    "08:00",
    "1d",
    "new_member",
    "monthly_bill",
    "2026-11",
    "+8613800138000",
    "106900001234",
    _HEX_ID,
)
_MAX_DEPTH = 8


def example_for(schema: Any, components: dict, *, name: str = "", request: bool = False, depth: int = 0) -> Any:
    """An example of `schema` (references resolved against `components`): for a request only
    its required properties, for a response all of them."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        target = components.get("schemas", {}).get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_for(target, components, name=name, request=request, depth=depth + 1)
    for key in ("example", "const", "default"):
        if key in schema:
            return copy.deepcopy(schema[key])
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            return example_for((branches or schema[key])[0], components, name=name, request=request, depth=depth + 1)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            value = example_for(part, components, name=name, request=request, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if name in _BY_NAME and _BY_NAME[name] is None and "null" in kind:
            return None
        kind = kinds[0] if kinds else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None
    hint = _OBJECT_BY_NAME.get(name)
    if kind == "object" and hint is not None and set(schema.get("required", [])) <= set(hint):
        return copy.deepcopy(hint)
    if kind == "object":
        props = schema.get("properties", {})
        wanted = set(schema.get("required", [])) if request else set(props)
        for prop in props:  # a request short of minProperties takes the first optional ones
            if len(wanted) >= schema.get("minProperties", 0):
                break
            wanted.add(prop)
        return {
            prop: example_for(sub, components, name=prop, request=request, depth=depth + 1)
            for prop, sub in props.items()
            if prop in wanted
        }
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        item = example_for(schema.get("items", {}), components, name=name, request=request, depth=depth + 1)
        if schema.get("uniqueItems") and count > 1:
            count = 1
        return [copy.deepcopy(item) for _ in range(count)]
    if kind == "string":
        return _string(schema, name)
    if kind in ("integer", "number"):
        return _number(schema, name, kind)
    if kind == "boolean":
        return _BY_NAME.get(name, True)
    if kind == "null":
        return None
    return _BY_NAME.get(name)


def _string(schema: dict, name: str) -> str:
    hinted = _BY_NAME.get(name)
    if name.endswith("_id") or name == "id":
        hinted = _HEX_ID
    elif name.endswith("_at") or name in ("since", "until"):
        hinted = _AT
    candidates = [hinted, _BY_FORMAT.get(schema.get("format", ""))]
    if "pattern" in schema:
        candidates += _PATTERNED
    for value in candidates:
        if isinstance(value, str) and _fits(schema, value):
            return value
    low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
    text = ("示例" * (low // 2 + 2))[: max(low, min(high, 4))]
    return text


def _fits(schema: dict, value: str) -> bool:
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern, value) is not None


def _number(schema: dict, name: str, kind: str) -> int | float:
    hinted = _BY_NAME.get(name)
    value = hinted if isinstance(hinted, (int, float)) and not isinstance(hinted, bool) else 1
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema:
        value = max(value, schema["exclusiveMinimum"] + 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    return int(value) if kind == "integer" else value


# Media types whose bodies an example cannot usefully show (files, images, spreadsheets).
def is_binary(media_type: str) -> bool:
    """Whether a body of `media_type` is a file rather than text an example can show."""
    return media_type.split("/")[0] in ("image", "video", "audio") or media_type in (
        "application/octet-stream",
        "multipart/form-data",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def without_examples(value: Any) -> Any:
    """`value` (a document or a part of one) with every `example` and `examples` left out: what a
    fragment wrote, compared with what the document serves once examples are filled in."""
    if isinstance(value, dict):
        return {k: without_examples(v) for k, v in value.items() if k not in ("example", "examples")}
    if isinstance(value, list):
        return [without_examples(v) for v in value]
    return value


def has_example(content: dict) -> bool:
    return "example" in content or bool(content.get("examples"))


def _resolve(schema: dict, components: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = components.get("schemas", {}).get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def invalid_example(op: dict, components: dict) -> dict | None:
    """A 422 of `op`: its first query parameter out of range, else its body's first required field
    missing (None when it takes neither)."""
    query = [p for p in op.get("parameters", []) if p.get("in") == "query"]
    if query:
        error = {"path": f"/{query[0]['name']}", "message": "not a valid value"}
    else:
        contents: dict = op.get("requestBody", {}).get("content", {})
        first: dict = next(iter(contents.values()), {})
        schema = _resolve(first.get("schema", {}), components)
        schema = _resolve((schema.get("oneOf") or [schema])[0], components)
        required = schema.get("required") or list(schema.get("properties", {}))[:1]
        if not required:
            return None
        error = {"path": f"/{required[0]}", "message": "required", "code": "required"}
    return {
        "type": "/docs/problems#validation",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "1 field(s) are invalid",
        "errors": [error],
    }


def fill_examples(document: dict) -> dict:
    """Give every operation's request body and success responses an example where the fragment
    gave none (files excepted), and its 422 one naming a field of its own."""
    components = document.get("components", {})
    for item in document["paths"].values():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(op, dict):
                continue
            for media_type, content in op.get("requestBody", {}).get("content", {}).items():
                if not is_binary(media_type) and not has_example(content) and "schema" in content:
                    content["example"] = example_for(content["schema"], components, request=True)
            invalid = op.get("responses", {}).get("422", {}).get("content", {}).get("application/problem+json")
            if invalid is not None and not has_example(invalid):
                example = invalid_example(op, components)
                if example is not None:
                    invalid["example"] = example
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media_type, content in response.get("content", {}).items():
                    if not is_binary(media_type) and not has_example(content) and "schema" in content:
                        by_type = _BY_MEDIA_TYPE.get(media_type) if content["schema"] == {"type": "string"} else None
                        content["example"] = by_type or example_for(content["schema"], components)
    return document
