"""Handset looks: style sheets that draw a card (and the virtual handset's thread around it) the
way the main handset families sold in China draw 5G messages — CSS only, no brand assets.

`look.css` holds what every look shares; `look-<name>.css` sets its variables and shapes, light
and dark (`body.look.look-<name>`, plus `.dark`). The editor's phone preview and the sandbox's
virtual handset and SMS inbox use the same sheets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from cards.html import card_css, html_environment

LOOKS = ("harmony", "hyper")  # HarmonyOS-style, HyperOS-style
DEFAULT_LOOK = "harmony"
THEMES = ("light", "dark")


def _source(name: str) -> str:
    env = html_environment()
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


@lru_cache(maxsize=1)
def looks_css() -> str:
    """Every look's style sheet (the shared part first); a page picks one by its body's classes."""
    return "\n".join([_source("look.css"), *(_source(f"look-{name}.css") for name in LOOKS)])


def body_class(look: str, theme: str) -> str:
    """The body classes that select `look` in `theme` (unknown values: the defaults)."""
    look = look if look in LOOKS else DEFAULT_LOOK
    return f"look look-{look}" + (" dark" if theme == "dark" else "")


def page_css() -> str:
    """Cards (their suggestions marked with their kinds) and every look: the one style block of a page that draws cards in a handset look."""
    return card_css() + _source("kinds.css") + "\n" + looks_css()


def page_choices(
    query: Mapping[str, str], cookies: Mapping[str, str], languages: Sequence[str], default_lang: str = "en"
) -> tuple[dict[str, str], dict[str, str]]:
    """The look, theme and language a sandbox page is drawn in: from the query (then remembered
    in `hs_*` cookies), else the cookies, else the defaults; and the cookies to set."""
    allowed = {"look": LOOKS, "theme": THEMES, "lang": tuple(languages)}
    defaults = {"look": DEFAULT_LOOK, "theme": "light", "lang": default_lang}
    chosen, remember = {}, {}
    for key, values in allowed.items():
        asked = query.get(key)
        if asked in values:
            chosen[key] = remember[f"hs_{key}"] = asked
        else:
            kept = cookies.get(f"hs_{key}")
            chosen[key] = kept if kept in values else defaults[key]
    return chosen, remember
