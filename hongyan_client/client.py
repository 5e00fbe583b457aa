"""The client: one aiohttp session, JSON in and out, problem+json answers raised as ApiError."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class ApiError(Exception):
    """The API answered with a problem: `type` (a /docs/problems section), `detail`, and for a
    422 `errors` (each `{"path", "message", "code"?, "params"?}`); `retry_after` in seconds when
    the server said when to come back."""

    status: int
    detail: str
    type: str | None = None
    errors: list[dict] = field(default_factory=list)
    retry_after: float | None = None
    body: dict = field(default_factory=dict)

    def __str__(self) -> str:
        fields = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in self.errors)
        return f"{self.status} {self.detail}" + (f" ({fields})" if fields else "")


@dataclass(frozen=True)
class Accepted:
    """A 202: the batch and each recipient's message (id, to, status)."""

    batch_id: str
    messages: list[dict]
    location: str | None = None  # where to follow it
    rate_limit: Mapping[str, str] = field(default_factory=dict)  # the RateLimit-* headers

    @property
    def message_ids(self) -> list[str]:
        return [m["id"] for m in self.messages]


class Hongyan:
    """An API client for one key. Use it as an async context manager, or call `close()`."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        max_retry_wait_s: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.max_retry_wait_s = max_retry_wait_s

    async def __aenter__(self) -> Hongyan:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    # -- sending --------------------------------------------------------------------------------
    async def send(
        self,
        to: str,
        *,
        card: dict | None = None,
        text: str | None = None,
        template: dict | str | None = None,
        variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Accepted:
        """Send to one recipient: a `card`, a `text` or a `template` (name, or `{"name", "version"}`),
        with its `variables`; `options` are the request's other fields (traffic_type, ttl,
        fallback, suggestions, send_at, client_ref, channel, …)."""
        body: dict[str, Any] = {"to": to, **_content(card, text, template), **options}
        if variables:
            body["variables"] = dict(variables)
        return await self._send(body, idempotency_key)

    async def send_batch(
        self,
        recipients: list[Mapping[str, Any]],
        *,
        card: dict | None = None,
        text: str | None = None,
        template: dict | str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Accepted:
        """Send one content to many: `recipients` are `{"to", "variables"?}` (up to 10,000)."""
        body = {"recipients": [dict(r) for r in recipients], **_content(card, text, template), **options}
        return await self._send(body, idempotency_key)

    async def _send(self, body: dict, idempotency_key: str | None) -> Accepted:
        key = idempotency_key or str(uuid.uuid4())
        answer, headers = await self._request("POST", "/v1/messages", body, headers={"Idempotency-Key": key})
        rate = {k: v for k, v in headers.items() if k.lower().startswith("ratelimit-")}
        return Accepted(answer["batch_id"], answer["messages"], headers.get("Location"), rate)

    # -- reading --------------------------------------------------------------------------------
    async def get(self, message_id: str) -> dict:
        """One message with its events (its status, its short link once the SMS went, …)."""
        answer, _ = await self._request("GET", f"/v1/messages/{_segment(message_id)}")
        return answer

    async def messages(self, *, batch_id: str | None = None, page_size: int = 100) -> AsyncIterator[dict]:
        """Every message (of a batch, in recipient order; else all, newest first), page by page."""
        cursor: str | None = None
        while True:
            query = {"limit": str(page_size)}
            if batch_id is not None:
                query["batch_id"] = batch_id
            if cursor is not None:
                query["cursor"] = cursor
            page, _ = await self._request("GET", "/v1/messages", params=query)
            for item in page["data"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def cancel(self, message_id: str) -> dict:
        """Cancel a message: `revoked` at once when not sent yet, else revoked at the operator
        (the outcome follows as events and webhooks)."""
        answer, _ = await self._request("POST", f"/v1/messages/{_segment(message_id)}/cancel")
        return answer

    # -- the wire -------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        sent = {**self._headers, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._http().request(
                    method, self.base_url + path, data=data, params=params, headers=sent
                ) as resp:
                    raw = await resp.read()
                    if resp.status < 400:
                        return (json.loads(raw) if raw else None), resp.headers
                    error = _error(resp.status, raw, resp.headers)
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt > self.retries:
                    raise
                await asyncio.sleep(min(self.max_retry_wait_s, 0.5 * 2 ** (attempt - 1)))
                continue
            # A retry is safe: reads are, and a send carries its Idempotency-Key.
            if error.status not in RETRY_STATUSES or attempt > self.retries:
                raise error
            wait = error.retry_after if error.retry_after is not None else 0.5 * 2 ** (attempt - 1)
            if wait > self.max_retry_wait_s:
                raise error
            await asyncio.sleep(wait)


def _content(card: dict | None, text: str | None, template: dict | str | None) -> dict:
    given = {k: v for k, v in (("card", card), ("text", text), ("template", template)) if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of card, text or template")
    if isinstance(given.get("template"), str):
        given["template"] = {"name": given["template"]}
    return given


def _segment(value: str) -> str:
    return quote(value, safe="")


def _error(status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    retry = headers.get("Retry-After")
    return ApiError(
        status,
        str(body.get("detail") or body.get("title") or f"HTTP {status}"),
        body.get("type"),
        list(body.get("errors") or []),
        float(retry) if retry and retry.isdigit() else None,
        body,
    )
