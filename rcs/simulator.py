"""The sandbox MaaP: the CN CSP interface V1.0.4 on loopback, as strict as a real MaaP, with
magic-number behaviour.

It speaks what a China Telecom / China Unicom MaaP speaks — token, messages, revoke, media
upload / download / delete, chatbot information, optionals and persistent menu — and refuses
what a real one refuses, with the interface's error codes: `contentText` of the wrong JSON type
(a string where the type needs an object), cards and chip lists that break the interface's
chatbot message schema, chips anywhere but their own part after the content, media URLs it did
not issue, more than one recipient, a chatbot id not percent-encoded in the path, trafficType
values outside the interface's. It sends SIGNED callbacks to the platform in the interface's
example forms: statuses, mobile-originated messages (text, suggestion responses, locations,
files, device specifics) and notices (spam reports, audit results, information changes). There
is no capability query in the interface: a number that cannot take 5G messages is answered with
a `failed` status, code 2, after its send is accepted.

Behaviour is chosen by the number's ending, longest suffix first (the README's table of sandbox
numbers; …44 delivers but loses its delivered/displayed callbacks, while a revoke is still
answered; …55 delivers and is never displayed). A virtual handset page per number shows what arrived (cards, text, files, locations)
and lets a person tap suggestions, reply, share a location, a file or the device specifics;
numbers never appear in URL paths or logs. State lives in memory; given a `state_path` (the
platform's data directory) the newest messages, the handsets' threads, the chatbots and the
uploaded media are also kept there, so a restart keeps them (a revoke or a handset tap of a
message sent before it still finds it).

Run standalone: python -m rcs.simulator --port 8081 --callback-url http://127.0.0.1:8080/rcs

Where the interface does not say (HTTP statuses, which code for which refusal), this simulator
answers: 400 and the closest code of the interface's table for a refused request, 401 for
token problems, 404 for an unknown chatbot path or message.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import enum
import functools
import hmac
import logging
import random
import re
import secrets
import signal
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import aiohttp
import jinja2
import jsonschema
import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from markupsafe import Markup
from yarl import URL

from api.livepage import LOOK_BAR, LOOK_NAMES, REFRESH_SCRIPT, page_headers
from cards.html import render_html
from cards.looks import body_class, page_css
from cards.looks import page_choices as choose_look
from cards.view import MediaView
from rcs.callbacks import signed_headers
from rcs.maap import (
    BOT_MESSAGE_TYPE,
    FILE_TRANSFER_HTTP_TYPE,
    SHARED_CLIENT_DATA_TYPE,
    SUGGESTION_LIST_TYPE,
    SUGGESTION_RESPONSE_TYPE,
    TEXT_TYPE,
    geo_text,
)
from rcs.operators.cn_csp import OPTIONAL_INFO_FIELDS, CnCspSettings, is_e164
from security.logs import install as install_pii_filter
from security.logs import mask_phone
from store.snapshots import Snapshot

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # CN media limit: video 10 MB
CHINA_TZ = timezone(timedelta(hours=8))  # the interface's example times are +08:00

# -- what the interface allows (CSP interface V1.0.4) -------------------------------------------

SEND_FIELDS = frozenset(
    {
        "messageId",
        "messageList",
        "destinationAddress",
        "senderAddress",
        "conversationId",
        "contributionId",
        "serviceCapability",
        "trafficType",
        "smsSupported",
        "imFormat",
        "inReplyTo",
        "reportRequest",
        "storeSupported",
        "smsContent",
    }
)
SEND_REQUIRED = {
    "messageId": str,
    "messageList": list,
    "destinationAddress": list,
    "senderAddress": str,
    "conversationId": str,
    "contributionId": str,
    "serviceCapability": list,
    "smsSupported": bool,
    "storeSupported": bool,
}
TRAFFIC_TYPES = frozenset({"advertisement", "payment", "premium", "subscription", "token"})
REPORTS = frozenset({"sent", "failed", "delivered", "displayed", "deliveredToNetwork"})
IM_FORMATS = frozenset({"IM", "LargerMode", "PagerMode"})
PART_TYPES = frozenset({TEXT_TYPE, FILE_TRANSFER_HTTP_TYPE, BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE})
CONTENT_PART_TYPES = frozenset({TEXT_TYPE, FILE_TRANSFER_HTTP_TYPE, BOT_MESSAGE_TYPE})
ACTION_KINDS = frozenset(
    {"urlAction", "dialerAction", "mapAction", "calendarAction", "composeAction", "deviceAction", "settingsAction"}
)
MAX_TEXT = 2000  # a plain text message
MAX_CARD_SUGGESTIONS = 4
MAX_CHIPS = 11
MAX_DISPLAY_TEXT = 25  # "25个字符（Byte）": counted here in characters
MAX_POSTBACK = 2048
MAX_TITLE, MAX_DESCRIPTION = 200, 2000
MENU_TOP_ENTRIES, MENU_SUB_ENTRIES = 3, 5  # the persistent menu: 2 levels, 3 entries, 5 per submenu
SUBMENU_KEYS = frozenset({"displayText", "entries"})
# Optional information: "本期暂时只可携带1种分类" (one category for now), a theme colour as RGB.
MAX_CATEGORIES = 1
_THEME_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_OPTIONAL_URLS = frozenset({"serviceWebsite", "backgroundImage", "cssStyle"})
# The sandbox's auditor rejects chatbot information containing these words (case-insensitive).
SANDBOX_AUDIT_REJECTS = ("违规", "reject")

# Upload limits: (content types, bytes). Durations (audio 90 s, video 60 s) are not checked.
_IMAGE = frozenset({"image/jpeg", "image/jpg", "image/png"})
UPLOAD_KINDS: dict[str, tuple[frozenset[str], int]] = {
    "image": (_IMAGE, 2 * 1024 * 1024),
    "audio": (
        frozenset({"audio/amr", "audio/mpeg", "audio/mp3", "audio/mp4", "audio/m4a", "audio/x-m4a"}),
        5 * 1024 * 1024,
    ),
    "video": (frozenset({"video/mp4", "video/webm"}), 10 * 1024 * 1024),
}
THUMBNAIL_MAX = 200 * 1024
MEDIA_QUOTA = {"temp": 1000, "perm": 300}  # totalCount: how many files of each kind may be held

OPTIONAL_INFO = OPTIONAL_INFO_FIELDS  # what a chatbot may update, with the limits the client checks too

# The interface's example device specifics (what the virtual handset shares).
EXAMPLE_DEVICE = {
    "deviceModel": "OnePlus 7 Pro",
    "platformVersion": "Android-9.1.2",
    "clientVendor": "VNDR",
    "clientVersion": "RCSAndrd-1.0",
    "batteryRemainingMinutes": 517,
}

# -- the chatbot message JSON schema of the CSP interface V1.0.4 (富媒体卡片消息语法) ------------
# Transcribed from the interface (draft-04). Only "format" is checked by our own checker below
# ("uri", "date-time"); everything else is jsonschema's.

_REPLY_OR_ACTION = {
    "oneOf": [{"$ref": "#/definitions/suggestions/replies/reply"}, {"$ref": "#/definitions/suggestions/actions/action"}]
}
_URI = {"type": "string", "format": "uri"}
_FONT = {"$ref": "#/definitions/messageFragments/fontStyle"}
_STYLE = {"$ref": "#/definitions/messageFragments/cardStyle"}


def _card_content(max_suggestions: int = 4) -> dict:
    return {
        "type": "object",
        "properties": {
            "media": {"$ref": "#/definitions/messageFragments/cardMedia"},
            "title": {"$ref": "#/definitions/messageFragments/cardTitle"},
            "description": {"$ref": "#/definitions/messageFragments/cardDescription"},
            "suggestions": {
                "type": "array",
                "items": _REPLY_OR_ACTION,
                "minItems": 1,
                "maxItems": max_suggestions,
                "additionalItems": False,
            },
        },
        "anyOf": [{"required": ["media"]}, {"required": ["title"]}, {"required": ["description"]}],
    }


def _one_of_actions(name: str, variants: dict[str, dict], title: str) -> dict:
    """`{name: {"type": "object", "oneOf": [{"properties": {v: schema}, "required": [v]}, …]}}`."""
    return {
        "title": title,
        "properties": {
            name: {
                "type": "object",
                "oneOf": [{"properties": {v: s}, "required": [v]} for v, s in variants.items()],
            }
        },
        "required": [name],
    }


def _dial(extra: dict | None = None) -> dict:
    props = {"phoneNumber": {"type": "string"}, **(extra or {}), "fallbackUrl": _URI}
    return {"type": "object", "properties": props, "required": ["phoneNumber"]}


BOT_MESSAGE_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "id": "http://www.gsma.com/rcs/chatbot_message_schema.json",
    "title": "Root Object",
    "type": "object",
    "properties": {
        "message": {
            "type": "object",
            "oneOf": [
                {"$ref": "#/definitions/messages/generalPurposeCardMessage"},
                {"$ref": "#/definitions/messages/generalPurposeCardCarouselMessage"},
            ],
        },
        "suggestions": {
            "type": "array",
            "items": _REPLY_OR_ACTION,
            "minItems": 1,
            "maxItems": 11,
            "additionalItems": False,
        },
        "response": {
            "type": "object",
            "oneOf": [
                {"properties": {"reply": {"$ref": "#/definitions/suggestions/suggestion"}}, "required": ["reply"]},
                {"properties": {"action": {"$ref": "#/definitions/suggestions/suggestion"}}, "required": ["action"]},
            ],
        },
        "sharedData": {
            "type": "object",
            "oneOf": [{"properties": {"deviceSpecifics": {"$ref": "#/definitions/sharedData/deviceSpecifics"}}}],
        },
    },
    "oneOf": [
        {"required": ["message"]},
        {"required": ["suggestions"]},
        {"required": ["response"]},
        {"required": ["sharedData"]},
    ],
    "definitions": {
        "messageFragments": {
            "cardMedia": {
                "type": "object",
                "properties": {
                    "mediaUrl": _URI,
                    "mediaContentType": {"type": "string"},
                    "mediaFileSize": {"type": "integer", "minimum": 0},
                    "thumbnailUrl": _URI,
                    "thumbnailContentType": {"type": "string"},
                    "thumbnailFileSize": {"type": "integer", "minimum": 0},
                    "height": {"type": "string", "enum": ["SHORT_HEIGHT", "MEDIUM_HEIGHT", "TALL_HEIGHT"]},
                    "contentDescription": {"type": "string", "minLength": 1, "maxLength": 200},
                },
                "required": ["mediaUrl", "mediaContentType", "mediaFileSize", "height"],
                "dependencies": {"thumbnailUrl": ["thumbnailContentType", "thumbnailFileSize"]},
            },
            "cardTitle": {"type": "string", "minLength": 1, "maxLength": 200},
            "cardDescription": {"type": "string", "minLength": 1, "maxLength": 2000},
            "fontStyle": {
                "type": "array",
                "items": {"type": "string", "enum": ["italics", "bold", "underline"]},
                "minItems": 1,
                "maxItems": 3,
                "additionalItems": False,
            },
            "cardStyle": _URI,
        },
        "messages": {
            "generalPurposeCardMessage": {
                "type": "object",
                "properties": {
                    "generalPurposeCard": {
                        "type": "object",
                        "properties": {
                            "layout": {
                                "type": "object",
                                "oneOf": [
                                    {
                                        "properties": {
                                            "cardOrientation": {"type": "string", "enum": ["VERTICAL"]},
                                            "titleFontStyle": _FONT,
                                            "descriptionFontStyle": _FONT,
                                            "style": _STYLE,
                                        },
                                        "required": ["cardOrientation"],
                                    },
                                    {
                                        "properties": {
                                            "cardOrientation": {"type": "string", "enum": ["HORIZONTAL"]},
                                            "imageAlignment": {"type": "string", "enum": ["LEFT", "RIGHT"]},
                                            "titleFontStyle": _FONT,
                                            "descriptionFontStyle": _FONT,
                                            "style": _STYLE,
                                        },
                                        "required": ["cardOrientation", "imageAlignment"],
                                    },
                                ],
                            },
                            "content": _card_content(),
                        },
                        "required": ["layout", "content"],
                    }
                },
                "required": ["generalPurposeCard"],
            },
            "generalPurposeCardCarouselMessage": {
                "type": "object",
                "properties": {
                    "generalPurposeCardCarousel": {
                        "type": "object",
                        "properties": {
                            "layout": {
                                "type": "object",
                                "properties": {
                                    "cardWidth": {
                                        "type": "string",
                                        "enum": ["SMALL_WIDTH", "MEDIUM_WIDTH"],
                                        "default": "SMALL_WIDTH",
                                    },
                                    "titleFontStyle": _FONT,
                                    "descriptionFontStyle": _FONT,
                                    "style": _STYLE,
                                },
                                "required": ["cardWidth"],
                            },
                            "content": {
                                "type": "array",
                                "items": _card_content(),
                                "minItems": 2,
                                "maxItems": 12,
                                "additionalItems": False,
                            },
                        },
                        "required": ["layout", "content"],
                    }
                },
                "required": ["generalPurposeCardCarousel"],
            },
        },
        "suggestionFragments": {
            "postback": {
                "type": "object",
                "properties": {"data": {"type": "string", "maxLength": 2048}},
                "required": ["data"],
            },
        },
        "suggestions": {
            "suggestion": {
                "type": "object",
                "properties": {
                    "displayText": {"type": "string", "minLength": 1, "maxLength": 25},
                    "postback": {"$ref": "#/definitions/suggestionFragments/postback"},
                },
                "required": ["displayText"],
            },
            "replies": {
                "reply": {
                    "type": "object",
                    "properties": {"reply": {"allOf": [{"$ref": "#/definitions/suggestions/suggestion"}]}},
                    "required": ["reply"],
                }
            },
            "actions": {
                "action": {
                    "type": "object",
                    "properties": {
                        "action": {
                            "type": "object",
                            "allOf": [
                                {"$ref": "#/definitions/suggestions/suggestion"},
                                {
                                    "oneOf": [
                                        {"$ref": f"#/definitions/suggestions/actions/{a}"}
                                        for a in (
                                            "urlAction",
                                            "dialerAction",
                                            "mapAction",
                                            "calendarAction",
                                            "composeAction",
                                            "deviceAction",
                                            "settingsAction",
                                        )
                                    ]
                                },
                            ],
                        }
                    },
                    "required": ["action"],
                },
                "urlAction": _one_of_actions(
                    "urlAction",
                    {
                        "openUrl": {
                            "type": "object",
                            "oneOf": [
                                {
                                    "properties": {"url": _URI, "application": {"type": "string", "enum": ["browser"]}},
                                    "required": ["url", "application"],
                                },
                                {
                                    "properties": {
                                        "url": _URI,
                                        "application": {"type": "string", "enum": ["webview"]},
                                        "viewMode": {"type": "string", "enum": ["full", "half", "tall"]},
                                        "parameters": {"type": "string", "minLength": 1, "maxLength": 200},
                                    },
                                    "required": ["url", "application"],
                                },
                            ],
                        }
                    },
                    "Suggested actions to interact a website or deep app link.",
                ),
                "dialerAction": _one_of_actions(
                    "dialerAction",
                    {
                        "dialPhoneNumber": _dial(),
                        "dialEnrichedCall": _dial({"subject": {"type": "string", "maxLength": 60}}),
                        "dialVideoCall": _dial(),
                    },
                    "Suggested actions for interacting with a phone number.",
                ),
                "mapAction": _one_of_actions(
                    "mapAction",
                    {
                        "showLocation": {
                            "type": "object",
                            "properties": {
                                "location": {
                                    "type": "object",
                                    "properties": {
                                        "latitude": {"type": "number"},
                                        "longitude": {"type": "number"},
                                        "label": {"type": "string", "minLength": 1, "maxLength": 100},
                                        "query": {"type": "string", "minLength": 1, "maxLength": 200},
                                    },
                                    "oneOf": [{"required": ["latitude", "longitude"]}, {"required": ["query"]}],
                                },
                                "fallbackUrl": _URI,
                            },
                            "required": ["location"],
                        },
                        "requestLocationPush": {"type": "object"},
                    },
                    "Suggested actions for interacting with a location on a map.",
                ),
                "calendarAction": _one_of_actions(
                    "calendarAction",
                    {
                        "createCalendarEvent": {
                            "type": "object",
                            "properties": {
                                "startTime": {"type": "string", "format": "date-time"},
                                "endTime": {"type": "string", "format": "date-time"},
                                "title": {"type": "string", "minLength": 1, "maxLength": 100},
                                "description": {"type": "string", "minLength": 1, "maxLength": 500},
                                "fallbackUrl": _URI,
                            },
                            "required": ["startTime", "endTime", "title"],
                        }
                    },
                    "Suggested actions for interacting with a calendar event.",
                ),
                "composeAction": _one_of_actions(
                    "composeAction",
                    {
                        "composeTextMessage": {
                            "type": "object",
                            "properties": {
                                "phoneNumber": {"type": "string"},
                                "text": {"type": "string", "maxLength": 100},
                            },
                            "required": ["phoneNumber", "text"],
                        },
                        "composeRecordingMessage": {
                            "type": "object",
                            "properties": {
                                "phoneNumber": {"type": "string"},
                                "type": {"type": "string", "enum": ["AUDIO", "VIDEO"]},
                            },
                            "required": ["phoneNumber", "type"],
                        },
                    },
                    "Suggested actions for composing draft messages.",
                ),
                "deviceAction": _one_of_actions(
                    "deviceAction",
                    {"requestDeviceSpecifics": {"type": "object"}},
                    "Suggested actions for interacting with the user's device.",
                ),
                "settingsAction": _one_of_actions(
                    "settingsAction",
                    {"disableAnonymization": {"type": "object"}, "enableDisplayedNotifications": {"type": "object"}},
                    "Suggested actions for interacting with app settings",
                ),
            },
        },
        "sharedData": {
            "deviceSpecifics": {
                "type": "object",
                "properties": {
                    "deviceModel": {"type": "string", "minLength": 1, "maxLength": 10},
                    "platformVersion": {"type": "string", "minLength": 1, "maxLength": 20},
                    "clientVendor": {"type": "string", "minLength": 1, "maxLength": 4},
                    "clientVersion": {"type": "string", "minLength": 1, "maxLength": 15},
                    "batteryRemainingMinutes": {"type": "integer", "minimum": 0},
                },
            }
        },
    },
}


def _is_uri(value) -> bool:
    if not isinstance(value, str):
        return True  # the "type" keyword judges non-strings
    if not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    if not parts.scheme:
        return False
    return bool(parts.netloc) if parts.scheme in ("http", "https") else True


def _is_date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("uri")(_is_uri)
_FORMATS.checks("date-time")(_is_date_time)
jsonschema.Draft4Validator.check_schema(BOT_MESSAGE_SCHEMA)
BOT_MESSAGE_VALIDATOR = jsonschema.Draft4Validator(BOT_MESSAGE_SCHEMA, format_checker=_FORMATS)


class Refusal(Exception):
    """A request the MaaP refuses: the HTTP status, the interface's errorCode and a message."""

    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(f"{code} {message}")
        self.code, self.message, self.status = code, message, status


def schema_errors(document) -> list[str]:
    """The chatbot message schema's complaints about a JSON document, most relevant first.
    Remembered per document (a campaign sends one card to many numbers; the schema walk is the
    simulator's dearest step)."""
    key = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    found = _SCHEMA_VERDICTS.get(key)
    if found is None:
        errors = sorted(BOT_MESSAGE_VALIDATOR.iter_errors(document), key=jsonschema.exceptions.relevance)
        found = [f"{'/'.join(map(str, e.absolute_path)) or '/'}: {e.message}" for e in errors]
        if len(_SCHEMA_VERDICTS) >= 4096:
            _SCHEMA_VERDICTS.clear()
        _SCHEMA_VERDICTS[key] = found
    return list(found)


_SCHEMA_VERDICTS: dict[bytes, list[str]] = {}


def check_suggestions(items, most: int, where: str, first: int = 0) -> None:
    """The button checks of the interface's table (count 40016, type 40017, name 40018, postback
    40019, link 40052), ahead of the schema so each gets its own code (`first`: the index of
    items[0] in its list, for the messages)."""
    if not isinstance(items, list) or not 1 <= len(items) <= most:
        count = len(items) if isinstance(items, list) else "no list of"
        raise Refusal(40016, f"{where}: 1–{most} suggestions, not {count}")
    for i, s in enumerate(items, first):
        at = f"{where}/{i}"
        if not isinstance(s, dict) or len(s) != 1 or next(iter(s)) not in ("reply", "action"):
            raise Refusal(40017, f"{at}: a suggestion is {{'reply': …}} or {{'action': …}}")
        kind = next(iter(s))
        body = s[kind]
        if not isinstance(body, dict):
            raise Refusal(40017, f"{at}/{kind}: expected an object")
        text = body.get("displayText")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_DISPLAY_TEXT:
            raise Refusal(40018, f"{at}/{kind}/displayText: 1–{MAX_DISPLAY_TEXT} characters")
        postback = body.get("postback")
        if postback is not None and (
            not isinstance(postback, dict)
            or not isinstance(postback.get("data"), str)
            or len(postback["data"]) > MAX_POSTBACK
        ):
            raise Refusal(40019, f"{at}/{kind}/postback/data: a string of at most {MAX_POSTBACK} characters")
        if kind == "action":
            kinds = ACTION_KINDS & body.keys()
            if len(kinds) != 1:
                raise Refusal(40017, f"{at}/action: exactly one of {sorted(ACTION_KINDS)}")
            open_url = (body.get("urlAction") or {}).get("openUrl") if "urlAction" in kinds else None
            if isinstance(open_url, dict):
                url = open_url.get("url")
                if not isinstance(url, str) or " " in url:
                    raise Refusal(40052, f"{at}/action/urlAction/openUrl/url: not a web link")
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise Refusal(40052, f"{at}/action/urlAction/openUrl/url: not a web link")


def _cards_of(message) -> list[tuple[str, dict]]:
    """(path, content) of each card of a bot message's "message" object."""
    if not isinstance(message, dict):
        return []
    if isinstance(message.get("generalPurposeCard"), dict):
        content = message["generalPurposeCard"].get("content")
        return [("message/generalPurposeCard/content", content)] if isinstance(content, dict) else []
    carousel = message.get("generalPurposeCardCarousel")
    if isinstance(carousel, dict) and isinstance(carousel.get("content"), list):
        return [
            (f"message/generalPurposeCardCarousel/content/{i}", c)
            for i, c in enumerate(carousel["content"])
            if isinstance(c, dict)
        ]
    return []


def check_card_object(doc: dict) -> None:
    """A botmessage part's object: `{"message": <card or carousel>}` valid against the schema."""
    if set(doc) != {"message"}:
        raise Refusal(60001, f"a bot message object holds only 'message', not {sorted(doc)}")
    for path, card in _cards_of(doc["message"]):
        if "suggestions" in card:
            check_suggestions(card["suggestions"], MAX_CARD_SUGGESTIONS, f"{path}/suggestions")
        for key, most in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
            if isinstance(card.get(key), str) and len(card[key]) > most:
                raise Refusal(40021, f"{path}/{key}: at most {most} characters")
    if errors := schema_errors(doc):
        raise Refusal(60001, f"not a chatbot message: {errors[0]}")


def check_chip_object(doc: dict) -> None:
    """A botsuggestion part's object: `{"suggestions": [1–11 suggestions]}`."""
    if set(doc) != {"suggestions"}:
        raise Refusal(60001, f"a suggested chip list object holds only 'suggestions', not {sorted(doc)}")
    check_suggestions(doc["suggestions"], MAX_CHIPS, "suggestions")
    if errors := schema_errors(doc):
        raise Refusal(60001, f"not a suggested chip list: {errors[0]}")


def check_file_list(items: list) -> None:
    """The file-transfer form: the file's info, and at most one thumbnail's, each with a url."""
    if not 1 <= len(items) <= 2 or not all(isinstance(i, dict) for i in items):
        raise Refusal(60001, "a file message lists one file and at most one thumbnail")
    kinds = [i.get("type") for i in items]
    if kinds.count("file") != 1 or any(k not in ("file", "thumbnail") for k in kinds):
        raise Refusal(60001, f"file infos are of type 'file' (one) and 'thumbnail', not {kinds}")
    for info in items:
        if not isinstance(info.get("url"), str) or not info["url"]:
            raise Refusal(40007, f"the {info['type']} has no url")
        size = info.get("fileSize")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise Refusal(40006, f"the {info['type']}'s fileSize is not a size")
        if info["type"] == "thumbnail" and isinstance(size, int) and size > THUMBNAIL_MAX:
            raise Refusal(40006, "a thumbnail is at most 200 KB")


def parse_geo(text: str) -> tuple[float, float, str | None]:
    """RFC 5870 geo URI with the interface's `rcs-l` label: (latitude, longitude, label)."""
    head, *params = text[4:].split(";")
    lat_s, lon_s = head.split(",")[:2]
    lat, lon = float(lat_s), float(lon_s)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("out of range")
    label = None
    for p in params:
        key, _, value = p.partition("=")
        if key == "rcs-l":
            label = unquote(value)
    return lat, lon, label


def media_urls(part: dict) -> Iterator[str]:
    """The media URLs a (decoded) message part references."""
    ctype, text = part["contentType"], part["contentText"]
    if ctype == FILE_TRANSFER_HTTP_TYPE and isinstance(text, list):
        yield from (i["url"] for i in text if isinstance(i, dict) and isinstance(i.get("url"), str))
    elif ctype == BOT_MESSAGE_TYPE and isinstance(text, dict):
        for _, card in _cards_of(text.get("message")):
            media = card.get("media")
            if isinstance(media, dict):
                yield from (media[k] for k in ("mediaUrl", "thumbnailUrl") if isinstance(media.get(k), str))


def decode_part(raw, index: int) -> dict:
    """One messageList entry, checked and decoded (base64 undone, JSON types checked)."""
    where = f"messageList/{index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("contentType"), str) or "contentText" not in raw:
        raise Refusal(20002, f"{where}: contentType and contentText are required")
    unknown = set(raw) - {"contentType", "contentEncoding", "contentText"}
    if unknown:
        raise Refusal(20002, f"{where}: unknown fields {sorted(unknown)}")
    ctype, encoding, text = raw["contentType"], raw.get("contentEncoding"), raw["contentText"]
    if ctype not in PART_TYPES:
        raise Refusal(40008, f"{where}: contentType {ctype!r} is not a message type of the interface")
    if encoding not in (None, "utf8", "base64"):
        raise Refusal(20002, f"{where}: contentEncoding is utf8 or base64")
    if encoding == "base64":
        if not isinstance(text, str):
            raise Refusal(47001, f"{where}: base64 contentText must be a string")
        try:
            decoded = base64.b64decode(text, validate=True).decode()
            text = decoded if ctype == TEXT_TYPE else orjson.loads(decoded)
        except (binascii.Error, UnicodeDecodeError, orjson.JSONDecodeError):
            raise Refusal(47001, f"{where}: contentText is not base64 of its content") from None
    if ctype == TEXT_TYPE:
        if not isinstance(text, str):
            raise Refusal(47001, f"{where}: text/plain contentText is a string, not {type(text).__name__}")
        if not 1 <= len(text) <= MAX_TEXT:
            raise Refusal(40021, f"{where}: a text message holds 1–{MAX_TEXT} characters")
        if text.startswith("geo:"):
            try:
                parse_geo(text)
            except (ValueError, IndexError):
                raise Refusal(60001, f"{where}: not a geo location") from None
    elif ctype == FILE_TRANSFER_HTTP_TYPE:
        if not isinstance(text, list):
            raise Refusal(47001, f"{where}: a file message's contentText is a JSON list of file infos")
        check_file_list(text)
    else:
        if not isinstance(text, dict):
            raise Refusal(47001, f"{where}: {ctype} contentText is a JSON object, not {type(text).__name__}")
        (check_card_object if ctype == BOT_MESSAGE_TYPE else check_chip_object)(text)
    return {"contentType": ctype, "contentText": text}


def check_message_list(parts) -> list[dict]:
    """A content part (text, file, card) and at most a chip list after it."""
    if not isinstance(parts, list) or not 1 <= len(parts) <= 2:
        raise Refusal(20002, "messageList holds a content part and at most a chip list")
    types = [p.get("contentType") if isinstance(p, dict) else None for p in parts]
    if types[0] in PART_TYPES and types[0] not in CONTENT_PART_TYPES:
        raise Refusal(40008, "messageList starts with the content (text, file or card), not a chip list")
    if len(types) == 2 and types[1] in PART_TYPES and types[1] != SUGGESTION_LIST_TYPE:
        raise Refusal(40008, "the second messageList part can only be a suggested chip list")
    return [decode_part(p, i) for i, p in enumerate(parts)]


def check_send_body(body: dict, chatbot_id: str) -> tuple[str, str, list[dict]]:
    """A messages request body as a MaaP checks it: (messageId, E.164 number, decoded parts)."""
    unknown = set(body) - SEND_FIELDS
    if unknown:
        raise Refusal(20002, f"unknown fields {sorted(unknown)}")
    for name, kind in SEND_REQUIRED.items():
        value = body.get(name)
        if not isinstance(value, kind) or (kind is str and not value):
            raise Refusal(20002, f"{name} is required ({kind.__name__})")
    if body["senderAddress"] != chatbot_id:
        raise Refusal(30008, "senderAddress is not the chatbot of the request path")
    dest = body["destinationAddress"]
    if len(dest) != 1:
        raise Refusal(20002, f"one recipient per request (mass sending is not offered), not {len(dest)}")
    if not isinstance(dest[0], str) or not dest[0].startswith("tel:") or not is_e164(dest[0][4:]):
        raise Refusal(20002, "destinationAddress holds a tel: URI of an E.164 number")
    caps = body["serviceCapability"]
    if not caps or not all(
        isinstance(c, dict) and c.get("capabilityId") == "ChatbotSA" and isinstance(c.get("version"), str) for c in caps
    ):
        raise Refusal(20002, "serviceCapability lists {capabilityId: ChatbotSA, version}")
    if "trafficType" in body and body["trafficType"] not in TRAFFIC_TYPES:
        raise Refusal(20002, f"trafficType is one of {sorted(TRAFFIC_TYPES)} or absent")
    if body["smsSupported"] and not (isinstance(body.get("smsContent"), str) and body["smsContent"]):
        raise Refusal(20002, "smsContent is required when smsSupported is true")
    reports = body.get("reportRequest")
    if reports is not None and (not isinstance(reports, list) or not set(reports) <= REPORTS):
        raise Refusal(20002, f"reportRequest values are among {sorted(REPORTS)}")
    if "imFormat" in body and body["imFormat"] not in IM_FORMATS:
        raise Refusal(20002, f"imFormat is one of {sorted(IM_FORMATS)}")
    if "inReplyTo" in body and not isinstance(body["inReplyTo"], str):
        raise Refusal(20002, "inReplyTo is a contributionId")
    return body["messageId"], dest[0][4:], check_message_list(body["messageList"])


def check_optionals(body: dict) -> None:
    """Optional information as update/chatBotInfo/optionals takes it: the interface's fields,
    types and lengths, one category, an RGB theme colour, coordinates in range, web links."""
    unknown = set(body) - OPTIONAL_INFO.keys()
    if unknown:
        raise Refusal(20002, f"not optional chatbot information: {sorted(unknown)}")
    for key, value in body.items():
        limit = OPTIONAL_INFO[key]
        if key in ("longitude", "latitude"):
            bound = 180 if key == "longitude" else 90
            if not isinstance(value, int | float) or isinstance(value, bool) or not -bound <= value <= bound:
                raise Refusal(20002, f"{key} is a number from -{bound} to {bound}")
        elif key == "category":
            if (
                not isinstance(value, list)
                or not 1 <= len(value) <= MAX_CATEGORIES
                or not all(isinstance(c, str) and 0 < len(c.encode()) <= 50 for c in value)
            ):
                raise Refusal(20002, f"category lists {MAX_CATEGORIES} category of at most 50 bytes")
        elif not isinstance(value, str):
            raise Refusal(20002, f"{key} is a string")
        elif limit is not None and len(value) > limit:
            raise Refusal(40021, f"{key} holds at most {limit} characters")
        elif key == "themeColour" and not _THEME_COLOUR.fullmatch(value):
            raise Refusal(20002, "themeColour is an RGB value such as #000000")
        elif key in _OPTIONAL_URLS and (urlsplit(value).scheme not in ("http", "https") or " " in value):
            raise Refusal(20002, f"{key} is a web link")
        elif key == "emailAddress" and "@" not in value:
            raise Refusal(20002, "emailAddress is an email address")


def check_menu(body: dict) -> None:
    """A persistent menu: `{"menu": {"entries": […]}}`, 2 levels, 3 entries, 5 per submenu."""
    menu = body.get("menu") if set(body) == {"menu"} else None
    if not isinstance(menu, dict) or not isinstance(menu.get("entries"), list):
        raise Refusal(47001, 'the body is {"menu": {"entries": [...]}}')
    entries = menu["entries"]
    if not 1 <= len(entries) <= MENU_TOP_ENTRIES:
        raise Refusal(40016, f"the menu holds 1–{MENU_TOP_ENTRIES} entries")
    leaves = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and set(entry) == {"menu"}:
            sub = entry["menu"]
            if not isinstance(sub, dict) or not isinstance(sub.get("entries"), list) or set(sub) != SUBMENU_KEYS:
                raise Refusal(47002, f"menu/entries/{i}: a submenu is {{displayText, entries}}")
            text = sub.get("displayText")
            if not isinstance(text, str) or not 1 <= len(text) <= MAX_DISPLAY_TEXT:
                raise Refusal(40018, f"menu/entries/{i}/menu/displayText: 1–{MAX_DISPLAY_TEXT} characters")
            if not 1 <= len(sub["entries"]) <= MENU_SUB_ENTRIES:
                raise Refusal(40016, f"menu/entries/{i}: a submenu holds 1–{MENU_SUB_ENTRIES} entries")
            if any(isinstance(e, dict) and "menu" in e for e in sub["entries"]):
                raise Refusal(47002, f"menu/entries/{i}: the menu has 2 levels at most")
            check_suggestions(sub["entries"], MENU_SUB_ENTRIES, f"menu/entries/{i}/menu/entries")
            leaves.extend(sub["entries"])
        else:
            check_suggestions([entry], 1, "menu/entries", first=i)
            leaves.append(entry)
    for leaf in leaves:
        if errors := schema_errors({"suggestions": [leaf]}):
            raise Refusal(60001, f"not a menu entry: {errors[0]}")


# -- magic numbers ---------------------------------------------------------------------------------


class Behaviour(str, enum.Enum):
    NOT_CAPABLE = "not_capable"  # 0, 9, 00: accepted, then failed with code 2
    NORMAL = "normal"  # 1–6: delivered, then displayed
    NEVER_DELIVERED = "never_delivered"  # 7
    FLAKY = "flaky"  # 8: 503 {"errorCode": -1} to the first sends, then normal
    # 44: delivered and read, but the delivered/displayed callbacks are lost on the way (a
    # revoke still gets its answer: revokeFail, it was delivered)
    CALLBACKS_LOST = "callbacks_lost"
    UNREAD = "unread"  # 55: delivered, never displayed (the recipient does not open it)


# Longest matching suffix wins; two-digit rows first.
_SUFFIXES: tuple[tuple[str, Behaviour], ...] = (
    ("00", Behaviour.NOT_CAPABLE),
    ("44", Behaviour.CALLBACKS_LOST),
    ("55", Behaviour.UNREAD),
    ("0", Behaviour.NOT_CAPABLE),
    ("9", Behaviour.NOT_CAPABLE),
    ("7", Behaviour.NEVER_DELIVERED),
    ("8", Behaviour.FLAKY),
)


def behaviour_of(number: str) -> Behaviour:
    """The simulated behaviour for a number, by its last digits."""
    for suffix, behaviour in _SUFFIXES:
        if number.endswith(suffix):
            return behaviour
    return Behaviour.NORMAL


DEFAULT_MAX_MESSAGES = 20_000


@dataclass(frozen=True)
class SimulatorTiming:
    """Delays and failure rates; tests make them tiny, load tests make the operator slow."""

    delivery_delay_s: float = 0.5  # accept → delivered
    display_delay_s: float = 1.0  # delivered → displayed
    revoke_delay_s: float = 0.2  # revoke → revokeOk (within 0.5 s)
    # accept → failed(2) for a not-capable number; None: as long as a delivery takes (a MaaP
    # learns a terminal cannot take 5G messages no sooner than it delivers to one that can)
    not_capable_delay_s: float | None = None
    latency_s: float = 0.0  # added to every MaaP answer
    failure_rate: float = 0.0  # share of sends answered 503 {"errorCode": -1}
    flaky_failures: int = 2  # how many sends of an …8 message get 503
    callback_batch: int = 200  # statuses per deliveryNotification request at most
    # Messages kept (for their threads, revokes and repeated sends), at most: the oldest are
    # forgotten beyond this. ~7 KB each, so a sandbox running for days holds ~140 MB of them.
    max_messages: int = DEFAULT_MAX_MESSAGES
    token_lifetime_s: int = 7200
    temp_media_s: float = 3 * 86_400  # how long a temporary upload lives
    callback_retry_s: float = 30.0  # how long a callback is tried while the platform is down
    # The operator's audit of a chatbot's updated menu or optional information: this long after
    # each update (None: only when a test asks, e.g. `approve_optionals`).
    audit_delay_s: float | None = None


@dataclass
class SimMessage:
    message_id: str
    chatbot_id: str  # the chatbot that sent it (its callbacks are signed with that one's token)
    number: str
    handset_id: str
    parts: list[dict]  # decoded: contentText a str, dict or list
    conversation_id: str | None
    contribution_id: str | None
    reports: frozenset[str]
    state: str = "accepted"  # accepted, delivered, displayed, failed, revoked
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)


@dataclass
class SimChatbot:
    """One chatbot provisioned on this MaaP: who it is, what proves it, its current token."""

    chatbot_id: str
    app_id: str
    app_key: str
    callback_token: str
    token: str | None = None
    token_expires: float = 0.0
    tokens_issued: int = 0
    messages_accepted: int = 0
    info: dict = field(default_factory=dict)
    pending_optionals: dict = field(default_factory=dict)
    # Audits are sent in the order the updates came (their notices name no update).
    audit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def path(self) -> str:
        """The chatbot id as it appears in request and callback paths (percent-encoded)."""
        return quote(self.chatbot_id, safe="")


SIM_CHATBOT = web.RequestKey("sim_chatbot", SimChatbot)  # the chatbot a request is for


MAX_USER_TURNS = 200  # what a handset's user sent, kept per handset (the oldest are dropped)
# What the state file keeps at most: the newest messages (and handsets), and media.
KEPT_MESSAGES = 2000
KEPT_MEDIA_BYTES = 16 * 1024 * 1024


@dataclass
class UserTurn:
    """What the handset's user sent (typed, tapped, shared): shown in the thread beside the
    chatbot's messages."""

    turn_id: str
    kind: str  # text | tap | menu | location | file | device
    text: str
    delivered: bool | None = None  # the platform took the callback (None: on its way)


@dataclass
class Handset:
    handset_id: str
    number: str
    message_ids: list[str] = field(default_factory=list)
    # The conversation in order: the chatbot's message ids and the user's turns.
    thread: deque[str | UserTurn] = field(default_factory=deque)
    conversation_id: str | None = None  # of a conversation the user started (no message yet)
    # The chatbot the user chose to write to first (found in the directory), until one writes.
    chatbot_id: str | None = None
    version: int = 0  # bumped on every change (the page's live refresh watches it)
    user_turns: int = 0

    def add(self, item: str | UserTurn) -> None:
        """Append a message id or a user turn to the thread (the oldest user turn goes beyond
        MAX_USER_TURNS; messages are forgotten with the simulator's own bound)."""
        self.thread.append(item)
        self.version += 1
        if isinstance(item, UserTurn):
            self.user_turns += 1
            if self.user_turns > MAX_USER_TURNS:
                self.thread.remove(next(i for i in self.thread if isinstance(i, UserTurn)))
                self.user_turns -= 1

    def touch(self) -> None:
        self.version += 1


@dataclass
class SimMedia:
    media_id: str
    data: bytes
    content_type: str
    file_name: str | None
    mode: str  # "temp" | "perm" | "user" (sent by a handset)
    url: str
    until: float | None = None  # temp: when it expires


class RouteAccessLogger(AbstractAccessLogger):
    """Access log naming the route template, never the concrete path or query (no PII); at
    DEBUG like the platform's own, a server error at WARNING."""

    def log(self, request, response, time):  # noqa: A002 - aiohttp's signature
        level = logging.WARNING if response.status >= 500 else logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        try:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "-"
        except AttributeError:
            route = "-"
        self.logger.log(
            level, "%s %s %s %s %.1fms", request.remote, request.method, route, response.status, time * 1000
        )


def collect_suggestions(node) -> list[dict]:
    """Every suggestion in a card or chip list, in document order."""
    found: list[dict] = []

    def walk(n):
        if isinstance(n, dict):
            for key, value in n.items():
                if key == "suggestions" and isinstance(value, list):
                    found.extend(s for s in value if isinstance(s, dict))
                else:
                    walk(value)
        elif isinstance(n, list):
            for item in n:
                walk(item)

    walk(node)
    return found


def suggestion_label(s: dict) -> str:
    body = s.get("reply") or s.get("action") or {}
    return str(body.get("displayText") or "?")


def default_card_html(content_type: str, content_text) -> Markup:
    """A readable rendering of one message part: text, a location, a file, a card's text and
    media, a chip list; with the JSON underneath."""
    if content_type == TEXT_TYPE and isinstance(content_text, str):
        if content_text.startswith("geo:"):
            try:
                lat, lon, label = parse_geo(content_text)
            except (ValueError, IndexError):
                return Markup('<p class="text">{}</p>').format(content_text)
            return Markup('<p class="location">📍 {} ({}, {})</p>').format(label or "", lat, lon)
        return Markup('<p class="text">{}</p>').format(content_text)
    data = content_text
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Markup("<pre>{}</pre>").format(content_text)
    pieces = []
    if content_type == FILE_TRANSFER_HTTP_TYPE and isinstance(data, list):
        for info in data:
            if isinstance(info, dict) and info.get("type") == "file":
                pieces.append(
                    Markup('<p class="file">📎 <a href="{}">{}</a> [{}]</p>').format(
                        info.get("url", ""), info.get("fileName") or "file", info.get("contentType", "")
                    )
                )
    message = data.get("message", {}) if isinstance(data, dict) else {}
    for _, card in _cards_of(message):
        media = card.get("media") or {}
        block = Markup('<div class="card">')
        if media.get("mediaUrl"):
            block += Markup('<div class="media">[{}] {}</div>').format(
                media.get("mediaContentType", "media"), media["mediaUrl"]
            )
        if card.get("title"):
            block += Markup("<h3>{}</h3>").format(card["title"])
        if card.get("description"):
            block += Markup("<p>{}</p>").format(card["description"])
        pieces.append(block + Markup("</div>"))
    pretty = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    pieces.append(Markup("<details><summary>{}</summary><pre>{}</pre></details>").format(content_type, pretty))
    return Markup("").join(pieces)


# The handset pages' one style block, allowed by its hash, and one script file of this server
# ('self': the live refresh); what a card or a user sent is shown as text (a sandbox page must
# not be a way in either). Cards are drawn by the cards' own renderer in a handset look
# (cards/looks.py), as the editor's phone preview draws them.
_HANDSET_PAGE_CSS = """body{margin:0;min-height:100vh;display:flex;flex-direction:column}
.hs-top h1{margin:0;font-size:inherit;font-weight:inherit}
.hs-looks{display:flex;flex-wrap:wrap;gap:4px 10px;padding:4px 12px;font-size:12px;color:var(--muted)}
.hs-looks a{color:var(--accent);text-decoration:none}.hs-looks a[aria-current]{font-weight:700;text-decoration:underline}
.hs-thread{flex:1;display:flex;flex-direction:column;gap:10px;padding:12px;max-width:560px;width:100%;margin:0 auto}
.msg{display:flex;flex-direction:column;gap:6px}.msg.user{align-items:flex-end}
.msg .meta{font-size:11px;color:var(--muted)}.msg.user.lost .hs-mine{outline:2px solid #d33}
.msg p.text{margin:0;padding:10px 12px;max-width:86%;white-space:pre-line;overflow-wrap:anywhere;background:var(--surface);border-radius:var(--bubble-radius)}
.msg.user p.text{background:var(--mine);color:var(--mine-ink);border-radius:var(--mine-radius)}
.msg .conversation{width:100%}.msg .file,.msg .location{margin:0}
.msg details.json{font-size:11px;color:var(--muted)}.msg details.json pre{white-space:pre-wrap;max-height:240px;overflow:auto}
.hs-menu{display:flex;flex-wrap:wrap;gap:6px;padding:8px 10px;background:var(--top);border-top:1px solid var(--top-line)}
.hs-menu form.tap{display:inline}.hs-menu details{display:inline-block}
.hs-menu button,.hs-menu summary{border:0;border-radius:var(--chip-radius);padding:6px 12px;font:inherit;font-size:14px;background:var(--chip-bg);color:var(--chip-ink);cursor:pointer;list-style:none}
.hs-menu details[open]>form{display:inline;margin-left:4px}
.hs-extra{padding:4px 12px 12px;font-size:13px;color:var(--muted)}.hs-extra form{margin:6px 0}
.hs-list{list-style:none;margin:0;padding:0;max-width:560px;width:100%;margin:0 auto}
.hs-list li a{display:flex;gap:12px;align-items:center;padding:12px;color:var(--ink);text-decoration:none;border-bottom:1px solid var(--line)}
.hs-list .hs-preview{display:block;font-size:13px;color:var(--muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:60vw}
.hs-open{padding:12px;max-width:560px;width:100%;margin:0 auto}.hs-empty{padding:12px;color:var(--muted)}"""
_HANDSET_STYLE = page_css() + "\n" + _HANDSET_PAGE_CSS
_HANDSET_SCRIPT_PATH = "/handset/static/refresh.js"
_HANDSET_HEADERS = page_headers(_HANDSET_STYLE, images=True)

# The page's own words (the card's are its own; a suggestion's kind is named in the page's
# language by the cards' renderer).
HANDSET_WORDS = {
    "en": {
        "handsets": "Virtual handsets",
        "none": "No messages yet.",
        "open": "Open",
        "open_label": "Open the handset of a number (E.164)",
        "all": "all handsets",
        "you": "you",
        "lost": "not delivered to the chatbot",
        "message": "Message",
        "send": "Send",
        "more": "More",
        "share_location": "Share location",
        "send_file": "Send file",
        "share_device": "Share device specifics",
        "messages": "messages",
        "light": "Light",
        "dark": "Dark",
        "menu": "Menu",
        "kinds": {
            "text": "text",
            "tap": "tap",
            "menu": "menu",
            "location": "location",
            "file": "file",
            "device": "device",
        },
    },
    "zh-CN": {
        "handsets": "虚拟手机",
        "none": "还没有消息。",
        "open": "打开",
        "open_label": "打开一个号码的手机（E.164）",
        "all": "全部会话",
        "you": "我",
        "lost": "未送达聊天机器人（not delivered to the chatbot）",
        "message": "消息",
        "send": "发送",
        "more": "更多",
        "share_location": "发送位置",
        "send_file": "发送文件",
        "share_device": "共享设备信息",
        "messages": "条消息",
        "light": "浅色",
        "dark": "深色",
        "menu": "菜单",
        "kinds": {
            "text": "文字",
            "tap": "点按",
            "menu": "菜单",
            "location": "位置",
            "file": "文件",
            "device": "设备信息",
        },
    },
}
_PAGES = jinja2.Environment(
    autoescape=True,
    loader=jinja2.DictLoader(
        {
            "looks": LOOK_BAR,
            "index.html": """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>MaaP simulator handsets</title><style>"""
            + _HANDSET_STYLE
            + """</style></head><body class="{{ body_class }}">
<header class="hs-top"><div class="hs-title"><h1 class="hs-name">{{ words.handsets }}</h1></div></header>
{% include "looks" %}
{% if not handsets %}<p class="hs-empty">{{ words.none }}</p>{% endif %}
<ul class="hs-list" data-testid="handset-list">{% for h in handsets %}<li><a href="/handset/{{ h.handset_id }}" data-testid="handset-row"><span class="hs-logo" aria-hidden="true">{{ mask(h.number)[-2:] }}</span>
<div class="hs-title"><span class="hs-name">{{ mask(h.number) }}</span><span class="hs-preview">{{ previews.get(h.handset_id, "") }}</span></div>
<span class="hs-meta">({{ h.message_ids|length }} {{ words.messages }})</span></a></li>{% endfor %}</ul>
<form method="post" action="/handset" class="hs-open"><label>{{ words.open_label }}
<input name="number" placeholder="+8613800001231" maxlength="16" required></label>
<button type="submit">{{ words.open }}</button></form></body></html>""",
            "handset.html": """<!doctype html><html lang="{{ lang }}" data-version="{{ handset.version }}"
data-version-url="/handset/{{ handset.handset_id }}/version"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ mask(handset.number) }}</title>
<style>"""
            + _HANDSET_STYLE
            + """</style><script src="""
            + '"'
            + _HANDSET_SCRIPT_PATH
            + '"'
            + """ defer></script></head><body class="{{ body_class }}">
<header class="hs-top"><a class="hs-back" href="/handset" aria-label="{{ words.all }}" data-testid="handset-back">‹</a><span class="hs-logo" aria-hidden="true">{{ bot_name[:1] }}</span>
<div class="hs-title"><span class="hs-name" data-testid="chatbot-name">{{ bot_name }}</span><h1 class="hs-sub">{{ mask(handset.number) }}</h1></div><span class="hs-more" aria-hidden="true">⋮</span></header>
{% include "looks" %}
<main class="hs-thread">
{% for item in thread %}{% if item.turn_id is defined %}<div class="msg user{% if item.delivered == false %} lost{% endif %}" data-testid="user-turn" data-kind="{{ item.kind }}">
<p class="text">{{ item.text }}</p>
<div class="meta">{{ words.you }} · {{ words.kinds.get(item.kind, item.kind) }}{% if item.delivered == false %} · {{ words.lost }}{% endif %}</div></div>
{% else %}{% set m = item %}<div class="msg bot" id="m-{{ m.message_id }}" data-testid="bot-message">
{{ draw(m) }}
<div class="meta">{{ m.message_id }} — {{ m.state }}</div>
</div>{% endif %}{% endfor %}
</main>
{% if menu %}<div class="menu hs-menu" data-testid="menu" aria-label="{{ words.menu }}">{% for entry in menu %}{% if entry.entries is defined %}<details><summary>{{ entry.label }}</summary>
{% for sub in entry.entries %}<form method="post" action="/handset/{{ handset.handset_id }}/menu" class="tap">
<input type="hidden" name="index" value="{{ sub.index }}"><button type="submit">{{ sub.label }}</button></form>{% endfor %}</details>
{% else %}<form method="post" action="/handset/{{ handset.handset_id }}/menu" class="tap">
<input type="hidden" name="index" value="{{ entry.index }}"><button type="submit">{{ entry.label }}</button></form>
{% endif %}{% endfor %}</div>{% endif %}
<form method="post" action="/handset/{{ handset.handset_id }}/reply" class="compose hs-compose">
<input name="text" maxlength="2000" autofocus aria-label="{{ words.message }}" placeholder="{{ words.message }}" data-testid="compose-text"><button type="submit" data-testid="compose-send">{{ words.send }}</button></form>
<details class="hs-extra"><summary>{{ words.more }}</summary>
<form method="post" action="/handset/{{ handset.handset_id }}/location">
<input name="latitude" value="39.9087" size="8"><input name="longitude" value="116.3975" size="8">
<input name="label" value="天安门" maxlength="100"><button type="submit">{{ words.share_location }}</button></form>
<form method="post" action="/handset/{{ handset.handset_id }}/file" enctype="multipart/form-data">
<input type="file" name="file"><button type="submit">{{ words.send_file }}</button></form>
<form method="post" action="/handset/{{ handset.handset_id }}/device">
<button type="submit">{{ words.share_device }}</button></form></details>
</body></html>""",
        }
    ),
)


def page_choices(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """The look, theme and language of a handset page (cards.looks.page_choices)."""
    return choose_look(request.query, request.cookies, tuple(HANDSET_WORDS))


def draw_message(
    message: SimMessage,
    *,
    tap_action: str,
    media_src: Callable[[MediaView], str | None],
    lang: str,
    fallback: Callable[[str, object], str] = default_card_html,
) -> Markup:
    """A chatbot's message as the handset shows it: text in a bubble, cards and chip lists by the
    cards' renderer (suggestions name their kind; a tap posts the suggestion's place among the
    message's suggestions), anything else as `fallback` draws it; the JSON under a fold."""
    pieces = []
    base = 0  # suggestions of earlier parts: a tap's index counts every part's (suggestions_of)
    for part in message.parts:
        ctype, text = part.get("contentType", ""), part.get("contentText", "")
        doc = text
        if isinstance(doc, str) and ctype in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE):
            try:
                doc = orjson.loads(doc)
            except orjson.JSONDecodeError:
                doc = None
        if ctype in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE) and isinstance(doc, dict):
            count = len(collect_suggestions(doc))
            try:
                html = render_html(
                    doc,
                    page=False,
                    styled=False,
                    kinds=True,
                    lang=lang,
                    form_action=tap_action,
                    form_fields={"message_id": message.message_id, "base": str(base)},
                    media_src=media_src,
                )
            except Exception:  # noqa: BLE001 — a card the renderer cannot draw is shown as sent
                html = fallback(ctype, text)
            base += count
            pretty = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
            pieces.append(Markup(html))
            pieces.append(
                Markup('<details class="json"><summary>{}</summary><pre>{}</pre></details>').format(ctype, pretty)
            )
        else:
            pieces.append(Markup(fallback(ctype, text)))
    return Markup("").join(pieces)


def message_preview(message: SimMessage) -> str:
    """One line for the conversation list: the message's text or its first card's title."""
    for part in message.parts:
        text = part.get("contentText")
        if isinstance(text, str) and part.get("contentType") == TEXT_TYPE:
            return text[:80]
        if isinstance(text, str):
            try:
                text = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
        if isinstance(text, dict):
            for _, card in _cards_of(text.get("message") or {}):
                if card.get("title"):
                    return str(card["title"])[:80]
    return ""


@dataclass(frozen=True)
class MenuEntry:
    """One tappable entry of a chatbot's persistent menu as the handset shows it."""

    index: int  # its place among the menu's tappable entries (depth first)
    label: str
    suggestion: dict  # {"reply": …} or {"action": …}


@dataclass(frozen=True)
class SubMenu:
    label: str
    entries: list[MenuEntry]


def menu_entries(menu: dict) -> list[MenuEntry | SubMenu]:
    """The persistent menu (`{"entries": […]}` as find/chatBotInfo holds it) for the handset:
    entries and submenus, each tappable entry numbered depth first."""
    shown: list[MenuEntry | SubMenu] = []
    count = 0

    def entry(s: dict) -> MenuEntry:
        nonlocal count
        count += 1
        return MenuEntry(count - 1, suggestion_label(s), s)

    for item in (menu or {}).get("entries") or []:
        if not isinstance(item, dict):
            continue
        if "menu" in item and isinstance(item["menu"], dict):
            sub = item["menu"]
            shown.append(
                SubMenu(
                    str(sub.get("displayText") or "?"),
                    [entry(e) for e in sub.get("entries") or [] if isinstance(e, dict)],
                )
            )
        else:
            shown.append(entry(item))
    return shown


def tappable(shown: list[MenuEntry | SubMenu]) -> list[MenuEntry]:
    return [e for item in shown for e in (item.entries if isinstance(item, SubMenu) else [item])]


# The sandbox chatbot's identity and credentials (public by design: they open only the simulator).
SANDBOX_CHATBOT_ID = "sip:hongyan@botplatform.sandbox.local"
SANDBOX_APP_ID = "sandbox-app"
SANDBOX_APP_KEY = "sandbox-key"
SANDBOX_CALLBACK_TOKEN = "sandbox-callback-token"


@functools.lru_cache(maxsize=256)
def _http_date(value: str) -> bool:
    """Whether `value` reads as an HTTP date (a client sends the same one for a second: cached)."""
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    return True


def cn_time(ts: float) -> str:
    """The interface's callback time form, e.g. 2020-01-17T14:42:20.840+08:00."""
    at = datetime.fromtimestamp(ts, CHINA_TZ)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+08:00"


def utc_z(ts: float) -> str:
    """The interface's media validity form, e.g. 2017-04-25T12:17:07Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MaapSimulator:
    """An in-process MaaP on loopback speaking the CN CSP interface (see module doc)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_base_url: str | None = None,
        callback_token: str = SANDBOX_CALLBACK_TOKEN,
        *,
        app_id: str = SANDBOX_APP_ID,
        app_key: str = SANDBOX_APP_KEY,
        chatbot_id: str = SANDBOX_CHATBOT_ID,
        api_version: str = "v1",
        base_path: str = "",
        timing: SimulatorTiming = SimulatorTiming(),
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        render_card: Callable[[str, object], str] = default_card_html,
        id_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
        state_path: Path | None = None,
    ):
        self.host, self.port = host, port
        # Kept across restarts in this file (None: in memory only).
        self.snapshot = Snapshot(state_path, self._state) if state_path is not None else None
        self.callback_base_url = callback_base_url.rstrip("/") if callback_base_url else None
        self.api_version = api_version
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.timing = timing
        self.clock = clock
        self.rng = rng or random.Random()
        self.render_card = render_card
        self.new_id = id_factory
        # In the order accepted: the first is forgotten first (O(1), where popping a plain dict's
        # first key rescans the slots its earlier deletions left).
        self.messages: OrderedDict[str, SimMessage] = OrderedDict()
        self.handsets: dict[str, Handset] = {}
        self._handset_by_number: dict[str, str] = {}
        self._send_attempts: dict[str, int] = {}
        # Sends of a message id already accepted (answered, not delivered again), per id: what a
        # platform process that died between a send and its record makes; anything else is a bug.
        self.repeated_sends: dict[str, int] = {}
        self.media: dict[str, SimMedia] = {}
        self._media_by_url: dict[str, SimMedia] = {}
        # Every chatbot provisioned here; the first is the one the constructor names.
        self.chatbots: dict[str, SimChatbot] = {}
        self.primary = self.add_chatbot(chatbot_id, app_id, app_key, callback_token)
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.callbacks_sent = 0
        self.callbacks_failed = 0
        self.callbacks_lost = 0  # statuses of …44 numbers never sent
        self._outbox: deque[tuple[str, dict]] = deque()  # (chatbot id, delivery info)
        self._outbox_ready = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_chatbot(self, chatbot_id: str, app_id: str, app_key: str, callback_token: str) -> SimChatbot:
        """Provision a chatbot (as the operator does at a brand's onboarding): it may then ask
        for tokens and send, and its callbacks are signed with its own callback token. Provisioning
        one again changes its credentials and keeps what it holds (information, menu, tokens)."""
        bot = self.chatbots.get(chatbot_id)
        if bot is not None:
            bot.app_id, bot.app_key, bot.callback_token = app_id, app_key, callback_token
            return bot
        bot = SimChatbot(chatbot_id, app_id, app_key, callback_token)
        bot.info = self._initial_info(chatbot_id)
        self.chatbots[chatbot_id] = bot
        return bot

    # The primary chatbot's identity, as the single-chatbot sandbox and its tests know it.
    @property
    def chatbot_id(self) -> str:
        return self.primary.chatbot_id

    @property
    def app_id(self) -> str:
        return self.primary.app_id

    @property
    def app_key(self) -> str:
        return self.primary.app_key

    @property
    def callback_token(self) -> str:
        return self.primary.callback_token

    @property
    def chatbot_path(self) -> str:
        return self.primary.path

    @property
    def tokens_issued(self) -> int:
        return self.primary.tokens_issued

    @property
    def chatbot_info(self) -> dict:
        return self.primary.info

    @property
    def pending_optionals(self) -> dict:
        return self.primary.pending_optionals

    def client_settings(self) -> CnCspSettings:
        """Settings for `CnCspMaap` pointing at this simulator."""
        return CnCspSettings(
            server_root=f"{self.host}:{self.port}{self.base_path}",
            chatbot_id=self.chatbot_id,
            app_id=self.app_id,
            app_key=self.app_key,
            api_version=self.api_version,
            scheme="http",
        )

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 256 * 1024, middlewares=[self._noting_changes])
        bot = f"{self.base_path}/bot/{self.api_version}/{{chatbotId}}"
        api = self._api
        app.add_routes(
            [
                web.post(f"{bot}/accessToken", api(self._access_token, token=False)),
                web.post(f"{bot}/messages", api(self._messages)),
                web.post(f"{bot}/revoke", api(self._revoke)),
                web.post(f"{bot}/medias/upload", api(self._upload)),
                web.get(f"{bot}/medias/download", api(self._media_download)),
                web.delete(f"{bot}/medias/delete", api(self._media_delete)),
                web.get(f"{bot}/find/chatBotInfo", api(self._find_info)),
                web.post(f"{bot}/update/chatBotInfo/optionals", api(self._update_optionals)),
                web.post(f"{bot}/update/chatBotInfo/menu", api(self._update_menu)),
                web.get("/media/{media_id}", self._download),
                web.get("/counts", self._counts),
                web.get("/handset", self._handset_index),
                web.post("/handset", self._open_handset),
                web.get(_HANDSET_SCRIPT_PATH, self._handset_script),
                web.get("/handset/message/{message_id}", self._handset_for_message),
                web.get("/handset/{handset_id}", self._handset_page),
                web.get("/handset/{handset_id}/version", self._handset_version),
                web.post("/handset/{handset_id}/tap", self._tap),
                web.post("/handset/{handset_id}/menu", self._menu_tap),
                web.post("/handset/{handset_id}/reply", self._reply),
                web.post("/handset/{handset_id}/location", self._location),
                web.post("/handset/{handset_id}/file", self._file),
                web.post("/handset/{handset_id}/device", self._device),
            ]
        )
        return app

    async def start(self) -> None:
        """Serve on host:port (port 0 picks a free one; `self.port` then holds it), with what the
        state file kept from before, if there is one."""
        doc = self.snapshot.read() if self.snapshot is not None else None
        if doc is not None:
            self._restore(doc)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=64)
        )
        self._runner = web.AppRunner(self.make_app(), access_log_class=RouteAccessLogger)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._spawn(self._flush_statuses())
        if doc is not None:
            self._resume()
        log.info("MaaP simulator on %s", self.url)

    async def stop(self) -> None:
        for m in self.messages.values():
            for t in m.timers:
                t.cancel()
        if self.snapshot is not None:
            await self.snapshot.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> MaapSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _answer(status: int, body: dict, headers: dict | None = None) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return self._answer(status, {"errorCode": code, "errorMessage": message})

    def _api(self, handler, *, token: bool = True):
        """A route of the interface: latency, the path and header checks, the token, and
        refusals answered with their code."""

        async def route(request: web.Request) -> web.StreamResponse:
            await self._latency()
            try:
                self._check_request(request, token=token)
                return await handler(request)
            except Refusal as r:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("refused %s: %s", handler.__name__, r)
                return self._error(r.status, r.code, r.message)

        return route

    def _check_request(self, request: web.Request, *, token: bool) -> None:
        prefix = f"{self.base_path}/bot/{self.api_version}/"
        raw = request.raw_path.split("?", 1)[0]
        segment = raw[len(prefix) :].split("/", 1)[0] if raw.startswith(prefix) else ""
        bot = self.chatbots.get(unquote(segment))
        if bot is None:
            raise Refusal(20003, "unknown chatbot", 404)
        request[SIM_CHATBOT] = bot
        if ":" in segment or "@" in segment:
            raise Refusal(20003, "the chatbot id must be percent-encoded in the path (sip%3A…%40…)", 404)
        if not _http_date(request.headers.get("date", "")):
            raise Refusal(20003, "a date header (RFC 7231, GMT) is required")
        if not token:
            return
        auth = request.headers.get("authorization", "")
        scheme, _, presented = auth.partition(" ")
        if scheme.lower() != "accesstoken" or not presented:
            raise Refusal(41001, "authorization: accessToken <token> is required", 401)
        if not bot.token or not hmac.compare_digest(presented, bot.token):
            raise Refusal(40001, "invalid accessToken", 401)
        if self.clock() >= bot.token_expires:
            raise Refusal(42001, "accessToken expired", 401)

    async def _json(self, request: web.Request) -> dict:
        if request.content_type != "application/json":
            raise Refusal(20003, "content-type: application/json is required")
        raw = await request.read()
        if not raw:
            raise Refusal(44002, "the request body is empty")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refusal(47001, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refusal(47001, "the body must be a JSON object")
        return data

    async def _latency(self) -> None:
        if self.timing.latency_s > 0:
            await asyncio.sleep(self.timing.latency_s)

    def _later(self, message: SimMessage, delay: float, fn: Callable[[], None]) -> None:
        message.timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _now(self) -> str:
        return cn_time(self.clock())

    def _forget_oldest(self) -> None:
        """Bound memory on long load runs: drop the oldest message (and an emptied handset)."""
        _, old = self.messages.popitem(last=False)
        for t in old.timers:
            t.cancel()
        handset = self.handsets[old.handset_id]
        handset.message_ids.remove(old.message_id)
        handset.thread.remove(old.message_id)
        if not handset.message_ids:
            del self.handsets[handset.handset_id]
            del self._handset_by_number[handset.number]

    def _handset(self, number: str) -> Handset:
        hid = self._handset_by_number.get(number)
        if hid is None:
            hid = secrets.token_urlsafe(9)
            self._handset_by_number[number] = hid
            self.handsets[hid] = Handset(hid, number)
        return self.handsets[hid]

    def _initial_info(self, chatbot_id: str) -> dict:
        """A chatbot's information as find/chatBotInfo answers it (the interface's example
        fields, sandbox values)."""
        address = chatbot_id.removeprefix("sip:")
        access_no, _, domain = address.partition("@")
        return {
            "accessNo": access_no,
            "domain": domain,
            "serviceName": "鸿雁沙箱",
            "serviceIcon": "",
            "TCPage": "",
            "SMSNumber": access_no,
            "verified": False,
            "authName": "",
            "authExpires": "",
            "authOrg": "",
            "status": 1,  # 1: debugging (a sandbox)
            "criticalChatbot": False,
            "url": self.callback_base_url or "",
            "version": 2,
            "provider": "Hongyan sandbox",
            "category": ["other"],
            "serviceDescription": "",
            "longitude": 116.3975,
            "latitude": 39.9087,
            "callBackNumber": "",
            "themeColour": "#000000",
            "serviceWebsite": "",
            "emailAddress": "",
            "backgroundImage": "",
            "address": "",
            "menu": {},
            "cssStyle": "",
        }

    # -- media store ---------------------------------------------------------------------------

    def _store_media(self, data: bytes, content_type: str, file_name: str | None, mode: str) -> SimMedia:
        media_id = self.new_id()
        until = self.clock() + self.timing.temp_media_s if mode == "temp" else None
        item = SimMedia(media_id, data, content_type, file_name, mode, f"{self.url}/media/{media_id}", until)
        self.media[media_id] = item
        self._media_by_url[item.url] = item
        return item

    def _issued(self, url: str, *, uploads_only: bool = False) -> SimMedia:
        item = self._media_by_url.get(url)
        if item is None or (uploads_only and item.mode == "user"):
            raise Refusal(40007, "not a media url this MaaP issued")
        if item.until is not None and self.clock() >= item.until:
            raise Refusal(40022, "the temporary file has expired")
        return item

    def _count(self, mode: str) -> int:
        return sum(1 for m in self.media.values() if m.mode == mode)

    def _purge_expired(self) -> None:
        """Temporary files past their validity no longer count nor can be fetched; their URLs
        are still known, so a send naming one is answered 40022 (expired), not 40007."""
        now = self.clock()
        for item in [m for m in self.media.values() if m.until is not None and now >= m.until]:
            del self.media[item.media_id]
            item.data = b""

    # -- outbound callbacks -----------------------------------------------------------------

    async def _callback(self, path: str, body: dict, bot: SimChatbot | None = None) -> bool:
        """POST a signed callback to the platform. Like a MaaP, it tries again (backing off up
        to a second apart) while the platform cannot be reached or answers 5xx, for up to
        `timing.callback_retry_s`; a 4xx ends it (repeating will not help)."""
        if self.callback_base_url is None or self._session is None:
            return False
        # Already percent-encoded (the chatbot id): aiohttp must not decode %3A / %40.
        url = URL(f"{self.callback_base_url}/{path}", encoded=True)
        raw = orjson.dumps(body)
        give_up = time.monotonic() + self.timing.callback_retry_s
        pause = 0.05
        while True:
            headers = {
                "content-type": "application/json",
                "accept": "application/json",
                **signed_headers((bot or self.primary).callback_token, self.clock()),
            }
            try:
                async with self._session.post(url, data=raw, headers=headers) as resp:
                    await resp.read()
                    if resp.status < 300:
                        self.callbacks_sent += 1
                        return True
                    if 400 <= resp.status < 500:
                        break
            except (TimeoutError, aiohttp.ClientError):
                pass
            if time.monotonic() + pause > give_up:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        self.callbacks_failed += 1
        log.warning("callback to %s failed", path.split("/", 1)[0])
        return False

    def _status(self, message: SimMessage, status: str, error_code: int | None = None, error: str = "") -> None:
        if status not in ("failed", "revokeOk", "revokeFail") and status not in message.reports:
            return
        if status in ("delivered", "displayed") and behaviour_of(message.number) is Behaviour.CALLBACKS_LOST:
            self.callbacks_lost += 1
            return
        info: dict[str, str | int] = {"messageId": message.message_id, "status": status}
        if error_code is not None:
            info["errorCode"] = error_code
            info["errorMessage"] = error
        info["dateTime"] = self._now()
        info["destinationAddress"] = message.chatbot_id
        info["senderAddress"] = f"tel:{message.number}"
        self._outbox.append((message.chatbot_id, info))
        self._outbox_ready.set()

    async def _flush_statuses(self) -> None:
        """Send queued statuses as deliveryInfoList batches, one request at a time, so the
        statuses of a message arrive in the order they happened."""
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                # A batch holds one chatbot's statuses (each is signed and addressed as its own).
                chatbot_id = self._outbox[0][0]
                batch = []
                while self._outbox and self._outbox[0][0] == chatbot_id and len(batch) < self.timing.callback_batch:
                    batch.append(self._outbox.popleft()[1])
                bot = self.chatbots[chatbot_id]
                await self._callback(f"deliveryNotification/{bot.path}/status", {"deliveryInfoList": batch}, bot)

    def _deliver(self, message: SimMessage) -> None:
        if message.state != "accepted":
            return
        message.state = "delivered"
        self._changed()
        self._status(message, "delivered")
        if behaviour_of(message.number) is not Behaviour.UNREAD:
            self._later(message, self.timing.display_delay_s, lambda: self._display(message))

    def _display(self, message: SimMessage) -> None:
        if message.state == "delivered":
            message.state = "displayed"
            self._changed()
            self._status(message, "displayed")

    def _fail_not_capable(self, message: SimMessage) -> None:
        if message.state == "accepted":
            message.state = "failed"
            self._changed()
            self._status(message, "failed", 2, "terminal not supported RCS and smsSupported is false")

    # -- state across restarts --------------------------------------------------------------

    @web.middleware
    async def _noting_changes(self, request: web.Request, handler):
        """Anything but a read may change the state: it is written soon after."""
        try:
            return await handler(request)
        finally:
            if request.method != "GET":
                self._changed()

    def _changed(self) -> None:
        if self.snapshot is not None and self._runner is not None:
            self.snapshot.changed()

    def _state(self) -> dict:
        """What a restart keeps: the newest messages, the handsets, the chatbots and the newest
        media, each bounded."""
        kept = list(self.messages.values())[-KEPT_MESSAGES:]
        # The kept messages' handsets, and the newest others (a user may have written first).
        wanted = {m.handset_id for m in kept} | set(list(self.handsets)[-KEPT_MESSAGES:])
        media: list[SimMedia] = []
        budget = KEPT_MEDIA_BYTES
        for item in reversed(self.media.values()):
            if len(item.data) > budget:
                break
            budget -= len(item.data)
            media.append(item)
        return {
            "version": 1,
            "messages": [
                {
                    "message_id": m.message_id,
                    "chatbot_id": m.chatbot_id,
                    "number": m.number,
                    "handset_id": m.handset_id,
                    "parts": m.parts,
                    "conversation_id": m.conversation_id,
                    "contribution_id": m.contribution_id,
                    "reports": sorted(m.reports),
                    "state": m.state,
                    "taps": m.taps,
                }
                for m in kept
            ],
            "handsets": [
                {
                    "handset_id": h.handset_id,
                    "number": h.number,
                    "message_ids": h.message_ids[-KEPT_MESSAGES:],
                    "thread": [
                        i
                        if isinstance(i, str)
                        else {"turn_id": i.turn_id, "kind": i.kind, "text": i.text, "delivered": i.delivered}
                        for i in list(h.thread)[-KEPT_MESSAGES:]
                    ],
                    "conversation_id": h.conversation_id,
                    "chatbot_id": h.chatbot_id,
                    "version": h.version,
                }
                for h in self.handsets.values()
                if h.handset_id in wanted
            ],
            "chatbots": [
                {
                    "chatbot_id": b.chatbot_id,
                    "app_id": b.app_id,
                    "app_key": b.app_key,
                    "callback_token": b.callback_token,
                    "token": b.token,
                    "token_expires": b.token_expires,
                    "tokens_issued": b.tokens_issued,
                    "messages_accepted": b.messages_accepted,
                    "info": b.info,
                    "pending_optionals": b.pending_optionals,
                }
                for b in self.chatbots.values()
            ],
            "media": [
                {
                    "media_id": m.media_id,
                    "data": base64.b64encode(m.data).decode(),
                    "content_type": m.content_type,
                    "file_name": m.file_name,
                    "mode": m.mode,
                    "url": m.url,
                    "until": m.until,
                }
                for m in reversed(media)
            ],
        }

    def _restore(self, doc: dict) -> None:
        """Take back what `_state` kept. The chatbots provisioned by the constructor keep their
        credentials (they may have changed since); everything else comes back as it was."""
        for b in doc.get("chatbots", []):
            bot = self.chatbots.get(b["chatbot_id"])
            if bot is None:
                bot = self.add_chatbot(b["chatbot_id"], b["app_id"], b["app_key"], b["callback_token"])
            bot.token, bot.token_expires = b["token"], b["token_expires"]
            bot.tokens_issued, bot.messages_accepted = b["tokens_issued"], b["messages_accepted"]
            bot.info, bot.pending_optionals = b["info"], b["pending_optionals"]
        for m in doc.get("messages", []):
            self.messages[m["message_id"]] = SimMessage(
                message_id=m["message_id"],
                chatbot_id=m["chatbot_id"],
                number=m["number"],
                handset_id=m["handset_id"],
                parts=m["parts"],
                conversation_id=m["conversation_id"],
                contribution_id=m["contribution_id"],
                reports=frozenset(m["reports"]),
                state=m["state"],
                taps=m["taps"],
            )
        for h in doc.get("handsets", []):
            handset = Handset(
                h["handset_id"],
                h["number"],
                message_ids=[mid for mid in h["message_ids"] if mid in self.messages],
                conversation_id=h["conversation_id"],
                chatbot_id=h["chatbot_id"],
                version=h["version"],
            )
            for item in h["thread"]:
                if isinstance(item, str):
                    if item in self.messages:
                        handset.thread.append(item)
                else:
                    handset.thread.append(UserTurn(item["turn_id"], item["kind"], item["text"], item["delivered"]))
                    handset.user_turns += 1
            self.handsets[handset.handset_id] = handset
            self._handset_by_number[handset.number] = handset.handset_id
        for m in doc.get("media", []):
            item = SimMedia(
                m["media_id"],
                base64.b64decode(m["data"]),
                m["content_type"],
                m["file_name"],
                m["mode"],
                m["url"],
                m["until"],
            )
            self.media[item.media_id] = item
            self._media_by_url[item.url] = item  # the URL the messages sent before hold

    def _resume(self) -> None:
        """Messages left on their way by the restart go on: delivered, displayed or failed as
        their numbers say (a revoked or never-delivered one stays as it is)."""
        for message in self.messages.values():
            behaviour = behaviour_of(message.number)
            if message.state == "accepted" and behaviour is Behaviour.NOT_CAPABLE:
                self._later(message, self.timing.delivery_delay_s, lambda m=message: self._fail_not_capable(m))
            elif message.state == "accepted" and behaviour is not Behaviour.NEVER_DELIVERED:
                self._later(message, self.timing.delivery_delay_s, lambda m=message: self._deliver(m))
            elif message.state == "delivered" and behaviour is not Behaviour.UNREAD:
                self._later(message, self.timing.display_delay_s, lambda m=message: self._display(m))

    # -- the MaaP interface ----------------------------------------------------------------

    async def _access_token(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body.get("appId"), str) or not body["appId"]:
            raise Refusal(41002, "appId is required")
        if not isinstance(body.get("appKey"), str) or not body["appKey"]:
            raise Refusal(41004, "appKey is required")
        bot: SimChatbot = request[SIM_CHATBOT]
        if body["appId"] != bot.app_id or not hmac.compare_digest(body["appKey"], bot.app_key):
            raise Refusal(40001, "appId or appKey is wrong", 401)
        # A new token invalidates the previous one (CSP interface V1.0.4).
        bot.token = secrets.token_urlsafe(24)
        bot.token_expires = self.clock() + self.timing.token_lifetime_s
        bot.tokens_issued += 1
        return self._answer(
            200,
            {
                "accessToken": bot.token,
                "expires": self.timing.token_lifetime_s,
                "errorCode": 0,
                "url": f"{self.url}{self.base_path}",
            },
        )

    async def _messages(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        bot: SimChatbot = request[SIM_CHATBOT]
        mid, number, parts = check_send_body(body, bot.chatbot_id)
        for part in parts:
            for url in media_urls(part):
                self._issued(url)
        if mid in self.messages:  # a repeated send of an accepted message is answered, not redone
            self.repeated_sends[mid] = self.repeated_sends.get(mid, 0) + 1
            return self._answer(200, {"messageId": mid, "errorCode": 0, "errorMessage": "success"})
        behaviour = behaviour_of(number)
        if behaviour is Behaviour.FLAKY:
            attempts = self._send_attempts.get(mid, 0) + 1
            self._send_attempts[mid] = attempts
            if attempts <= self.timing.flaky_failures:
                return self._error(503, -1, "system busy")
        if self.timing.failure_rate > 0 and self.rng.random() < self.timing.failure_rate:
            return self._error(503, -1, "system busy")
        reports = body.get("reportRequest")
        handset = self._handset(number)
        bot.messages_accepted += 1
        message = SimMessage(
            message_id=mid,
            chatbot_id=bot.chatbot_id,
            number=number,
            handset_id=handset.handset_id,
            parts=parts,
            conversation_id=body["conversationId"],
            contribution_id=body["contributionId"],
            reports=frozenset(reports) if isinstance(reports, list) else frozenset({"delivered", "displayed"}),
        )
        self._send_attempts.pop(mid, None)
        self.messages[mid] = message
        handset.message_ids.append(mid)
        handset.chatbot_id = None  # from now on the user answers the newest message
        handset.add(mid)
        while len(self.messages) > max(1, self.timing.max_messages):
            self._forget_oldest()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("accepted %s for %s (%s)", mid, mask_phone(number), behaviour.value)
        if behaviour is Behaviour.NOT_CAPABLE:
            # No capability query in the interface: the MaaP answers the send, then `failed` (2).
            delay = self.timing.not_capable_delay_s
            delay = self.timing.delivery_delay_s if delay is None else delay
            self._later(message, delay, lambda: self._fail_not_capable(message))
        elif behaviour is not Behaviour.NEVER_DELIVERED:
            self._later(message, self.timing.delivery_delay_s, lambda: self._deliver(message))
        return self._answer(200, {"messageId": mid, "errorCode": 0, "errorMessage": "success"})

    async def _counts(self, request: web.Request) -> web.Response:
        """What this MaaP took (a test's or an operator's look from another process): messages
        accepted, repeated sends by message id, callbacks made."""
        return web.json_response(
            {
                "messages_accepted": sum(b.messages_accepted for b in self.chatbots.values()),
                "repeated_sends": self.repeated_sends,
                "callbacks_sent": self.callbacks_sent,
                "callbacks_failed": self.callbacks_failed,
            }
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        unknown = set(body) - {"messageId", "destinationAddress", "status"}
        if unknown:
            raise Refusal(20002, f"unknown fields {sorted(unknown)}")
        if body.get("status") != "RevokeRequested":
            raise Refusal(20002, "status is RevokeRequested")
        mid, dest = body.get("messageId"), body.get("destinationAddress")
        if not isinstance(mid, str) or not mid:
            raise Refusal(20002, "messageId is required")
        if (
            not isinstance(dest, list)
            or len(dest) != 1
            or not isinstance(dest[0], str)
            or not dest[0].startswith("tel:")
        ):
            raise Refusal(20002, "destinationAddress holds one tel: URI (revoking several is not offered)")
        message = self.messages.get(mid)
        if message is None:
            raise Refusal(20002, "unknown messageId", 404)
        if dest[0][4:] != message.number:
            raise Refusal(20002, "destinationAddress is not the message's recipient")
        if message.state in ("accepted", "revoked"):  # asked again: the same answer
            for t in message.timers:
                t.cancel()
            message.state = "revoked"
            self._later(message, self.timing.revoke_delay_s, lambda: self._status(message, "revokeOk"))
        else:
            self._later(message, self.timing.revoke_delay_s, lambda: self._status(message, "revokeFail"))
        return self._answer(200, {"messageId": message.message_id, "errorCode": 0, "errorMessage": "success"})

    async def _upload(self, request: web.Request) -> web.Response:
        mode = request.headers.get("uploadMode", "")
        if mode not in ("temp", "perm"):
            raise Refusal(20002, "the uploadMode header is perm or temp")
        if request.content_type != "multipart/form-data":
            raise Refusal(41005, "multipart/form-data with the file is required")
        files: list[tuple[str, bytes, str, str | None]] = []
        async for part in await request.multipart():
            if not isinstance(part, aiohttp.BodyPartReader):
                raise Refusal(41005, "nested multipart is not a file")
            data = bytes(await part.read(decode=False))
            ctype = (part.headers.get("Content-Type") or "application/octet-stream").split(";", 1)[0].strip().lower()
            files.append((part.name or "file", data, ctype, part.filename))
        if not files:
            raise Refusal(41005, "no file in the upload")
        for name, data, ctype, _ in files:
            if not data:
                raise Refusal(44001, f"the {name} is empty")
            if name == "thumbnail":
                types, most = _IMAGE, THUMBNAIL_MAX
            else:
                types, most = next(((t, m) for t, m in UPLOAD_KINDS.values() if ctype in t), (frozenset(), 0))
            if ctype not in types:
                raise Refusal(40005, f"{ctype} is not a file type the interface takes for a {name}")
            if len(data) > most:
                raise Refusal(40006, f"the {name} is larger than {most} bytes")
        self._purge_expired()
        if self._count(mode) + len(files) > MEDIA_QUOTA[mode]:
            raise Refusal(40040, f"at most {MEDIA_QUOTA[mode]} {mode} files")
        infos = []
        for _, data, ctype, filename in files:
            item = self._store_media(data, ctype, filename, mode)
            info = {"url": item.url, "fileName": filename or item.media_id, "contentType": ctype, "fileSize": len(data)}
            if item.until is not None:
                info["until"] = utc_z(item.until)
            infos.append(info)
        return self._answer(
            200, {"fileInfo": infos, "fileCount": self._count(mode), "totalCount": MEDIA_QUOTA[mode], "errorCode": 0}
        )

    async def _media_download(self, request: web.Request) -> web.Response:
        url = request.headers.get("url")
        if not url:
            raise Refusal(41006, "the url header is required")
        item = self._issued(url)
        name = item.file_name or item.media_id
        return web.Response(
            body=item.data,
            headers={
                "Content-Type": item.content_type,
                "Content-Disposition": f'attachment; filename="{quote(name)}"',
                "Cache-Control": "no-cache, must-revalidate",
            },
        )

    async def _media_delete(self, request: web.Request) -> web.Response:
        url = request.headers.get("url")
        if not url:
            raise Refusal(41006, "the url header is required")
        item = self._issued(url, uploads_only=True)
        del self.media[item.media_id]
        del self._media_by_url[item.url]
        return self._answer(
            200,
            {
                "deleteMode": item.mode,
                "fileCount": self._count(item.mode),
                "totalCount": MEDIA_QUOTA[item.mode],
                "errorCode": 0,
                "errorMessage": "success",
            },
        )

    async def _download(self, request: web.Request) -> web.Response:
        """The media URLs issued: what a handset fetches (no token, as a content server)."""
        item = self.media.get(request.match_info["media_id"])
        if item is None:
            raise web.HTTPNotFound()
        return web.Response(body=item.data, content_type=item.content_type)

    async def _find_info(self, request: web.Request) -> web.Response:
        return self._answer(200, request[SIM_CHATBOT].info)

    async def _update_optionals(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        check_optionals(body)
        bot = request[SIM_CHATBOT]
        bot.pending_optionals.update(body)
        if self.timing.audit_delay_s is not None:
            self._spawn(self._audit_later(bot, body, lambda passed: self._settle_optionals(bot, body, passed)))
        return self._answer(200, {"errorCode": 0, "errorMessage": "success"})

    async def _update_menu(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        check_menu(body)
        bot = request[SIM_CHATBOT]
        before, menu = bot.info.get("menu", {}), body["menu"]
        bot.info["menu"] = menu
        if self.timing.audit_delay_s is not None:

            def settle(passed: bool) -> None:
                if not passed and bot.info.get("menu") is menu:
                    bot.info["menu"] = before  # a rejected menu is withdrawn

            self._spawn(self._audit_later(bot, body, settle))
        return self._answer(200, {"errorCode": 0, "errorMessage": "success"})

    @staticmethod
    def _settle_optionals(bot: SimChatbot, body: dict, passed: bool) -> None:
        if passed:
            bot.info.update(body)
        for key, value in body.items():
            if bot.pending_optionals.get(key) == value:
                del bot.pending_optionals[key]

    async def _audit_later(self, bot: SimChatbot, body: dict, settle: Callable[[bool], None]) -> None:
        """The sandbox's auditor: after `timing.audit_delay_s` it passes the update unless it
        contains one of SANDBOX_AUDIT_REJECTS, and sends the verdict (and, on a pass, the
        information change) — one update at a time, in the order they came."""
        assert self.timing.audit_delay_s is not None
        await asyncio.sleep(self.timing.audit_delay_s)
        async with bot.audit_lock:
            text = orjson.dumps(body).decode().lower()
            found = next((w for w in SANDBOX_AUDIT_REJECTS if w in text), None)
            settle(found is None)
            description = "approved" if found is None else f"sandbox audit: contains “{found}”"
            await self.send_audit_result(
                "chatbotInformation",
                "pass" if found is None else "fail",
                description=description,
                remark=f"chatbotId: {bot.chatbot_id}",
                bot=bot,
            )
            if found is None:
                await self.send_information_change(bot)

    # -- the platform's side: audits and notices ----------------------------------------------

    async def approve_optionals(self, passed: bool = True, description: str | None = None) -> bool:
        """The operator's audit of the optional information updated: on pass it takes effect
        (and an information-change notice follows); the audit result is sent either way."""
        if passed:
            self.primary.info.update(self.primary.pending_optionals)
        self.primary.pending_optionals.clear()
        ok = await self.send_audit_result(
            "chatbotInformation",
            "pass" if passed else "fail",
            description=description or ("approved" if passed else "not match rules"),
            remark=f"chatbotId: {self.chatbot_id}",
        )
        if passed:
            ok = await self.send_information_change() and ok
        return ok

    async def send_spam_report(
        self, message_ids: list[str] | None = None, spam_type: str = "垃圾消息", free_text: str = "全是广告"
    ) -> bool:
        """A user's spam report (notice/rcsspam); without message ids the chatbot is reported."""
        body: dict = {}
        if message_ids:
            body["messageId"] = list(message_ids)
        body["spamType"] = spam_type
        body["freeText"] = free_text
        reported = self.messages.get(message_ids[0]) if message_ids else None
        bot = self.chatbots[reported.chatbot_id] if reported is not None else self.primary
        return await self._callback(f"notifyInfoNotification/{bot.path}/notice/rcsspam", body, bot)

    async def send_audit_result(
        self,
        audit_type: str,
        result: str,
        *,
        description: str | None = None,
        remark: str | None = None,
        bot: SimChatbot | None = None,
    ) -> bool:
        """An audit result (check): `audit_type` chatbotInformation | media | message, `result`
        pass | fail, `remark` e.g. "messageId: …", "url:…", "chatbotId: sip:…"; for `bot`
        (the primary chatbot by default)."""
        bot = bot or self.primary
        body: dict = {"type": audit_type, "result": result, "time": self._now()}
        if description is not None:
            body["description"] = description
        if remark is not None:
            body["remark"] = remark
        return await self._callback(f"notifyInfoNotification/{bot.path}/check", body, bot)

    async def send_information_change(self, bot: SimChatbot | None = None) -> bool:
        """The chatbot's information changed (notice/informationChange): the information as
        find/chatBotInfo answers it."""
        bot = bot or self.primary
        return await self._callback(f"notifyInfoNotification/{bot.path}/notice/informationChange", dict(bot.info), bot)

    # -- virtual handsets ---------------------------------------------------------------------

    def _page(self, request: web.Request, name: str, **ctx) -> web.Response:
        chosen, remember = page_choices(request)
        html = _PAGES.get_template(name).render(
            mask=mask_phone,
            body_class=body_class(chosen["look"], chosen["theme"]),
            looks=LOOK_NAMES,
            words=HANDSET_WORDS[chosen["lang"]],
            **chosen,
            **ctx,
        )
        response = web.Response(text=html, content_type="text/html", headers=_HANDSET_HEADERS)
        for key, value in remember.items():
            response.set_cookie(key, value, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
        return response

    async def _handset_index(self, request: web.Request) -> web.Response:
        previews = {}
        for handset in self.handsets.values():
            last = self._last_answered(handset)
            if last is not None:
                previews[handset.handset_id] = message_preview(last)
        return self._page(request, "index.html", handsets=list(self.handsets.values()), previews=previews)

    async def _handset_for_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            raise web.HTTPNotFound()
        raise web.HTTPSeeOther(f"/handset/{message.handset_id}#m-{message.message_id}")

    def media_src(self, media: MediaView) -> str | None:
        """Media this MaaP holds, by path (the page loads only from its own server); anything
        else is drawn as a placeholder."""
        for url in (media.thumbnail_url if media.kind == "image" else None, media.url):
            item = self._media_by_url.get(url or "")
            if item is not None:
                return f"/media/{item.media_id}"
        return None

    async def _handset_page(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        chosen, _ = page_choices(request)
        tap_action = f"/handset/{handset.handset_id}/tap"

        def draw(message: SimMessage) -> Markup:
            return draw_message(
                message,
                tap_action=tap_action,
                media_src=self.media_src,
                lang=chosen["lang"],
                fallback=lambda ctype, text: str(self.render_card(ctype, text)),
            )

        thread = [
            item if isinstance(item, UserTurn) else self.messages[item]
            for item in handset.thread
            if isinstance(item, UserTurn) or item in self.messages
        ]
        bot = self.chatbot_of(handset)
        return self._page(
            request,
            "handset.html",
            handset=handset,
            thread=thread,
            menu=menu_entries(bot.info.get("menu") or {}),
            draw=draw,
            bot_name=str(bot.info.get("serviceName") or bot.chatbot_id.removeprefix("sip:").split("@")[0]),
        )

    async def _handset_version(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        return web.json_response({"version": handset.version}, headers=_HANDSET_HEADERS)

    async def _handset_script(self, request: web.Request) -> web.Response:
        return web.Response(text=REFRESH_SCRIPT, content_type="text/javascript", headers=_HANDSET_HEADERS)

    async def _open_handset(self, request: web.Request) -> web.Response:
        """A person opens the handset of a number (to write to the chatbot first); the number
        travels in the form, never in a path."""
        form = await request.post()
        number = str(form.get("number", "")).strip().replace(" ", "")
        if not is_e164(number):
            raise web.HTTPBadRequest(text="a number in E.164 form, e.g. +8613800001231")
        chatbot_id = str(form.get("chatbot", "")).strip() or None
        if chatbot_id is not None and chatbot_id not in self.chatbots:
            raise web.HTTPBadRequest(text="no such chatbot on this MaaP")
        raise web.HTTPSeeOther(f"/handset/{self.open_handset(number, chatbot_id).handset_id}")

    def open_handset(self, number: str, chatbot_id: str | None = None) -> Handset:
        """The virtual handset of `number` (E.164), opened if it has none yet; with `chatbot_id`
        the user's next words start a conversation with that chatbot (as one found in the
        directory), answering none of its messages."""
        handset = self._handset(number)
        if chatbot_id is not None:
            handset.chatbot_id, handset.conversation_id = chatbot_id, None
        return handset

    def chatbot_of(self, handset: Handset) -> SimChatbot:
        """The chatbot the handset talks to: the one the user chose to write to, else the one of
        its newest message, else the primary."""
        if handset.chatbot_id is not None and handset.chatbot_id in self.chatbots:
            return self.chatbots[handset.chatbot_id]
        for mid in reversed(handset.message_ids):
            if mid in self.messages:
                return self.chatbots.get(self.messages[mid].chatbot_id, self.primary)
        return self.primary

    def suggestions_of(self, message: SimMessage) -> list[dict]:
        """The suggestions a message offers: its cards', then its chip list's."""
        found = []
        for part in message.parts:
            if part.get("contentType") in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE):
                found.extend(collect_suggestions(part.get("contentText")))
        return found

    def _user_body(self, handset: Handset, content_type: str, content_text, answered: SimMessage | None) -> dict:
        """A mobile-originated message in the interface's example form for its kind: text,
        location and file carry the dateTime; a suggestion response names the message answered
        in `inReplyTo` (its contributionId). Without a message answered (the user writes first,
        or taps the persistent menu) it goes to the handset's chatbot in its conversation."""
        part: dict = {"contentType": content_type}
        if content_type != TEXT_TYPE:
            part["contentEncoding"] = "utf8"
        part["contentText"] = content_text
        body: dict = {"messageId": str(uuid.uuid4()), "messageList": [part]}
        if content_type in (TEXT_TYPE, FILE_TRANSFER_HTTP_TYPE):
            body["dateTime"] = self._now()
        body["destinationAddress"] = (
            answered.chatbot_id if answered is not None else self.chatbot_of(handset).chatbot_id
        )
        body["senderAddress"] = f"tel:{handset.number}"
        # One conversation between the user and the chatbot: the answered message's, else the
        # newest message's on the handset, else one the user started.
        latest = answered or (None if handset.chatbot_id else self._last_answered(handset))
        if latest is None and handset.conversation_id is None:
            handset.conversation_id = self.new_id()
        body["conversationId"] = (latest.conversation_id if latest else None) or handset.conversation_id
        body["contributionId"] = self.new_id()
        if content_type == SUGGESTION_RESPONSE_TYPE and answered is not None and answered.contribution_id:
            body["inReplyTo"] = answered.contribution_id
        return body

    async def _send_user_message(self, handset: Handset, body: dict, kind: str, shown: str) -> bool:
        bot = self.chatbots.get(body["destinationAddress"], self.primary)
        # In the thread before the callback: the chatbot may answer before the callback returns.
        turn = UserTurn(body["messageId"], kind, shown)
        handset.add(turn)
        turn.delivered = await self._callback(f"messageNotification/{bot.path}/messages", body, bot)
        handset.touch()
        self._changed()
        return turn.delivered

    def _answered(self, message_id: str) -> tuple[Handset, SimMessage]:
        message = self.messages[message_id]
        return self.handsets[message.handset_id], message

    def _last_answered(self, handset: Handset) -> SimMessage | None:
        for mid in reversed(handset.message_ids):
            if mid in self.messages:
                return self.messages[mid]
        return None

    async def _suggestion_response(
        self, handset: Handset, suggestion: dict, answered: SimMessage | None, kind: str
    ) -> tuple[bool, str]:
        which = "reply" if "reply" in suggestion else "action"
        chosen = suggestion[which]
        response = {"response": {which: {k: chosen[k] for k in ("displayText", "postback") if k in chosen}}}
        label = str(chosen.get("displayText", "?"))
        body = self._user_body(handset, SUGGESTION_RESPONSE_TYPE, response, answered)
        return await self._send_user_message(handset, body, kind, label), label

    async def tap(self, message_id: str, index: int) -> bool:
        """Tap suggestion `index` of a message on its handset: a signed suggestion-response
        callback (`inReplyTo` the message's contributionId). True when the platform took it."""
        message = self.messages[message_id]
        suggestion = self.suggestions_of(message)[index]
        handset = self.handsets[message.handset_id]
        ok, label = await self._suggestion_response(handset, suggestion, message, "tap")
        message.taps.append(f"{label} ({'delivered' if ok else 'callback failed'})")
        return ok

    async def tap_menu(self, handset_id: str, index: int) -> bool:
        """Tap entry `index` (depth first) of the persistent menu on a handset: the interface's
        suggestion response, in the handset's conversation and answering no message (a menu
        entry belongs to no message). True when the platform took it."""
        handset = self.handsets[handset_id]
        entries = tappable(menu_entries(self.chatbot_of(handset).info.get("menu") or {}))
        ok, _ = await self._suggestion_response(handset, entries[index].suggestion, None, "menu")
        return ok

    async def reply(self, message_id: str, text: str) -> bool:
        """The handset user writes `text` in the conversation of `message_id`."""
        handset, answered = self._answered(message_id)
        return await self._send_user_message(handset, self._user_body(handset, TEXT_TYPE, text, answered), "text", text)

    async def write(self, handset_id: str, text: str) -> bool:
        """The handset user writes `text` to the chatbot: in the conversation of the newest
        message on the handset, or (none yet) one the user starts."""
        handset = self.handsets[handset_id]
        answered = None if handset.chatbot_id else self._last_answered(handset)
        body = self._user_body(handset, TEXT_TYPE, text, answered)
        return await self._send_user_message(handset, body, "text", text)

    async def share_location(self, message_id: str, latitude: float, longitude: float, label: str | None = None):
        """The handset user shares a location (the interface's geo text form)."""
        handset, answered = self._answered(message_id)
        text = geo_text(latitude, longitude, label)
        shown = f"📍 {label or ''} ({latitude}, {longitude})"
        return await self._send_user_message(
            handset, self._user_body(handset, TEXT_TYPE, text, answered), "location", shown
        )

    async def send_file(
        self,
        message_id: str,
        data: bytes,
        content_type: str,
        filename: str,
        thumbnail: tuple[bytes, str] | None = None,
    ) -> bool:
        """The handset user sends a file: it is held here (downloadable through medias/download)
        and announced in the file-transfer form, thumbnail first."""
        handset, answered = self._answered(message_id)
        body = self._user_body(
            handset, FILE_TRANSFER_HTTP_TYPE, self._user_file(data, content_type, filename, thumbnail), answered
        )
        return await self._send_user_message(handset, body, "file", f"📎 {filename}")

    def _user_file(self, data: bytes, content_type: str, filename: str, thumbnail) -> list[dict]:
        infos = []
        if thumbnail is not None:
            t_data, t_type = thumbnail
            t = self._store_media(t_data, t_type, None, "user")
            infos.append({"type": "thumbnail", "fileSize": len(t_data), "contentType": t_type, "url": t.url})
        item = self._store_media(data, content_type, filename, "user")
        infos.append(
            {"type": "file", "fileSize": len(data), "fileName": filename, "contentType": content_type, "url": item.url}
        )
        return infos

    async def share_device_specifics(self, message_id: str, **specifics) -> bool:
        """The handset shares its device specifics (the interface's example values, overridable)."""
        handset, answered = self._answered(message_id)
        shared = {"sharedData": {"deviceSpecifics": {**EXAMPLE_DEVICE, **specifics}}}
        body = self._user_body(handset, SHARED_CLIENT_DATA_TYPE, shared, answered)
        return await self._send_user_message(handset, body, "device", "device specifics")

    def _handset_of(self, request: web.Request) -> Handset:
        handset = self.handsets.get(request.match_info["handset_id"])
        if handset is None:
            raise web.HTTPNotFound()
        return handset

    def _last_message_id(self, handset: Handset) -> str:
        answered = self._last_answered(handset)
        if answered is None:
            raise web.HTTPConflict(text="no message on this handset to answer")
        return answered.message_id

    async def _tap(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        form = await request.post()
        mid = str(form.get("message_id", ""))
        try:
            if "suggestion" in form:  # a card's or chip list's own form: its place after `base`
                index = int(str(form.get("base", "0"))) + int(str(form["suggestion"]))
            else:
                index = int(str(form.get("index", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="index must be a number") from None
        message = self.messages.get(mid)
        if message is None or message.handset_id != handset.handset_id:
            raise web.HTTPNotFound()
        if not 0 <= index < len(self.suggestions_of(message)):
            raise web.HTTPBadRequest(text="no such suggestion")
        await self.tap(mid, index)
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}#m-{mid}")

    async def _menu_tap(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        try:
            index = int(str((await request.post()).get("index", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="index must be a number") from None
        if not 0 <= index < len(tappable(menu_entries(self.chatbot_of(handset).info.get("menu") or {}))):
            raise web.HTTPBadRequest(text="no such menu entry")
        await self.tap_menu(handset.handset_id, index)
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")

    async def _reply(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        text = str((await request.post()).get("text", "")).strip()
        if text:
            await self.write(handset.handset_id, text[:MAX_TEXT])
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")

    async def _location(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        form = await request.post()
        try:
            lat, lon = float(str(form.get("latitude", ""))), float(str(form.get("longitude", "")))
            label = str(form.get("label", "")).strip()[:100] or None
            geo_text(lat, lon, label)  # refuses what is not a location
        except ValueError:
            raise web.HTTPBadRequest(text="latitude and longitude must be a location") from None
        await self.share_location(self._last_message_id(handset), lat, lon, label)
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")

    async def _file(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        upload = (await request.post()).get("file")
        if not isinstance(upload, web.FileField):
            raise web.HTTPBadRequest(text="choose a file")
        data = upload.file.read(MAX_UPLOAD_BYTES + 1)
        if not data or len(data) > MAX_UPLOAD_BYTES:
            raise web.HTTPBadRequest(text="the file is empty or too large")
        ctype = upload.content_type or "application/octet-stream"
        await self.send_file(self._last_message_id(handset), data, ctype, upload.filename or "file")
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")

    async def _device(self, request: web.Request) -> web.Response:
        handset = self._handset_of(request)
        await self.share_device_specifics(self._last_message_id(handset))
        raise web.HTTPSeeOther(f"/handset/{handset.handset_id}")


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rcs.simulator", description="Sandbox MaaP simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--callback-url", default=None, help="platform base URL for callbacks")
    p.add_argument("--callback-token", default=SANDBOX_CALLBACK_TOKEN)
    p.add_argument("--app-id", default=SANDBOX_APP_ID)
    p.add_argument("--app-key", default=SANDBOX_APP_KEY)
    p.add_argument("--chatbot-id", default=SANDBOX_CHATBOT_ID)
    p.add_argument("--base-path", default="", help="the server root's base path, e.g. /exampleAPI")
    p.add_argument("--delivery-delay", type=float, default=0.5)
    p.add_argument("--display-delay", type=float, default=1.0)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--failure-rate", type=float, default=0.0)
    p.add_argument(
        "--max-messages",
        type=int,
        default=DEFAULT_MAX_MESSAGES,
        help=f"messages kept at most, the oldest forgotten first (default {DEFAULT_MAX_MESSAGES:,})",
    )
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = MaapSimulator(
        args.host,
        args.port,
        args.callback_url,
        args.callback_token,
        app_id=args.app_id,
        app_key=args.app_key,
        chatbot_id=args.chatbot_id,
        base_path=args.base_path,
        timing=SimulatorTiming(
            delivery_delay_s=args.delivery_delay,
            display_delay_s=args.display_delay,
            latency_s=args.latency,
            failure_rate=args.failure_rate,
            max_messages=args.max_messages,
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"MaaP simulator on {sim.url} (chatbot {sim.chatbot_id})", flush=True)
        await stop.wait()


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_pii_filter()  # a second line of defence: nothing we log should carry a number
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
