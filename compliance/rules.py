"""The template rules of the Chinese 5G-message and SMS consoles, checked when a template
version is submitted. Each broken rule is a 422 error naming the rule and the field:

- `no_link_in_variable`: a link is written into the template, never brought by a variable (a
  sample value that is a link; a URL whose scheme or host is a variable).
- `not_all_variables`: a template has text of its own, not only variables.
- `no_brackets`: no 【】 in the content — the platform adds the registered signature.
- `verification_wording`: a verification (otp) template says what the code is (验证码…).
"""

from __future__ import annotations

import re

from api.problems import FieldError, pointer
from compliance.normalise import normalise
from compliance.texts import document_texts, literal_texts

# A link as the consoles see one: a scheme, www., or a domain name followed by a path.
LINK = re.compile(r"(?i)\b(?:https?://|www\.)|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|io|cc|top|xyz|vip|me)\b")
# A URL whose scheme or host comes from a variable: in a URL field, or inside a text.
_VARIABLE_URL = re.compile(r"^\s*(?:https?://[^/\s]*)?\{\{")
_VARIABLE_HOST = re.compile(r"https?://[^/\s]*\{\{")
URL_KEYS = frozenset({"url", "mediaUrl", "thumbnailUrl", "fallbackUrl", "style"})
# The texts a recipient reads (an all-variable check ignores URLs, postback data and numbers).
READ_KEYS = frozenset({"title", "description", "text", "displayText", "fileName", "label", "contentDescription"})
BRACKETS = ("【", "】")
# Verification-class wording, in normal form (compliance.normalise).
CODE_WORDS = (
    "验证码",
    "校验码",
    "动态码",
    "动态密码",
    "确认码",
    "激活码",
    "安全码",
    "认证码",
    "verificationcode",
    "securitycode",
    "passcode",
    "otp",
)


def _rule(name: str, text: str) -> str:
    return f"template rule `{name}`: {text}"


def template_errors(card: dict, sample: dict | None, traffic_type: str) -> list[FieldError]:
    """Every console rule a template version breaks (paths into the version's body)."""
    errors: list[FieldError] = []
    fields = document_texts(card, "/card")
    for key, value in (sample or {}).items():
        if isinstance(value, str) and LINK.search(value):
            errors.append(
                FieldError(
                    pointer("sample", key),
                    _rule("no_link_in_variable", "a link must be written in the template, not given as a variable"),
                )
            )
    for path, text in fields:
        if (_VARIABLE_URL if _key(path) in URL_KEYS else _VARIABLE_HOST).search(text):
            errors.append(
                FieldError(path, _rule("no_link_in_variable", "the scheme and host of a link cannot be a variable"))
            )
    for path, text in fields:
        if any(b in text for b in BRACKETS):
            errors.append(
                FieldError(
                    path, _rule("no_brackets", "no 【】 in the content: the platform adds your registered signature")
                )
            )
    read = [(p, t) for p, t in fields if _key(p) in READ_KEYS]
    if read and not any(normalise(t) for _, t in literal_texts(read)):
        errors.append(
            FieldError(read[0][0], _rule("not_all_variables", "a template needs text of its own besides its variables"))
        )
    if traffic_type == "otp":
        own = "".join(normalise(t) for _, t in literal_texts(fields))
        if not any(w in own for w in CODE_WORDS):
            errors.append(
                FieldError(
                    "/card",
                    _rule(
                        "verification_wording",
                        "a verification template says what the code is (验证码, 校验码, 动态码…)",
                    ),
                )
            )
    return errors


def _key(path: str) -> str:
    return path.rsplit("/", 1)[-1]
