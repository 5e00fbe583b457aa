"""What a tap does on the recipient's web page, for `render_html` hooks.

`landing_href(base)` maps suggestions the way the SMS landing page needs: openUrl → the
tracked redirect `<base>/a/<n>`, dial → `tel:`, a location → a web map (Amap, which also
opens the app), calendar → `<base>/a/<n>.ics`; replies get None (a form POST). The `.ics`
body comes from `calendar_ics`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import icalendar

from cards.html import SuggestionHref
from cards.validate import parse_rfc3339
from cards.view import SuggestionView

AMAP_MARKER = "https://uri.amap.com/marker"
AMAP_SEARCH = "https://uri.amap.com/search"


def geo_uri(latitude: float, longitude: float, label: str | None = None) -> str:
    """RFC 5870 geo URI; the label rides in `q=lat,lng(label)` as Android map apps read it."""
    uri = f"geo:{latitude:.6f},{longitude:.6f}"
    if label:
        uri += f"?q={latitude:.6f},{longitude:.6f}({quote(label, safe='')})"
    return uri


def web_map_url(
    latitude: float | None,
    longitude: float | None,
    label: str | None = None,
    *,
    coordinate: str = "wgs84",
    source: str = "hongyan",
) -> str:
    """An Amap web page marking the place (or searching for `label` without coordinates).

    RCS locations are GPS (WGS-84) coordinates; Amap converts them to GCJ-02 itself when
    told `coordinate=wgs84` (https://lbs.amap.com/api/uri-api/guide/mobile-web/point).
    """
    if latitude is None or longitude is None:
        return f"{AMAP_SEARCH}?" + urlencode({"keyword": label or "", "src": source, "callnative": 1})
    query = {"position": f"{longitude:.6f},{latitude:.6f}", "coordinate": coordinate, "src": source, "callnative": 1}
    if label:
        query["name"] = label
    return f"{AMAP_MARKER}?" + urlencode(query)


def landing_href(base: str) -> SuggestionHref:
    """The `suggestion_href` hook of the landing page at `base` (e.g. "/s/<token>")."""
    base = base.rstrip("/")

    def href(index: int, s: SuggestionView) -> str | None:
        if s.kind == "open_url":
            return f"{base}/a/{index}"
        if s.kind == "dial" and s.phone_number:
            return "tel:" + "".join(ch for ch in s.phone_number if ch.isdigit() or ch in "+*#,;")
        if s.kind == "show_location" and (s.latitude is not None or s.label):
            return web_map_url(s.latitude, s.longitude, s.label)
        if s.kind == "calendar" and parse_rfc3339(s.start_time) and parse_rfc3339(s.end_time):
            return f"{base}/a/{index}.ics"
        if s.kind == "compose" and s.phone_number:
            body = f"?body={quote(s.label, safe='')}" if s.label else ""
            return f"sms:{s.phone_number}{body}"
        return None  # replies and the rest: a form POST recorded as the tap

    return href


def calendar_ics(s: SuggestionView, *, uid: str, stamp: datetime) -> bytes:
    """An iCalendar (RFC 5545) file for a createCalendarEvent suggestion, times in UTC.

    `uid` must be stable per message and suggestion (so re-downloads update one event);
    `stamp` is the creation time (injected so output is reproducible).
    """
    start, end = parse_rfc3339(s.start_time), parse_rfc3339(s.end_time)
    if s.kind != "calendar" or start is None or end is None:
        raise ValueError("not a calendar suggestion with RFC 3339 times")
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Hongyan//cards//ZH")
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", end.astimezone(UTC))
    event.add("summary", s.label or s.display_text)
    if s.description:
        event.add("description", s.description)
    cal.add_component(event)
    return cal.to_ical()
