"""No PII in logs: masking rules, and records logged through a real handler."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from security.apikeys import new_api_key
from security.logs import MASK, PiiLogFilter, install, mask_phone, sensitive_values
from security.webhooks import new_webhook_secret


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613812341234", "+86138****1234"),
        ("13812341234", "138****1234"),
        ("8613812341234", "86138****1234"),
        ("+86 138-1234-1234", "+86138****1234"),
        ("+14155552671", "+1415****2671"),
        ("+442071838750", "+44207****8750"),
        ("+85212345678", "+85212****78"),
        ("+123", "+1****"),
        ("not a number", "****"),
        ("%2B8613812341234", "+86138****1234"),
        ("138.1234.1234", "138****1234"),
        ("１３８１２３４１２３４", "138****1234"),
    ],
)
def test_mask_phone(number, masked):
    assert mask_phone(number) == masked


@pytest.fixture
def captured():
    """A logger whose only handler writes formatted lines to a buffer through the filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(extra_to)s"))
    pii = install(handlers=[handler])
    logger = logging.getLogger(f"test.pii.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, pii
    logger.removeHandler(handler)


def _log(logger, *args, extra_to="-", **kwargs):
    logger.info(*args, extra={"extra_to": extra_to}, **kwargs)


@pytest.mark.parametrize(
    ("args", "must_not_contain", "must_contain"),
    [
        (("sending to +8613812341234",), ["13812341234"], ["+86138****1234"]),
        (("sending to %s", "+8613812341234"), ["13812341234"], ["+86138****1234"]),
        (("sending to %(to)s", {"to": "13812341234"}), ["13812341234"], ["138****1234"]),
        (("recipients %r", ["+8613812341234", "+8613912345678"]), ["13812341234", "13912345678"], ["+86139****5678"]),
        (("retry %d for %s", 3, "86 138 1234 1234"), ["1234 1234"], ["retry 3 for 86138****1234"]),
        (("GET /v1/x?to=%%2B8613812341234 200",), ["13812341234"], ["+86138****1234"]),
        (("intl %s", "+1 415 555 2671"), ["555 2671"], ["+1415****2671"]),
        (("took %d ms at %d", 1763900000000, 1763900000), [], ["took 1763900000000 ms at 1763900000"]),
    ],
)
def test_phone_numbers_masked_in_msg_and_args(captured, args, must_not_contain, must_contain):
    logger, stream, _ = captured
    _log(logger, *args)
    line = stream.getvalue()
    for text in must_not_contain:
        assert text not in line
    for text in must_contain:
        assert text in line


def test_keys_and_secrets_masked(captured):
    logger, stream, _ = captured
    key, key_id, _ = new_api_key()
    secret = new_webhook_secret()
    _log(logger, "auth %s with Authorization: Bearer %s and secret %s", key, key, secret)
    line = stream.getvalue()
    assert key.split("_")[3] not in line and secret[6:] not in line
    assert f"hy_live_{key_id}_****" in line and "Bearer ****" in line and "whsec_****" in line


def test_registered_and_scoped_values(captured):
    logger, stream, pii = captured
    pii.register("张三丰", "VIP-0042")
    with sensitive_values("王五", "coupon-XYZ"):
        _log(logger, "name=%s code=%s member=%s", "王五", "coupon-XYZ", "VIP-0042")
    _log(logger, "after %s %s", "王五", "张三丰")
    first, second = stream.getvalue().splitlines()
    assert "王五" not in first and "coupon-XYZ" not in first and "VIP-0042" not in first
    assert first.count("[redacted]") == 3
    assert "王五" in second and "张三丰" not in second  # the scope ended; the registration did not
    pii.forget("张三丰")
    _log(logger, "again %s", "张三丰")
    assert "张三丰" in stream.getvalue().splitlines()[2]


async def test_scoped_values_do_not_leak_between_tasks(captured):
    logger, stream, _ = captured
    inside = asyncio.Event()
    release = asyncio.Event()

    async def handler_with_secret():
        with sensitive_values("alpha-secret"):
            inside.set()
            await release.wait()

    task = asyncio.create_task(handler_with_secret())
    await inside.wait()
    _log(logger, "other task logs alpha-secret")  # not inside that task's scope
    release.set()
    await task
    assert "alpha-secret" in stream.getvalue()


def test_extra_fields_exceptions_and_broken_formats(captured):
    logger, stream, _ = captured
    _log(logger, "dlr", extra_to="+8613812341234")
    try:
        raise ValueError("bad recipient +8613912345678")
    except ValueError:
        logger.exception("failed for %s", "13812341234", extra={"extra_to": "-"})
    logger.info("broken %d format", "+8613812341234", extra={"extra_to": "-"})
    text = stream.getvalue()
    assert "13812341234" not in text and "13912345678" not in text
    assert "+86139****5678" in text and "Traceback" in text


def test_register_is_bounded():
    pii = PiiLogFilter(max_registered=3)
    pii.register("aa1", "bb2", "cc3", "dd4", "x")
    assert pii.mask("aa1 bb2 cc3 dd4 x") == "aa1 [redacted] [redacted] [redacted] x"


def test_longest_value_wins():
    pii = PiiLogFilter()
    pii.register("Li", "Li Lei")
    assert pii.mask("hello Li Lei") == "hello [redacted]"


def test_root_install_covers_propagated_records():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        pii = install()
        assert pii in handler.filters
        install(pii)
        assert handler.filters.count(pii) == 1
        logging.getLogger("aiohttp.access").warning('127.0.0.1 "POST /v1/messages?to=+8613812341234" 202')
    finally:
        root.removeHandler(handler)
    assert "13812341234" not in stream.getvalue() and "+86138****1234" in stream.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=40).filter(lambda s: not s[-1:].isdigit() and not s.endswith("+")),
    suffix=st.text(max_size=40).filter(lambda s: not s[:1].isdigit()),
    second=st.sampled_from("3456789"),
    rest=st.text(alphabet="0123456789", min_size=9, max_size=9),
    style=st.sampled_from(["{n}", "+86{n}", "86{n}", "+86 {a} {b} {c}", "{a}-{b}-{c}", "0086{n}"]),
)
def test_no_cn_mobile_survives(prefix, suffix, second, rest, style):
    number = "1" + second + rest
    spelled = style.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    masked = PiiLogFilter().mask(prefix + spelled + suffix)
    assert number not in "".join(ch for ch in masked if ch.isdigit() or ch == "*")
    assert number[3:7] + number[7:] not in masked.replace(" ", "").replace("-", "")


@pytest.mark.parametrize("text", ["BEARER abc123", "bearer abc123", "Authorization: Bearer\tabc123"])
def test_bearer_any_case(text):
    assert "abc123" not in PiiLogFilter().mask(text)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        # Issue 13 finding 10: dotted and percent-encoded numbers passed unmasked.
        ("from 138.0013.8010", "00138010"),
        ("GET /v1/x?to=%2B8613800138010", "13800138010"),
        ("to=%2B86%20138%200013%208010", "00138010"),
        ("to=%2b86-138-0013-8010", "00138010"),
        ("+86.138.0013.8010", "00138010"),
        ("+86 (138) 0013 8010", "00138010"),
        ("+1.650.253.0000", "6502530000"),
        ("+1 (650) 253-0000", "6502530000"),
        ("１３８００１３８０１０", "00138010"),  # fullwidth
        ("+٨٦١٣٨٠٠١٣٨٠١٠", "00138010"),  # Arabic-Indic
        ("+86138001380١0", "0013801"),
    ],
)
def test_other_spellings_of_numbers_are_masked(text, hidden):
    masked = PiiLogFilter().mask(text)
    digits = "".join(str(int(ch)) if ch.isdecimal() else ch for ch in masked)
    assert hidden not in digits.replace(" ", "").replace("-", "").replace(".", ""), masked
    assert MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        '139.224.112.10 "GET /v1/messages HTTP/1.1" 200 512 0.003s',  # an IPv4 address is no number
        "2026-11-23 13:00:00.123 took 13.5 ms",
        "version 1.380.013.8010",
        "/handsets/AbCdEfGhIjKlMnOp",
    ],
)
def test_what_only_looks_like_a_number_or_a_link_is_left_alone(text):
    assert PiiLogFilter().mask(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET /s/AbCdEfGhIjKlMnOp HTTP/1.1", "GET /s/AbCd**** HTTP/1.1"),
        ("POST /s/AbCdEfGhIjKlMnOp/r/2", "POST /s/AbCd****/r/2"),
        ("link https://hy.example/s/Ab-_EfGhIjKlMnOpQr sent", "link https://hy.example/s/Ab-_**** sent"),
        ("next=%2Fs%2FAbCdEfGhIjKlMnOp", "next=%2Fs%2FAbCd****"),
    ],
)
def test_short_link_tokens_keep_only_a_prefix(text, masked):
    """Issue 13 finding 10: a token opens the recipient's personal page."""
    assert PiiLogFilter().mask(text) == masked
