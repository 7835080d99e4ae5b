"""The query service's metrics, read from its parts at scrape time (the projector, the lag
monitor and a rebuild keep plain values; nothing on the query path calls the library)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.common.metrics import Metrics, parked_family
from services.common.parked import PROJECTOR
from services.query.application.lag import ProjectionLag
from services.query.application.rebuild import RebuildProgress

__all__ = ["register_query_metrics"]


class QueryState(Protocol):
    """What the query service's metrics read (its bootstrap's QueryParts)."""

    @property
    def projecting(self) -> bool: ...
    @property
    def events_applied(self) -> int: ...
    @property
    def lag(self) -> ProjectionLag | None: ...
    @property
    def rebuild(self) -> RebuildProgress | None: ...
    @property
    def parked_count(self) -> int: ...


def register_query_metrics(metrics: Metrics, state: QueryState) -> None:
    """Add the query service's ``rover_*`` families to ``metrics``."""

    def collect() -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rover_projector_active",
            "1 while this instance holds the projector's lease and projects.",
            value=1 if state.projecting else 0,
        )
        yield CounterMetricFamily(
            "rover_projector_events_applied_total",
            "Integration events this instance's live projector applied to the read model.",
            value=state.events_applied,
        )
        lag = state.lag
        if lag is not None:  # after the monitor's first measurement
            yield GaugeMetricFamily(
                "rover_projector_lag_events",
                "Integration events in the store not yet in the active read model "
                "(counting stops at the cap).",
                value=lag.events_behind,
            )
            yield GaugeMetricFamily(
                "rover_projector_lag_seconds",
                "How long the oldest event not yet projected has waited (0: caught up).",
                value=lag.lag_ms / 1000,
            )
        rebuild = state.rebuild
        if rebuild is not None:  # a rebuild runs in this process
            yield GaugeMetricFamily(
                "rover_rebuild_events",
                "Events the rebuild running in this process has replayed.",
                value=rebuild.events,
            )
            ratio = min(1.0, rebuild.position / rebuild.target) if rebuild.target > 0 else 1.0
            yield GaugeMetricFamily(
                "rover_rebuild_progress_ratio",
                "Progress of the running rebuild: store position reached / target (0..1).",
                value=ratio,
            )
        yield parked_family(PROJECTOR, state.parked_count)

    metrics.add(collect)
