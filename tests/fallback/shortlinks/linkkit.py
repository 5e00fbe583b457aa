"""Cards and a clock for the short-link tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SCRIPT = "<script>alert('x')</script>"
TARGET = "https://shop.example.com/orders/42?from=sms"

FULL_CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "media": {
                    "mediaUrl": "https://cdn.example.com/bill.png",
                    "mediaContentType": "image/png",
                    "mediaFileSize": 1000,
                    "height": "MEDIUM_HEIGHT",
                    "contentDescription": "账单",
                },
                "title": "您的订单 " + SCRIPT,
                "description": "张三您好，订单 42 已发货。",
                "suggestions": [
                    {
                        "action": {
                            "displayText": "查看订单",
                            "postback": {"data": "open"},
                            "urlAction": {"openUrl": {"url": TARGET, "application": "browser"}},
                        }
                    },
                    {
                        "action": {
                            "displayText": "联系客服",
                            "postback": {"data": "dial"},
                            "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+86-10-95588"}},
                        }
                    },
                    {
                        "action": {
                            "displayText": "门店位置",
                            "postback": {"data": "map"},
                            "mapAction": {
                                "showLocation": {
                                    "location": {"latitude": 39.908722, "longitude": 116.397499, "label": "天安门店"}
                                }
                            },
                        }
                    },
                    {"reply": {"displayText": "确认收货", "postback": {"data": "confirm-42"}}},
                ],
            },
        }
    },
    "suggestions": [
        {
            "action": {
                "displayText": "加入日历",
                "postback": {"data": "cal"},
                "calendarAction": {
                    "createCalendarEvent": {
                        "startTime": "2026-12-01T09:00:00+08:00",
                        "endTime": "2026-12-01T10:00:00+08:00",
                        "title": "取件",
                        "description": "带上身份证",
                    }
                },
            }
        },
    ],
}
# Suggestion indexes on the page (cards first, then chips).
OPEN, DIAL, MAP, REPLY, CALENDAR = range(5)

CAROUSEL = {
    "message": {
        "generalPurposeCardCarousel": {
            "layout": {"cardWidth": "MEDIUM_WIDTH"},
            "content": [
                {
                    "title": f"套餐 {i}",
                    "description": f"每月 {i}9 元",
                    "media": {
                        "mediaUrl": f"https://cdn.example.com/{i}.png",
                        "mediaContentType": "image/png",
                        "mediaFileSize": 1000,
                        "height": "SHORT_HEIGHT",
                    },
                    "suggestions": [{"reply": {"displayText": f"选择 {i}", "postback": {"data": f"plan-{i}"}}}],
                }
                for i in range(1, 4)
            ],
        }
    }
}

MOBILE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
)


@dataclass
class ManualClock:
    """A clock the test moves by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at
