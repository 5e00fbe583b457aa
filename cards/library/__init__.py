"""The card template library: one JSON data file per template in this directory.

Each file holds `name`, `title`, `traffic_type` (notification | marketing | otp), `locale`,
the template `card` (jinja2 variables in text fields) and `sample` variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources

import orjson

from cards.compose import CompiledCard, compile_template

TRAFFIC_TYPES = ("notification", "marketing", "otp")


@dataclass(frozen=True)
class Template:
    """A library template with its sample data."""

    name: str
    title: str
    traffic_type: str
    card: dict
    sample: dict
    locale: str = "zh-CN"
    title_en: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @cached_property
    def compiled(self) -> CompiledCard:
        """The template compiled once (reused for every recipient)."""
        return compile_template(self.card, locale=self.locale)

    def sample_card(self) -> dict:
        """The card composed with the sample variables."""
        return self.compiled.compose(self.sample)


@lru_cache(maxsize=1)
def _load() -> dict[str, Template]:
    out = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = orjson.loads(entry.read_bytes())
        known = {
            k: data.pop(k)
            for k in ("name", "title", "traffic_type", "card", "sample", "locale", "title_en")
            if k in data
        }
        t = Template(**known, extra=data)
        if t.traffic_type not in TRAFFIC_TYPES:
            raise ValueError(f"{entry.name}: traffic_type {t.traffic_type!r} is not one of {TRAFFIC_TYPES}")
        out[t.name] = t
    return out


def load_library() -> dict[str, Template]:
    """All library templates by name (read from the package data once)."""
    return dict(_load())
