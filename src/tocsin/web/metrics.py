"""Gauges of the runtime's state, read when ``/metrics`` is scraped (no bookkeeping on the hot path)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tocsin.runtime import Runtime

__all__ = ["StateCollector"]


class StateCollector(Collector):
    """Gauges read from the runtime's state when scraped (no bookkeeping on the hot path)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        rt = self.rt
        now = rt.clock.now()
        firing = rt.alerts.firing(now)
        alerts = GaugeMetricFamily("tocsin_alerts", "Alerts held, by state.", labels=["state"])
        alerts.add_metric(["firing"], firing)
        alerts.add_metric(["resolved"], len(rt.alerts) - firing)
        yield alerts
        incidents = Tally(inc.state for inc in rt.lifecycle.current.values() if inc.open)
        open_ = GaugeMetricFamily("tocsin_incidents_open", "Open incidents, by state.", labels=["state"])
        for state in ("firing", "acknowledged"):
            open_.add_metric([state], incidents.get(state, 0))
        yield open_
        reasons: Tally[str] = Tally()
        for inc in rt.lifecycle.current.values():
            if inc.open and inc.muted_by:
                for kind in {m.split(":", 1)[0] for m in inc.muted_by}:
                    reasons[kind] += 1
        muted = GaugeMetricFamily("tocsin_alerts_muted",
                                  "Firing alerts muted at their group's last flush, by reason.",
                                  labels=["reason"])
        for kind in ("silence", "inhibition", "time_interval", *sorted(set(reasons) - {
                "silence", "inhibition", "time_interval"})):
            muted.add_metric([kind], reasons.get(kind, 0))
        yield muted
        depth = GaugeMetricFamily("tocsin_queue_depth", "Work waiting, by queue.", labels=["queue"])
        for sub in rt.bus.subscriptions():
            depth.add_metric([f"bus_{sub.name}"], sub.depth())
        depth.add_metric(["flushes_in_flight"], len(rt.dispatcher.in_flight()))
        depth.add_metric(["flushes_queued"], rt.dispatcher.queued())
        depth.add_metric(["delivery_records_held"], len(rt.deferral))
        depth.add_metric(["background_tasks"], len(rt.background.jobs() - rt.dispatcher.in_flight()))
        depth.add_metric(["timers"], len(rt.scheduler))
        yield depth
        yield GaugeMetricFamily("tocsin_groups", "Aggregation groups.", value=len(rt.dispatcher.groups))
        yield CounterMetricFamily(
            "tocsin_ingest_held", "Ingest requests held back while due flushes waited late for a "
            "busy event loop.", value=rt.backpressure.held)
        yield CounterMetricFamily(
            "tocsin_ingest_held_seconds", "Seconds ingest requests were held back, in all.",
            value=rt.backpressure.held_seconds)
        yield GaugeMetricFamily("tocsin_escalations_pending", "Incidents with an escalation step to come.",
                                value=len(rt.lifecycle.pending()))
        yield GaugeMetricFamily("tocsin_remediations_pending_approval", "Runs waiting for a decision.",
                                value=sum(1 for r in rt.remediator.runs.values()
                                          if r.state == "pending_approval"))
        ok, at = rt.last_reload()
        yield GaugeMetricFamily("tocsin_config_last_reload_successful",
                                "Whether the last config reload succeeded (1) or was rejected (0).",
                                value=1 if ok else 0)
        yield GaugeMetricFamily("tocsin_config_last_reload_success_timestamp_seconds",
                                "When the config was last loaded successfully.", value=at)
