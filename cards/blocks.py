"""Domain blocks: structured data in, a valid card out (validated before it is returned).

Blocks that draw an image return its PNG bytes with the card; the caller uploads them to the
`media_url` it passed (the card already carries that URL, the content type and the size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from cards import limits as L
from cards.compose import CardInvalid
from cards.drawing import draw_bill, draw_map_pin
from cards.formats import format_date, format_datetime, format_money
from cards.validate import validate_card

_WORDS = {
    "zh-CN": {
        "bill": "{period}账单",
        "total": "合计",
        "due": "请于{due}前缴费",
        "pay": "立即缴费",
        "detail": "账单详情",
        "items_more": "等{n}项",
        "navigate": "导航前往",
        "call": "拨打电话",
        "calendar": "加入日历",
        "reschedule": "改约",
        "when": "时间：{v}",
        "where": "地点：{v}",
        "seat": "座位：{v}",
        "code": "取票码：{v}",
        "ticket": "查看票券",
        "otp": "{brand}验证码{code}，用于{purpose}，{minutes}分钟内有效。请勿泄露给他人。",
    },
    "en": {
        "bill": "{period} bill",
        "total": "Total",
        "due": "Please pay by {due}",
        "pay": "Pay now",
        "detail": "Bill details",
        "items_more": "and {n} more",
        "navigate": "Directions",
        "call": "Call",
        "calendar": "Add to calendar",
        "reschedule": "Reschedule",
        "when": "When: {v}",
        "where": "Where: {v}",
        "seat": "Seat: {v}",
        "code": "Ticket code: {v}",
        "ticket": "View ticket",
        "otp": "{brand}verification code {code} for {purpose}, valid for {minutes} minutes. Do not share it.",
    },
}


@dataclass(frozen=True)
class BuiltCard:
    """A block's output: the card JSON and, when one was drawn, the image for `media_url`."""

    card: dict
    media: bytes | None = None
    media_content_type: str | None = None


def _words(locale: str) -> dict:
    return _WORDS.get(locale, _WORDS["zh-CN"])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reply(text: str, data: str) -> dict:
    return {"reply": {"displayText": _clip(text, L.DISPLAY_TEXT_MAX), "postback": {"data": data}}}


def _action(text: str, data: str, group: str, operation: str, params: dict) -> dict:
    return {
        "action": {
            "displayText": _clip(text, L.DISPLAY_TEXT_MAX),
            "postback": {"data": data},
            group: {operation: params},
        }
    }


def open_url(text: str, url: str, data: str) -> dict:
    """An openUrl suggestion in the browser (the explicit form every operator accepts)."""
    return _action(text, data, "urlAction", "openUrl", {"url": url, "application": "browser"})


def dial(text: str, number: str, data: str) -> dict:
    return _action(text, data, "dialerAction", "dialPhoneNumber", {"phoneNumber": number})


def _card(content: dict, media: dict | None = None, orientation: str = "VERTICAL") -> dict:
    if media:
        content = {"media": media, **content}
    return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": orientation}, "content": content}}}


def _checked(card: dict, profile: str) -> dict:
    report = validate_card(card, profile)
    if report.errors:
        raise CardInvalid(report.errors)
    return card


def _media(url: str, png: bytes, height: str, description: str) -> dict:
    return {
        "mediaUrl": url,
        "mediaContentType": "image/png",
        "mediaFileSize": len(png),
        "height": height,
        "contentDescription": _clip(description, L.CONTENT_DESCRIPTION_MAX),
    }


# --- bill --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    label: str
    amount: Decimal | int | float | str


@dataclass(frozen=True)
class Bill:
    customer: str
    period: str  # e.g. "2026年10月"
    items: list[LineItem]
    due: date | str
    pay_url: str
    detail_url: str
    currency: str = "CNY"
    total: Decimal | int | float | str | None = None  # the sum of the items when absent


def bill_card(
    bill: Bill, *, media_url: str | None = None, locale: str = "zh-CN", profile: str = L.DEFAULT_PROFILE
) -> BuiltCard:
    """A bill: line items, total, due date, pay and detail buttons; with `media_url`, a drawn
    bill image (PNG bytes returned for upload)."""
    w = _words(locale)
    total = (
        Decimal(str(bill.total))
        if bill.total is not None
        else sum((Decimal(str(i.amount)) for i in bill.items), Decimal(0))
    )
    money = [(i.label, format_money(i.amount, bill.currency, locale)) for i in bill.items]
    total_text = format_money(total, bill.currency, locale)
    due = w["due"].format(due=format_date(bill.due, "long", locale))
    title = (
        f"{w['bill'].format(period=bill.period)}：{total_text}"
        if locale == "zh-CN"
        else f"{w['bill'].format(period=bill.period)}: {total_text}"
    )
    lines = [f"{label} {amount}" for label, amount in money]
    body = "\n".join([bill.customer, *lines, due]) if bill.customer else "\n".join([*lines, due])
    if len(body) > L.DESCRIPTION_MAX:
        keep = lines[:10]
        more = w["items_more"].format(n=len(lines) - len(keep))
        body = _clip("\n".join([bill.customer, *keep, more, due]), L.DESCRIPTION_MAX)
    media = png = None
    if media_url:
        png = draw_bill(w["bill"].format(period=bill.period), money, w["total"], total_text, due)
        media = _media(media_url, png, "MEDIUM_HEIGHT", title)
    content = {
        "title": _clip(title, L.TITLE_MAX),
        "description": body,
        "suggestions": [
            open_url(w["pay"], bill.pay_url, "bill:pay"),
            open_url(w["detail"], bill.detail_url, "bill:detail"),
        ],
    }
    return BuiltCard(_checked(_card(content, media), profile), png, "image/png" if png else None)


# --- menus and chip lists ----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option of a menu tree: a reply (postback), a link, a phone number, or a submenu."""

    label: str
    postback: str | None = None
    url: str | None = None
    phone: str | None = None
    children: list[Option] = field(default_factory=list)


def _suggestion(o: Option, path: str) -> dict:
    data = o.postback or path
    if o.url:
        return open_url(o.label, o.url, data)
    if o.phone:
        return dial(o.label, o.phone, data)
    return _reply(o.label, data)


def chip_list(options: list[Option], profile: str = L.DEFAULT_PROFILE) -> dict:
    """A suggested chip list (`{"suggestions": [...]}`) from flat options."""
    card = {"suggestions": [_suggestion(o, f"chip:{i}") for i, o in enumerate(options)]}
    return _checked(card, profile)


def persistent_menu(options: list[Option], profile: str = L.DEFAULT_PROFILE) -> dict:
    """A persistent menu (`{"menu": {...}}`) from a tree of options, checked against the
    profile's depth and width (CN: 2 levels, 3 top entries, 5 per submenu)."""

    def entries(opts: list[Option], prefix: str) -> list[dict]:
        out = []
        for i, o in enumerate(opts):
            path = f"{prefix}{i}"
            if o.children:
                out.append(
                    {
                        "menu": {
                            "displayText": _clip(o.label, L.DISPLAY_TEXT_MAX),
                            "entries": entries(o.children, path + "."),
                        }
                    }
                )
            else:
                out.append(_suggestion(o, f"menu:{path}"))
        return out

    return _checked({"menu": {"entries": entries(options, "")}}, profile)


# --- map ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    address: str
    latitude: float
    longitude: float
    phone: str | None = None
    fallback_url: str | None = None  # a web map page for clients without a map app


def location_card(
    place: Place,
    *,
    media_url: str | None = None,
    description: str | None = None,
    locale: str = "zh-CN",
    profile: str = L.DEFAULT_PROFILE,
) -> BuiltCard:
    """A location card with a show-location action and (with `media_url`) a drawn map pin."""
    w = _words(locale)
    show = {
        "location": {
            "latitude": place.latitude,
            "longitude": place.longitude,
            "label": _clip(place.name, L.LOCATION_LABEL_MAX),
        }
    }
    if place.fallback_url:
        show["fallbackUrl"] = place.fallback_url
    suggestions = [_action(w["navigate"], "map:navigate", "mapAction", "showLocation", show)]
    if place.phone:
        suggestions.append(dial(w["call"], place.phone, "map:call"))
    media = png = None
    if media_url:
        png = draw_map_pin(place.latitude, place.longitude, place.name, place.address)
        media = _media(media_url, png, "MEDIUM_HEIGHT", f"{place.name} {place.address}")
    content = {
        "title": _clip(place.name, L.TITLE_MAX),
        "description": _clip(description or place.address, L.DESCRIPTION_MAX),
        "suggestions": suggestions,
    }
    return BuiltCard(_checked(_card(content, media), profile), png, "image/png" if png else None)


# --- appointments and tickets ------------------------------------------------------------


@dataclass(frozen=True)
class Appointment:
    title: str  # e.g. "心内科复诊"
    start: datetime
    end: datetime
    place: str
    details: str = ""
    reschedule_url: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Ticket:
    event: str
    start: datetime
    end: datetime
    venue: str
    seat: str | None = None
    code: str | None = None
    detail_url: str | None = None


def _calendar(text: str, title: str, start: datetime, end: datetime, description: str) -> dict:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("calendar times need a UTC offset (RFC 3339)")
    event = {"startTime": start.isoformat(), "endTime": end.isoformat(), "title": _clip(title, L.CALENDAR_TITLE_MAX)}
    if description:
        event["description"] = _clip(description, L.CALENDAR_DESCRIPTION_MAX)
    return _action(text, "calendar", "calendarAction", "createCalendarEvent", event)


def appointment_card(a: Appointment, *, locale: str = "zh-CN", profile: str = L.DEFAULT_PROFILE) -> BuiltCard:
    """An appointment with an add-to-calendar action (and reschedule / call when given)."""
    w = _words(locale)
    when = format_datetime(a.start, "short", locale)
    body = "\n".join(x for x in (w["when"].format(v=when), w["where"].format(v=a.place), a.details) if x)
    suggestions = [_calendar(w["calendar"], a.title, a.start, a.end, f"{a.place} {a.details}".strip())]
    if a.reschedule_url:
        suggestions.append(open_url(w["reschedule"], a.reschedule_url, "appointment:reschedule"))
    if a.phone:
        suggestions.append(dial(w["call"], a.phone, "appointment:call"))
    content = {
        "title": _clip(a.title, L.TITLE_MAX),
        "description": _clip(body, L.DESCRIPTION_MAX),
        "suggestions": suggestions,
    }
    return BuiltCard(_checked(_card(content), profile))


def ticket_card(t: Ticket, *, locale: str = "zh-CN", profile: str = L.DEFAULT_PROFILE) -> BuiltCard:
    """A ticket (show, train, match…) with an add-to-calendar action."""
    w = _words(locale)
    facts = [w["when"].format(v=format_datetime(t.start, "short", locale)), w["where"].format(v=t.venue)]
    if t.seat:
        facts.append(w["seat"].format(v=t.seat))
    if t.code:
        facts.append(w["code"].format(v=t.code))
    suggestions = [_calendar(w["calendar"], t.event, t.start, t.end, t.venue)]
    if t.detail_url:
        suggestions.append(open_url(w["ticket"], t.detail_url, "ticket:detail"))
    content = {"title": _clip(t.event, L.TITLE_MAX), "description": "\n".join(facts), "suggestions": suggestions}
    return BuiltCard(_checked(_card(content), profile))


# --- one-time passwords ------------------------------------------------------------------

_LINKISH = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org|top|xyz|vip)\b)", re.I)


def otp_message(
    code: str,
    purpose: str,
    minutes: int = 5,
    *,
    brand: str = "",
    locale: str = "zh-CN",
    profile: str = L.DEFAULT_PROFILE,
) -> dict:
    """A verification-code message: plain text only, never a link or a button (phishing-safe)."""
    if not re.fullmatch(r"[0-9A-Za-z]{4,10}", code):
        raise ValueError("an OTP code is 4-10 letters or digits")
    text = _words(locale)["otp"].format(brand=brand, code=code, purpose=purpose, minutes=minutes)
    if _LINKISH.search(text):
        raise ValueError("an OTP message must not contain a link")
    return _checked({"message": {"text": text}}, profile)
