"""Composing fallback SMS text and recognising opt-out replies."""

from __future__ import annotations

import pytest

from fallback.compose import ComposeError, compose_sms, is_opt_out_reply

SIG = "【鸿雁测试】"
LINK = "https://hy.example.cn/s/abcdefghijklmnop"

COMPOSE_CASES = [
    (
        "notification with link",
        dict(body_text="您的订单已发货", short_link=LINK, traffic_type="notification"),
        f"{SIG}您的订单已发货 {LINK}",
    ),
    (
        "otp without link",
        dict(body_text="验证码 123456，5分钟内有效", traffic_type="otp"),
        f"{SIG}验证码 123456，5分钟内有效",
    ),
    (
        "marketing gets opt-out",
        dict(body_text="双11 全场5折", short_link=LINK, traffic_type="marketing"),
        f"{SIG}双11 全场5折 {LINK} 拒收请回复R",
    ),
    ("marketing without link", dict(body_text="新品上市", traffic_type="marketing"), f"{SIG}新品上市 拒收请回复R"),
    (
        "custom opt-out wording",
        dict(body_text="新品上市", traffic_type="advertisement", opt_out_text="回TD退订"),
        f"{SIG}新品上市 回TD退订",
    ),
    (
        "opt-out already last",
        dict(body_text="新品上市 拒收请回复R", traffic_type="marketing"),
        f"{SIG}新品上市 拒收请回复R",
    ),
    ("body is trimmed", dict(body_text="  hello \n", traffic_type="service"), f"{SIG}hello"),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in COMPOSE_CASES], ids=[c[0] for c in COMPOSE_CASES])
def test_compose(kwargs, expected):
    assert compose_sms(signature=SIG, **kwargs) == expected


REJECT_CASES = [
    ("body with own signature", dict(body_text="【别家】促销", traffic_type="marketing"), "body_text"),
    ("signature mid-body", dict(body_text="您好【鸿雁】", traffic_type="otp"), "body_text"),
    ("empty body", dict(body_text="  ", traffic_type="otp"), "body_text"),
    ("unknown traffic type", dict(body_text="hi", traffic_type="spam"), "traffic_type"),
    ("relative link", dict(body_text="hi", short_link="/s/abc", traffic_type="otp"), "short_link"),
    ("empty opt-out", dict(body_text="hi", traffic_type="marketing", opt_out_text=" "), "opt_out_text"),
    ("signature without brackets", dict(signature="鸿雁", body_text="hi", traffic_type="otp"), "signature"),
    ("signature too short", dict(signature="【鸿】", body_text="hi", traffic_type="otp"), "signature"),
    ("signature too long", dict(signature="【" + "长" * 17 + "】", body_text="hi", traffic_type="otp"), "signature"),
    ("two signatures", dict(signature="【鸿雁】【测试】", body_text="hi", traffic_type="otp"), "signature"),
]


@pytest.mark.parametrize(("kwargs", "field"), [c[1:] for c in REJECT_CASES], ids=[c[0] for c in REJECT_CASES])
def test_compose_rejects(kwargs, field):
    kwargs.setdefault("signature", SIG)
    with pytest.raises(ComposeError) as info:
        compose_sms(**kwargs)
    assert info.value.field == field
    assert str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R", True),
        ("r", True),
        (" T ", True),
        ("TD", True),
        ("td", True),
        ("Td", True),
        ("ＴＤ", True),
        ("ｒ", True),
        ("退订", True),
        (" 退订！", True),
        ("STOP", True),
        ("stop.", True),
        ("Stop\n", True),
        ("", False),
        ("RR", False),
        ("TD 谢谢", False),
        ("不要退订", False),
        ("hello", False),
        ("1", False),
        ("STOPP", False),
        ("R?", True),
    ],
)
def test_is_opt_out_reply(text, expected):
    assert is_opt_out_reply(text) is expected
