"""Self-metrics: the counters the stages update, exposed at ``/metrics`` in Prometheus' format.

Each runtime has its own registry, so several runtimes (tests) never clash.
Gauges of the runtime's state are read when scraped, by a collector the web
app registers (:mod:`tocsin.web.metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

from tocsin import __version__
from tocsin.core import looplag

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "tocsin_alerts_received", "Alerts accepted, by source.", ["source"], registry=r)
        self.alerts_invalid = Counter(
            "tocsin_alerts_invalid", "Alerts refused as invalid, by source.", ["source"], registry=r)
        self.notifications = Counter(
            "tocsin_notifications", "Notifications delivered or given up, per integration.",
            ["receiver", "integration", "outcome"], registry=r)
        self.attempts = Counter(
            "tocsin_notification_attempts", "Delivery attempts, per integration and result.",
            ["receiver", "integration", "result"], registry=r)
        self.latency = Histogram(
            "tocsin_notification_latency_seconds", "Time from first attempt to delivery.",
            ["receiver", "integration"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.dead_letters = Gauge(
            "tocsin_dead_letters", "Notifications waiting in the dead-letter table.", registry=r)
        self.remediations = Counter(
            "tocsin_remediation_runs", "Remediation records by remediation and state.",
            ["remediation", "state"], registry=r)
        self.connections_closed = Counter(
            "tocsin_http_connections_closed",
            "Client connections the server refused or closed to protect itself, by reason: "
            "cap (refused, every connection busy), evicted (waiting for a request, closed to "
            "make room at the cap), header_timeout, idle_timeout.", ["reason"], registry=r)
        for reason in ("cap", "evicted", "header_timeout", "idle_timeout"):
            self.connections_closed.labels(reason)
        self.connections_open = Gauge(
            "tocsin_http_connections_open", "Client connections open now.", registry=r)
        self.connections_max = Gauge(
            "tocsin_http_connections_max", "The cap on client connections open at once.", registry=r)
        self.loop_lag = Histogram(
            "tocsin_event_loop_lag_seconds",
            "How much later than asked the event loop woke a task that sleeps "
            f"{looplag.INTERVAL:g}s at a time: what any work ready then waited too.",
            registry=r, buckets=looplag.BUCKETS)
        build = Gauge("tocsin_build_info", "Build information.", ["version"], registry=r)
        build.labels(version=__version__).set(1)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)
