"""The inbox and bot rules pages are served like the other editor pages: the shell with the
editor's strict CSP (scripts and the event stream from 'self' only), their modules and strings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "editor" / "static"


@pytest.mark.parametrize(("path", "module"), [("/editor/inbox", "inbox.js"), ("/editor/inbox/rules", "botrules.js")])
async def test_the_pages_are_served_with_the_editors_csp(api, path, module):
    resp = await api.client.get(path)
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert f'<script type="module" src="/editor/static/js/{module}"></script>' in page
    csp = dict(d.strip().split(" ", 1) for d in resp.headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "<script>" not in page  # no inline script
    js = await api.client.get(f"/editor/static/js/{module}")
    assert js.status == 200 and "javascript" in js.content_type


@pytest.mark.parametrize("page", ["inbox.html", "bot-rules.html"])
def test_every_string_of_the_pages_is_translated(page):
    en = json.loads((STATIC / "i18n" / "en.json").read_text())
    zh = json.loads((STATIC / "i18n" / "zh-CN.json").read_text())
    used = set(re.findall(r'data-i18n(?:-aria|-title|-placeholder)?="([\w.]+)"', (STATIC / page).read_text()))
    assert used and sorted(used - en.keys()) == [] and sorted(used - zh.keys()) == []
