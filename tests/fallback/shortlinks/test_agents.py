"""User-agent classes: people, link-preview fetchers, crawlers and tools."""

import pytest

from fallback.shortlinks.agents import classify

CASES = [
    # (user agent, stored class, bot, preview)
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
        "mobile",
        False,
        False,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
        "mobile",
        False,
        False,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI",
        "wechat",
        False,
        False,
    ),
    ("Mozilla/5.0 (Linux; Android 13; V2148A) Mobile Safari/537.36 V1_AND_SQ_8.9.0 QQ/8.9.0.9970", "qq", False, False),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
        "desktop",
        False,
        False,
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview", False, True),
    ("WhatsApp/2.23.20.0 A", "preview", False, True),
    ("TelegramBot (like TwitterBot)", "preview", False, True),
    ("Twitterbot/1.0", "preview", False, True),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview", False, True),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "preview", False, True),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler", True, False),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "crawler", True, False),
    (
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider)",
        "crawler",
        True,
        False,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/124.0 Safari/537.36", "crawler", True, False),
    ("curl/8.5.0", "tool", True, False),
    ("Wget/1.21.4", "tool", True, False),
    ("python-requests/2.31.0", "tool", True, False),
    ("Go-http-client/1.1", "tool", True, False),
    ("", "empty", True, False),
    (None, "empty", True, False),
    ("SomethingOdd/1.0", "other", True, False),
]


@pytest.mark.parametrize("ua,name,bot,preview", CASES)
def test_classify(ua, name, bot, preview):
    agent = classify(ua)
    assert (agent.name, agent.bot, agent.preview) == (name, bot, preview)
    assert agent.human is not (bot or preview)
