"""What kind of client fetched a link, from its User-Agent alone (nothing of it is stored).

Link-preview fetchers (chat apps unfurling a pasted link), crawlers and command-line tools
are reported apart from people. The rules are data: the first pattern that matches wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Agent:
    """A coarse user-agent class; `bot` and `preview` are never both set."""

    name: str  # what is stored: e.g. "preview", "crawler", "tool", "wechat", "mobile"
    bot: bool = False
    preview: bool = False

    @property
    def human(self) -> bool:
        return not (self.bot or self.preview)


PREVIEW = Agent("preview", preview=True)
CRAWLER = Agent("crawler", bot=True)
TOOL = Agent("tool", bot=True)
EMPTY = Agent("empty", bot=True)

# Order matters: chat apps' in-app browsers (people) carry the app's name too, so the
# fetchers' own tokens are tried before the in-app browser rules.
_RULES: list[tuple[re.Pattern, Agent]] = [
    (re.compile(p, re.I), a)
    for p, a in [
        # Link-preview fetchers of chat and social apps.
        (r"facebookexternalhit|facebot|meta-externalfetcher", PREVIEW),
        (r"twitterbot", PREVIEW),
        (r"slackbot|slack-imgproxy", PREVIEW),
        (r"telegrambot", PREVIEW),
        (r"whatsapp/", PREVIEW),
        (r"discordbot|linkedinbot|skypeuripreview|redditbot|pinterestbot|vkshare|embedly|iframely", PREVIEW),
        (r"wechat(?:bot|-?spider|share|-?preview)|wxwork-?bot", PREVIEW),
        (r"qq-?(?:url)?-?(?:manager|preview|spider|bot)|tencenttraveler.*spider", PREVIEW),
        (r"dingtalk-?bot|feishu-?bot|lark-?bot|bytedance.*preview", PREVIEW),
        (r"iMessage|com\.apple\.messages|LinkPresentation", PREVIEW),
        # Search engines and other crawlers.
        (r"googlebot|google-inspectiontool|adsbot-google|mediapartners-google|apis-google", CRAWLER),
        (r"bingbot|bingpreview|baiduspider|yisouspider|sogou (?:web|inst) spider|360spider|haosouspider", CRAWLER),
        (r"bytespider|yandex(?:bot|images)|duckduckbot|applebot|petalbot|semrushbot|ahrefsbot|mj12bot", CRAWLER),
        (r"\b(?:bot|crawler|spider|scraper|headlesschrome|phantomjs|lighthouse)\b|bot/\d", CRAWLER),
        # Scripts and command-line tools.
        (
            r"^(?:curl|wget|httpie|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|okhttp"
            r"|java/|apache-httpclient|libwww-perl|ruby|php|node-fetch|axios|postmanruntime|insomnia)",
            TOOL,
        ),
        # People: in-app browsers first, then ordinary mobile and desktop browsers.
        (r"micromessenger", Agent("wechat")),
        (r"\bQQ/|MQQBrowser", Agent("qq")),
        (r"dingtalk|lark/|feishu", Agent("in_app")),
        (r"mobile|android|iphone|ipad|harmonyos", Agent("mobile")),
        (r"mozilla/|opera", Agent("desktop")),
    ]
]
OTHER = Agent("other", bot=True)  # no browser token at all: a script we do not know


@lru_cache(maxsize=4096)
def classify(user_agent: str | None) -> Agent:
    """The agent class of a User-Agent header (cached: a few thousand agents cover most traffic)."""
    if not user_agent or not user_agent.strip():
        return EMPTY
    for pattern, agent in _RULES:
        if pattern.search(user_agent):
            return agent
    return OTHER
