"""The live refresh of the sandbox's pages (the virtual handset, the SMS inbox): a script file the
page loads from its own server (CSP `script-src 'self'`, no inline script) that polls the page's
version URL (`data-version-url` on <html>) and reloads when the version changed (`data-version`),
unless a person is typing a reply."""

from __future__ import annotations

import base64
import hashlib


def page_headers(style: str, *, images: bool = False, frames: bool = False, framed: bool = False) -> dict[str, str]:
    """The headers of a sandbox page: its one style block allowed by its hash, scripts only from
    its own server (the refresh), images, audio and video from it (images also as data: URIs)
    when `images`, nothing framed. `frames`: the page frames pages of its own server; `framed`:
    its own server may frame it."""
    style_hash = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    img = " img-src 'self' data:; media-src 'self';" if images else ""
    frame = " frame-src 'self';" if frames else ""
    ancestors = "'self'" if framed else "'none'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{style_hash}'; script-src 'self'; connect-src 'self';{img}{frame}"
            f" form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "SAMEORIGIN" if framed else "DENY",
        "X-Robots-Tag": "noindex",
        "Cache-Control": "no-store",
    }


REFRESH_SCRIPT = """'use strict';
(() => {
  const root = document.documentElement;
  const url = root.dataset.versionUrl;
  let seen = root.dataset.version;
  if (!url) return;
  const typing = () => [...document.querySelectorAll('input[name=text]')].some((i) => i.value !== '');
  setInterval(async () => {
    try {
      const resp = await fetch(url, { cache: 'no-store' });
      const { version } = await resp.json();
      if (String(version) !== seen && !typing()) location.reload();
    } catch (err) { /* the simulator stopped: try again */ }
  }, 700);
})();
"""


# The sandbox pages' look, theme and language switch (the handset's and the SMS inboxes': a
# jinja2 template both include as "looks"), and the looks it offers.
LOOK_NAMES = {"harmony": "HarmonyOS style / 鸿蒙风格", "hyper": "HyperOS style / 澎湃风格"}

LOOK_BAR = """<nav class="hs-looks" aria-label="look">{% for name, title in looks.items() %}<a href="?look={{ name }}"{% if name == look %} aria-current="true"{% endif %} data-testid="look-{{ name }}">{{ title }}</a>{% endfor %}
<a href="?theme=light"{% if theme == "light" %} aria-current="true"{% endif %} data-testid="theme-light">{{ words.light }}</a><a href="?theme=dark"{% if theme == "dark" %} aria-current="true"{% endif %} data-testid="theme-dark">{{ words.dark }}</a>
<a href="?lang=zh-CN"{% if lang == "zh-CN" %} aria-current="true"{% endif %} lang="zh-CN">中文</a><a href="?lang=en"{% if lang == "en" %} aria-current="true"{% endif %} lang="en">English</a></nav>"""
