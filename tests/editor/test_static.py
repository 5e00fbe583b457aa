"""Serving the editor: the app shell for /editor and client routes, assets with their types and
ETags, nothing outside the static folder, a strict Content-Security-Policy."""

from __future__ import annotations

import pytest
from aiohttp import web
from yarl import URL

from api.middleware import problem_middleware
from editor import EditorConfig, editor_routes

SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>鸿雁编辑器</title>
<link rel="stylesheet" href="/editor/static/css/app.css"><style>body{margin:0}</style></head>
<body><div id="app"></div><script type="module" src="/editor/static/js/main.js"></script></body></html>"""
ASSETS = {
    "index.html": SHELL,
    "js/main.js": "import { start } from './app.js'; start();",
    "js/app.mjs": "export const x = 1;",
    "css/app.css": "body{color:#222}",
    "i18n/zh-CN.json": '{"hello": "你好"}',
    "icons/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>',
    ".secret.js": "hidden",
    "notes.exe": "MZ",
}


@pytest.fixture
def static_dir(tmp_path):
    root = tmp_path / "static"
    for rel, text in ASSETS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "outside.js").write_text("SECRET-OUTSIDE")
    (root / "js" / "link.js").symlink_to(tmp_path / "outside.js")
    return root


@pytest.fixture
async def client(aiohttp_client, static_dir):
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(editor_routes(EditorConfig(base_url="http://127.0.0.1:8080", static_dir=static_dir)))
    return await aiohttp_client(app)


@pytest.mark.parametrize("path", ["/editor", "/editor/", "/editor/templates/0123/versions", "/editor/sign-in"])
async def test_the_shell_answers_the_app_and_its_client_routes(client, path):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html" and resp.charset == "utf-8"
    assert await resp.text() == SHELL
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-cache"


async def test_the_shell_has_a_strict_csp(client):
    resp = await client.get("/editor")
    csp = dict(d.strip().split(" ", 1) for d in resp.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"  # no inline or eval'd script
    assert csp["img-src"] == "'self' data: blob:" and csp["frame-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert csp["connect-src"] == "'self'" and csp["base-uri"] == "'self'"
    # The previews (srcdoc iframes inherit this policy) carry their own style blocks.
    assert csp["style-src"] == "'self' 'unsafe-inline'"


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/editor/static/js/main.js", "text/javascript"),
        ("/editor/static/js/app.mjs", "text/javascript"),
        ("/editor/static/css/app.css", "text/css"),
        ("/editor/static/i18n/zh-CN.json", "application/json"),
        ("/editor/static/icons/logo.svg", "image/svg+xml"),
        ("/editor/static/index.html", "text/html"),
    ],
)
async def test_assets_have_their_content_types_and_etags(client, path, content_type):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == content_type
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in resp.headers["Cache-Control"]
    etag = resp.headers["ETag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304


async def test_the_shell_revalidates_with_its_etag(client):
    etag = (await client.get("/editor")).headers["ETag"]
    assert (await client.get("/editor/", headers={"If-None-Match": etag})).status == 304


@pytest.mark.parametrize(
    "raw",
    [
        "/editor/static/%2e%2e/%2e%2e/outside.js",
        "/editor/static/..%2f..%2foutside.js",
        "/editor/static/js/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside.js",
        "/editor/static/%2fetc%2fpasswd",
        "/editor/static/js/link.js",  # a symlink out of the folder
        "/editor/static/.secret.js",
        "/editor/static/notes.exe",  # not a type we serve
        "/editor/static/js",  # a folder
        "/editor/static/nothing.js",
    ],
)
async def test_nothing_outside_the_static_folder_is_served(client, raw):
    resp = await client.get(URL(raw, encoded=True))
    body = await resp.text()
    assert resp.status == 404, body
    assert "SECRET-OUTSIDE" not in body and "root:" not in body


async def test_without_installed_files_the_shell_is_a_404(aiohttp_client, tmp_path):
    app = web.Application()
    app.add_routes(editor_routes(EditorConfig(base_url="http://x", static_dir=tmp_path / "none")))
    client = await aiohttp_client(app)
    assert (await client.get("/editor")).status == 404


async def test_the_app_serves_the_packaged_editor(api):
    from editor import STATIC_DIR

    resp = await api.client.get("/editor")
    if not (STATIC_DIR / "index.html").exists():
        assert resp.status == 404
        return
    assert resp.status == 200 and "Content-Security-Policy" in resp.headers
