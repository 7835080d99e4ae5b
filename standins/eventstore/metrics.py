"""The event store's own metrics: appends, reads, open subscriptions and commit (fsync) time.

One ``StoreMetrics`` per server, on the registry of its ``services.common.metrics.Metrics``
(which adds the RPC metrics and serves ``/metrics``). The writer, the Streams service and the
persistent subscriptions call it; each call is one counter increment or gauge step on a child
labelled once here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["StoreMetrics"]

APPEND_RESULTS = ("success", "wrong_expected_version", "stream_deleted", "error")
READ_KINDS = ("stream", "all")
SUBSCRIPTION_KINDS = ("catch-up", "persistent")
# An fsync on a laptop SSD: 0.1-10 ms; a slow or shared disk: much more.
_FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class StoreMetrics:
    """Counters of what the store did, labelled children made once."""

    def __init__(self, registry: CollectorRegistry) -> None:
        appends = Counter(
            "eventstore_appends_total",
            "Append requests (Append and each BatchAppend batch) by result.",
            ["result"],
            registry=registry,
        )
        self._appends = {result: appends.labels(result) for result in APPEND_RESULTS}
        self._events = Counter(
            "eventstore_appended_events_total",
            "Events written by successful appends.",
            registry=registry,
        )
        reads = Counter(
            "eventstore_reads_total",
            "Read requests that are not subscriptions, of one stream or of $all.",
            ["kind"],
            registry=registry,
        )
        self._reads = {kind: reads.labels(kind) for kind in READ_KINDS}
        subscriptions = Gauge(
            "eventstore_subscriptions",
            "Subscriptions open now: catch-up (Read with a subscription) and persistent.",
            ["kind"],
            registry=registry,
        )
        self._subscriptions = {kind: subscriptions.labels(kind) for kind in SUBSCRIPTION_KINDS}
        self.fsync = Histogram(
            "eventstore_fsync_seconds",
            "Commit time of each write batch (the fsync with durable storage; in memory, the "
            "commit alone).",
            buckets=_FSYNC_BUCKETS,
            registry=registry,
        )

    def appended(self, result: str, events: int = 0) -> None:
        """One append request ended with ``result`` (one of APPEND_RESULTS)."""
        self._appends[result].inc()
        if events:
            self._events.inc(events)

    def read(self, kind: str) -> None:
        """One read of ``kind`` (stream, all) began."""
        self._reads[kind].inc()

    def subscribed(self, kind: str, change: int) -> None:
        """A subscription of ``kind`` opened (+1) or closed (-1)."""
        self._subscriptions[kind].inc(change)
