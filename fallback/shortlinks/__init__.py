"""Short links for SMS fallback: one per recipient, the H5 page of the card, click tracking.

`ShortLinks.add_link(...)` adds a link to the WriteBatch that sends the SMS; `routes` serve
`/s/<token>` and its buttons (public) and `/v1/clicks` (API key). The service, started by the
composition root at `app[SHORTLINKS]`, writes buffered hits every 0.5 s and erases expired
links' cards hourly.
"""

from fallback.shortlinks import openapi as _openapi  # noqa: F401  (registers the API description)
from fallback.shortlinks.agents import Agent, classify
from fallback.shortlinks.http import SHORTLINKS, render_card_page, routes
from fallback.shortlinks.service import DEFAULT_TTL_S, Link, ShortLinks

__all__ = ["Agent", "DEFAULT_TTL_S", "Link", "SHORTLINKS", "ShortLinks", "classify", "render_card_page", "routes"]
