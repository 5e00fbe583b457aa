"""The brands' web card editor: the app shell and assets, sign-in sessions (cookie + CSRF) and
the live preview (RCS card, fallback SMS, H5 page) — a consumer of cards, fallback and accounts."""

from editor.http import CONTENT_SECURITY_POLICY, SESSIONS, STATIC_DIR, EditorConfig, editor_routes
from editor.preview import Previewer, PreviewRequest, parse_request
from editor.sessions import COOKIE_NAME, EditorSession, EditorSessions, LoginLimiter

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "COOKIE_NAME",
    "EditorConfig",
    "EditorSession",
    "EditorSessions",
    "LoginLimiter",
    "PreviewRequest",
    "Previewer",
    "SESSIONS",
    "STATIC_DIR",
    "editor_routes",
    "parse_request",
]
