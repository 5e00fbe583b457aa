"""The process's Prometheus metrics (prometheus_client), on a registry of its own so that every
app (and every test's app) counts apart.

Counters move where the work happens (accepts in the API, status changes and sends in dispatch,
which gets plain callables and never imports this); gauges of backlogs (messages due, webhook
deliveries pending, events not yet in the evidence log) are read from the database at scrape
time by probes, each bounded in rows and time. No label carries a tenant, a number or an id:
what is exposed is safe to scrape from a monitoring network.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_LATEST
PROBE_TIMEOUT_S = 5.0
# A send to a MaaP or an SMSC: most take milliseconds; a slow peer tens of seconds.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
Probe = Callable[["Metrics"], Awaitable[None]]


class Metrics:
    """Counters, histograms and probed gauges of one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "hongyan_messages_accepted", "Recipients accepted by POST /v1/messages", ["traffic_type"], registry=r
        )
        self.status_changes = Counter(
            "hongyan_message_status_changes",
            "Message status changes committed by dispatch and operator callbacks",
            ["status"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "hongyan_channel_send_seconds",
            "Time of one send to an operator's MaaP (rcs) or an SMS route's SMSC (sms), by outcome",
            ["channel", "outcome"],
            buckets=SEND_BUCKETS,
            registry=r,
        )
        self._send_children: dict[tuple[str, str], Any] = {}
        self.backlog = Gauge(
            "hongyan_backlog",
            "Items waiting: messages due to dispatch, webhook deliveries, events to chain",
            ["queue"],
            registry=r,
        )
        self.backlog_age = Gauge(
            "hongyan_backlog_oldest_seconds", "Age of the oldest item waiting in each backlog", ["queue"], registry=r
        )
        self.scrape_errors = Counter(
            "hongyan_metrics_probe_errors", "Backlog probes that failed or timed out", ["probe"], registry=r
        )
        self._probes: list[tuple[str, Probe]] = []

    def add_probe(self, name: str, probe: Probe) -> None:
        """Run `probe` (it sets gauges) before every scrape."""
        self._probes.append((name, probe))

    def count_statuses(self, statuses: list[str]) -> None:
        # One label look-up per distinct status of a commit, not per message.
        for status, n in collections.Counter(statuses).items():
            self.status_changes.labels(status).inc(n)

    def observe_send(self, channel: str, outcome: str, seconds: float) -> None:
        # Once per message sent: the labelled child is looked up once per (channel, outcome).
        child = self._send_children.get((channel, outcome))
        if child is None:
            child = self._send_children[(channel, outcome)] = self.send_seconds.labels(channel, outcome)
        child.observe(seconds)

    def set_backlog(self, queue: str, count: int, oldest_ms: int | None, now_ms: int | None = None) -> None:
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.backlog.labels(queue).set(count)
        self.backlog_age.labels(queue).set(max(0.0, (now_ms - oldest_ms) / 1000) if oldest_ms is not None else 0.0)

    async def render(self) -> bytes:
        """The exposition text, after the probes ran (a failed or slow probe is counted and its
        gauges keep their last values)."""
        for name, probe in self._probes:
            try:
                await asyncio.wait_for(probe(self), PROBE_TIMEOUT_S)
            except Exception:
                log.warning("the %s metrics probe failed", name, exc_info=True)
                self.scrape_errors.labels(name).inc()
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)
