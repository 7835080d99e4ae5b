"""The command service's metrics, read from its objects at scrape time (no library calls on
the command path: the executor and the publisher keep plain ints)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.command.adapters.esdb_inbox import EsdbInboxGroupStats
from services.command.adapters.esdb_lag import EsdbPublisherLag
from services.command.application.executor import CommandExecutor
from services.command.application.inbox import INBOX_CONSUMER, InboxProcessor
from services.command.application.publisher import Publisher
from services.common.metrics import Metrics, parked_family
from services.common.parked import PUBLISHER

__all__ = ["register_command_metrics", "register_inbox_metrics"]


def register_command_metrics(
    metrics: Metrics,
    executor: CommandExecutor,
    publisher: Publisher,
    lag: EsdbPublisherLag | None,
    inbox: EsdbInboxGroupStats | None = None,
) -> None:
    """Add the command service's ``rover_*`` families to ``metrics``."""

    def collect() -> Iterator[Metric]:
        yield CounterMetricFamily(
            "rover_command_appends_total",
            "Successful appends of a command's events to its grid's stream.",
            value=executor.appends,
        )
        yield CounterMetricFamily(
            "rover_command_append_conflicts_total",
            "Appends refused because another writer changed the grid first (wrong "
            "expected version).",
            value=executor.conflicts,
        )
        yield CounterMetricFamily(
            "rover_command_retries_total",
            "Commands decided again on fresh state after a conflict.",
            value=executor.retries,
        )
        yield CounterMetricFamily(
            "rover_command_aborted_total",
            "Commands answered ABORTED: still conflicting after the last attempt.",
            value=executor.aborted,
        )
        requests = executor.requests
        yield CounterMetricFamily(
            "rover_command_request_lookups_total",
            "Request ids looked up in the request log (a full window did not hold them).",
            value=requests.lookups if requests is not None else 0,
        )
        yield CounterMetricFamily(
            "rover_command_request_lookups_found",
            "... and found there within the retention period: retries answered from the log.",
            value=requests.found if requests is not None else 0,
        )
        yield GaugeMetricFamily(
            "rover_publisher_active",
            "1 while this instance holds the publisher's lease and publishes.",
            value=1 if publisher.active else 0,
        )
        yield CounterMetricFamily(
            "rover_publisher_published_total",
            "Integration events appended (or found already there) by this instance.",
            value=publisher.published,
        )
        parked = parked_family(PUBLISHER, publisher.held.count)
        if inbox is not None and inbox.parked is not None:
            parked.add_metric([INBOX_CONSUMER], inbox.parked)
        yield parked
        latest = lag.latest if lag is not None else None
        if latest is not None:  # only the active publisher measures its lag
            yield GaugeMetricFamily(
                "rover_publisher_lag_events",
                "Domain events stored but not yet published (counting stops at the cap).",
                value=latest.events,
            )
            yield GaugeMetricFamily(
                "rover_publisher_lag_seconds",
                "How long the oldest unpublished domain event has waited (0: caught up).",
                value=latest.seconds,
            )

    metrics.add(collect)


def register_inbox_metrics(
    metrics: Metrics, processor: InboxProcessor, stats: EsdbInboxGroupStats | None
) -> None:
    """Add the command inbox's families: outcomes here, parked and waiting in the group."""

    def collect() -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "rover_inbox_commands_total",
            "Inbox commands this instance handled, by outcome (applied: a CommandResult reply; "
            "failed: an error status reply; retried: handed back; parked: poison).",
            labels=["outcome"],
        )
        for outcome in ("applied", "failed", "retried", "parked"):
            outcomes.add_metric([outcome], getattr(processor, outcome))
        yield outcomes
        if stats is not None and stats.backlog is not None:  # parked: in rover_parked_events
            yield GaugeMetricFamily(
                "rover_inbox_backlog_commands",
                "Inbox commands the group holds undelivered, in retry or unacknowledged (lag).",
                value=stats.backlog,
            )

    metrics.add(collect)
