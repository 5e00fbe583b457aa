"""Domain blocks produce valid cards (and drawn images) from structured data."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from goldens import GOLDEN, check_png
from PIL import Image

from cards import CardInvalid, render_text, validate_card
from cards.blocks import (
    Appointment,
    Bill,
    LineItem,
    Option,
    Place,
    Ticket,
    appointment_card,
    bill_card,
    chip_list,
    location_card,
    otp_message,
    persistent_menu,
    ticket_card,
)

CST = timezone(timedelta(hours=8))
BILL = Bill(
    "尊敬的李女士",
    "2026年10月",
    [LineItem("5G畅享套餐月费", "129"), LineItem("超出流量 2.3GB", "23.00"), LineItem("国内通话 31分钟", 6.2)],
    "2026-11-20",
    "https://pay.example.cn/b/1",
    "https://m.example.cn/b/1",
)
PLACE = Place(
    "北京协和医院（东单院区）",
    "北京市东城区帅府园1号",
    39.9127,
    116.4174,
    phone="010-69156114",
    fallback_url="https://map.example.cn/p/1",
)


def _content(card):
    return card["message"]["generalPurposeCard"]["content"]


def test_bill_card_has_items_total_due_date_and_buttons():
    built = bill_card(BILL, media_url="https://cdn.example.cn/bill/1.png")
    c = _content(built.card)
    assert c["title"] == "2026年10月账单：¥158.20"
    assert c["description"].splitlines() == [
        "尊敬的李女士",
        "5G畅享套餐月费 ¥129.00",
        "超出流量 2.3GB ¥23.00",
        "国内通话 31分钟 ¥6.20",
        "请于2026年11月20日前缴费",
    ]
    assert [s["action"]["urlAction"]["openUrl"]["url"] for s in c["suggestions"]] == [BILL.pay_url, BILL.detail_url]
    assert c["media"]["mediaFileSize"] == len(built.media) and built.media_content_type == "image/png"
    assert Image.open(io.BytesIO(built.media)).size == (720, 480)
    check_png(GOLDEN / "block_bill.png", built.media)
    assert validate_card(built.card).valid


def test_bill_in_english_and_without_image():
    built = bill_card(BILL, locale="en")
    assert built.media is None and "media" not in _content(built.card)
    assert _content(built.card)["title"] == "2026年10月 bill: CN¥158.20"


def test_a_long_bill_is_summarised_within_the_description_limit():
    items = [LineItem(f"增值业务{i}" + "包" * 60, i) for i in range(60)]
    built = bill_card(Bill("客户", "2026年10月", items, "2026-11-20", "https://p.cn", "https://d.cn"))
    assert len(_content(built.card)["description"]) <= 2000
    assert "等50项" in _content(built.card)["description"]


def test_location_card_shows_the_place_and_draws_a_pin():
    built = location_card(PLACE, media_url="https://cdn.example.cn/map/1.png")
    c = _content(built.card)
    show = c["suggestions"][0]["action"]["mapAction"]["showLocation"]
    assert show == {
        "location": {"latitude": 39.9127, "longitude": 116.4174, "label": "北京协和医院（东单院区）"},
        "fallbackUrl": "https://map.example.cn/p/1",
    }
    assert c["suggestions"][1]["action"]["dialerAction"]["dialPhoneNumber"]["phoneNumber"] == "010-69156114"
    assert location_card(PLACE, media_url="https://x.cn/m.png").media == built.media  # stable drawing
    check_png(GOLDEN / "block_map.png", built.media)
    assert validate_card(built.card).valid
    assert "地点：北京协和医院（东单院区）" in render_text(built.card)


def test_appointment_and_ticket_carry_a_calendar_event():
    start = datetime(2026, 11, 26, 9, 30, tzinfo=CST)
    appt = appointment_card(
        Appointment(
            "心内科复诊",
            start,
            start + timedelta(minutes=30),
            "门诊楼3层",
            "请携带医保卡",
            "https://his.example.cn/a/1",
            "010-69156114",
        )
    )
    ev = _content(appt.card)["suggestions"][0]["action"]["calendarAction"]["createCalendarEvent"]
    assert ev == {
        "startTime": "2026-11-26T09:30:00+08:00",
        "endTime": "2026-11-26T10:00:00+08:00",
        "title": "心内科复诊",
        "description": "门诊楼3层 请携带医保卡",
    }
    assert len(_content(appt.card)["suggestions"]) == 3
    ticket = ticket_card(
        Ticket(
            "周杰伦演唱会", start, start + timedelta(hours=3), "鸟巢", "A区12排8座", "K8H2Q", "https://t.example.cn/1"
        )
    )
    assert "座位：A区12排8座" in _content(ticket.card)["description"]
    assert validate_card(ticket.card).valid
    with pytest.raises(ValueError):
        appointment_card(Appointment("x", datetime(2026, 1, 1), datetime(2026, 1, 2), "y"))


def test_menu_tree_and_chip_list():
    tree = [
        Option("我的账户", children=[Option("话费余额", "balance"), Option("流量查询", "data")]),
        Option("业务办理", url="https://m.example.cn/biz"),
        Option("客服", phone="10000"),
    ]
    menu = persistent_menu(tree)
    entries = menu["menu"]["entries"]
    assert entries[0]["menu"]["displayText"] == "我的账户"
    assert entries[0]["menu"]["entries"][1] == {"reply": {"displayText": "流量查询", "postback": {"data": "data"}}}
    assert entries[1]["action"]["urlAction"]["openUrl"]["url"] == "https://m.example.cn/biz"
    chips = chip_list([Option("是"), Option("否")])
    assert [s["reply"]["postback"]["data"] for s in chips["suggestions"]] == ["chip:0", "chip:1"]


def test_menu_beyond_the_profile_is_refused_with_paths():
    tree = [Option(f"入口{i}") for i in range(4)]
    with pytest.raises(CardInvalid) as err:
        persistent_menu(tree)  # CN: 3 top entries
    assert err.value.errors[0].path == "/menu/entries"
    assert persistent_menu(tree, profile="gsma")


def test_otp_is_text_only_without_links():
    card = otp_message("482913", "登录", 5, brand="")
    assert card == {"message": {"text": "验证码482913，用于登录，5分钟内有效。请勿泄露给他人。"}}
    assert b"http" not in orjson.dumps(card) and "suggestions" not in card
    for purpose in ("登录 https://evil.example.com", "访问 www.evil.cn", "打开 evil.top"):
        with pytest.raises(ValueError):
            otp_message("482913", purpose)
    with pytest.raises(ValueError):
        otp_message("48 29", "登录")
