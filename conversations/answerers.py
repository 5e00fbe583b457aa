"""Who answers a free-text question: the interface the conversation pipeline calls, the chain
that asks several answerers in turn, and an external AI service in the OpenAI-compatible chat
format (`POST {base_url}/chat/completions`). An answerer never raises: what it cannot answer —
or an AI service that is slow, down or talking nonsense — is None, and the pipeline falls back
(ask back, hand off)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import orjson

from conversations.rules import DEFAULT_THRESHOLD

log = logging.getLogger(__name__)

# The most of an AI service's response read (a chat answer is a few KB; more is a broken or
# hostile endpoint), the longest answer kept, and how many past turns go with a question.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ANSWER_CHARS = 1000
MAX_HISTORY = 10
DEFAULT_SYSTEM_PROMPT = "你是品牌的客服助手。请用简洁的中文回答用户的问题；不确定时请说明并建议联系人工客服。"


@dataclass(frozen=True)
class Question:
    tenant_id: str
    conversation_id: str
    text: str  # the user's free text, already opened (plaintext in memory only)
    history: list[tuple[str, str]]  # last few turns (role "user"|"assistant", text), oldest first
    channel: str  # "rcs" | "sms"
    # The confidence an answer needs (the brand's bot rules, conversations.rules): an FAQ answer
    # at or above it is final, below it the chain asks the external AI service.
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class Answer:
    text: str | None  # plain answer text (SMS or RCS text)
    card: dict | None  # a GSMA card (cards model) for RCS, or None
    confidence: float  # 0..1
    source: str  # "faq:<entry id>" | "ai:<model>"
    faq_id: str | None = None


class Answerer(Protocol):
    async def answer(self, q: Question) -> Answer | None: ...


class ChainAnswerer:
    """Asks each answerer in turn; the first Answer at or above `threshold` wins. Otherwise the
    best Answer below it (the pipeline asks back with it), or None when nobody answered."""

    def __init__(self, answerers: Sequence[Answerer], threshold: float) -> None:
        self.answerers, self.threshold = list(answerers), threshold

    async def answer(self, q: Question) -> Answer | None:
        best: Answer | None = None
        for answerer in self.answerers:
            try:
                got = await answerer.answer(q)
            except Exception:  # an answerer that breaks its promise must not break the conversation
                log.exception("answerer %s failed", type(answerer).__name__)
                got = None
            if got is None:
                continue
            if got.confidence >= self.threshold:
                return got
            if best is None or got.confidence > best.confidence:
                best = got
        return best


@dataclass(frozen=True)
class AiConfig:
    """A tenant's external AI answerer (the key opened, in memory only)."""

    base_url: str
    model: str
    api_key: str | None
    timeout_s: float = 5.0
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # What an AI answer counts as: it has no measure of its own, and it answers anything, so
    # it is trusted as much as the tenant's threshold (sent, not asked back).
    confidence: float = 1.0


class OpenAiAnswerer:
    """An OpenAI-compatible chat-completions endpoint. Sends the system prompt, the recent
    history and the question; the first choice's message content is the answer. Timeout,
    connection error, non-2xx, a body over MAX_RESPONSE_BYTES, bad JSON or an empty answer: None."""

    def __init__(self, config: AiConfig, session: aiohttp.ClientSession) -> None:
        self.config, self.session = config, session

    def payload(self, q: Question) -> dict:
        messages = [{"role": "system", "content": self.config.system_prompt}]
        for role, text in q.history[-MAX_HISTORY:]:
            if role in ("user", "assistant") and text:
                messages.append({"role": role, "content": text})
        messages.append({"role": "user", "content": q.text})
        return {"model": self.config.model, "messages": messages}

    async def answer(self, q: Question) -> Answer | None:
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        try:
            async with asyncio.timeout(self.config.timeout_s):
                async with self.session.post(
                    url, data=orjson.dumps(self.payload(q)), headers=headers, allow_redirects=False
                ) as resp:
                    if resp.status // 100 != 2:
                        log.warning("AI answerer: HTTP %s from %s", resp.status, resp.url.host)
                        return None
                    body = await resp.content.read(MAX_RESPONSE_BYTES + 1)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            log.warning("AI answerer: %s from %s", type(exc).__name__, self.config.base_url)
            return None
        if len(body) > MAX_RESPONSE_BYTES:
            log.warning("AI answerer: response over %d bytes", MAX_RESPONSE_BYTES)
            return None
        text = _content(body)
        if text is None:
            log.warning("AI answerer: not a chat completion")
            return None
        return Answer(
            text=text[:MAX_ANSWER_CHARS], card=None, confidence=self.config.confidence, source=f"ai:{self.config.model}"
        )


def _content(body: bytes) -> str | None:
    """The first choice's message content of a chat completion, stripped; None if not one."""
    try:
        doc = orjson.loads(body)
        content = doc["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str) or not content.strip():
        return None
    return content.strip()
