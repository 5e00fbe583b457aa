"""Builders of valid cards for the cards tests (each call returns a fresh dict)."""

from __future__ import annotations


def reply(text: str = "查看", data: str = "view") -> dict:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def action(group: str, operation: str, params: dict, text: str = "操作") -> dict:
    return {"action": {"displayText": text, "postback": {"data": "act"}, group: {operation: params}}}


def media(**over) -> dict:
    m = {
        "mediaUrl": "https://cdn.example.cn/a.png",
        "mediaContentType": "image/png",
        "mediaFileSize": 1024,
        "height": "MEDIUM_HEIGHT",
    }
    m.update(over)
    return m


def content(**over) -> dict:
    c = {"title": "标题", "description": "描述", "suggestions": [reply()]}
    c.update(over)
    return c


def standalone(**over) -> dict:
    return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content(**over)}}}


def carousel(n: int = 2, width: str | None = None, **over) -> dict:
    layout = {"cardWidth": width} if width else {}
    return {
        "message": {"generalPurposeCardCarousel": {"layout": layout, "content": [content(**over) for _ in range(n)]}}
    }


def with_action(group: str, operation: str, params: dict) -> dict:
    return standalone(suggestions=[action(group, operation, params)])


def location(**loc) -> dict:
    return with_action("mapAction", "showLocation", {"location": loc})


def calendar(**over) -> dict:
    ev = {"startTime": "2026-01-31T09:00:00+08:00", "endTime": "2026-01-31T10:00:00+08:00", "title": "复诊"}
    ev.update(over)
    return with_action("calendarAction", "createCalendarEvent", ev)


def menu(top: int, sub: int = 0, depth: int = 1) -> dict:
    """A persistent menu: `top` entries; the first is a chain of `depth` levels of `sub` entries."""

    def level(d: int) -> dict:
        entries = [reply(f"项{i}", f"m{i}") for i in range(sub)]
        if d < depth:
            entries[0] = {"menu": level(d + 1)}
        return {"displayText": f"子菜单{d}", "entries": entries}

    entries = [reply(f"入口{i}", f"t{i}") for i in range(top)]
    if depth > 1:
        entries[0] = {"menu": level(2)}
    return {"menu": {"entries": entries}}
