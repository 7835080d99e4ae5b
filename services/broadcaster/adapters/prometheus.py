"""The broadcaster's metrics, read from its hub and use case at scrape time (they keep plain
ints; nothing on the delivery path calls the library)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.broadcaster.application.hub import Hub
from services.broadcaster.application.watch import WatchGrid
from services.common.metrics import Metrics, parked_family
from services.common.parked import BROADCASTER

__all__ = ["register_broadcaster_metrics"]


def register_broadcaster_metrics(
    metrics: Metrics, hub: Hub[Any], watch: WatchGrid[Any], parked: Callable[[], int]
) -> None:
    """Add the broadcaster's ``rover_*`` families to ``metrics``; ``parked`` reads the count
    of events its feed parked."""

    def collect() -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rover_watchers_connected",
            "WatchGrid streams subscribed to the live feed now.",
            value=watch.watching,
        )
        yield CounterMetricFamily(
            "rover_watch_updates_sent_total",
            "Snapshots and events handed to WatchGrid streams.",
            value=watch.updates_sent,
        )
        cut_off = CounterMetricFamily(
            "rover_watchers_cut_off_total",
            "Streams the broadcaster ended: slow (queue overflowed: told to resume), gap "
            "(the feed skipped a sequence: told to resume), shutdown.",
            labels=["reason"],
        )
        cut_off.add_metric(["slow"], hub.dropped)
        for reason, count in watch.cut_off.items():
            cut_off.add_metric([reason], count)
        yield cut_off
        yield CounterMetricFamily(
            "rover_watch_heartbeats_total",
            "Heartbeats sent on idle WatchGrid streams.",
            value=watch.heartbeats,
        )
        yield GaugeMetricFamily(
            "rover_broadcaster_feed_live",
            "1 while the broadcaster follows the event store's integration events.",
            value=1 if hub.connected else 0,
        )
        yield parked_family(BROADCASTER, parked())

    metrics.add(collect)
