"""Prometheus metrics, read from counters the services already keep.

Nothing on the ingest path calls into prometheus_client: the writer and the routes bump
plain integers, and a collector turns them into metric families when /metrics is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.web.deps import Services


class _ServicesCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        stats = self._services.measurements.stats
        counters = self._services.counters
        for name, doc, value in (
            ("telemetry_commits", "Transactions committed by the writer.", stats.commits),
            ("telemetry_write_requests", "Ingest requests stored.", stats.requests),
            ("telemetry_values_stored", "Values stored.", stats.rows),
            ("telemetry_write_failures", "Writer transactions that failed.", stats.failures),
            (
                "telemetry_events_dropped",
                "Events not announced because the publisher fell behind.",
                stats.events_dropped,
            ),
            (
                "telemetry_rollup_flushes",
                "Transactions that folded stored values into the rollups.",
                stats.rollup_flushes,
            ),
            ("telemetry_rate_limited", "Requests refused by a rate limit.", counters.rate_limited),
            (
                "telemetry_unauthenticated",
                "Requests without a valid token.",
                counters.unauthenticated,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "telemetry_write_queue_depth",
            "Requests waiting for the writer.",
            value=self._services.measurements.queue_depth(),
        )
        yield GaugeMetricFamily(
            "telemetry_writes_refused",
            "1 while the database refuses writes (/readyz says why), else 0.",
            value=0 if self._services.measurements.write_refusal() is None else 1,
        )
        hub = self._services.hub.stats
        for name, doc, value in (
            ("telemetry_live_ticks", "Refresh intervals the live hub went through.", hub.ticks),
            (
                "telemetry_live_renders",
                "Tiles rendered (once per device per tick at most).",
                hub.renders,
            ),
            (
                "telemetry_live_frames",
                "SSE frames sent, each once for all its viewers.",
                hub.frames,
            ),
            (
                "telemetry_live_viewers_dropped",
                "Streams dropped for falling behind.",
                hub.viewers_dropped,
            ),
            (
                "telemetry_live_presence_lists",
                "Who-is-watching lists rendered (once per changed list per tick at most).",
                hub.lists,
            ),
            (
                "telemetry_live_badges",
                "Unread badges rendered for notifications (once per user told, whatever "
                "their tabs).",
                hub.badges,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "telemetry_live_viewers", "Open live streams.", value=self._services.hub.viewer_count()
        )
        yield GaugeMetricFamily(
            "telemetry_live_tabs",
            "Dashboard tabs open (presence counts them; several may share a stream).",
            value=len(self._services.hub.presence()),
        )
        yield GaugeMetricFamily(
            "telemetry_live_viewers_wired",
            "Open live streams written straight to their sockets (uvicorn with httptools).",
            value=self._services.hub.wired_viewer_count(),
        )
        yield GaugeMetricFamily(
            "telemetry_live_direct_write",
            "1 while live streams are written straight to their sockets; 0 when they go "
            "through the ASGI server's send (TELEMETRY_SSE_DIRECT_WRITE=0, or not uvicorn "
            "with httptools).",
            value=int(self._services.direct_write.in_use),
        )
        yield GaugeMetricFamily(
            "telemetry_wal_bytes",
            "Size of SQLite's write-ahead log.",
            value=self._services.measurements.wal_bytes(),
        )


def render_metrics(services: Services) -> tuple[bytes, str]:
    """The metrics page and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServicesCollector(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST
