"""The metrics the system defines, by name, and the names a PromQL expression reads.

What the compose observability profile's dashboard and alert rules may name
(tests/e2e/test_compose_observability.py).
"""

from __future__ import annotations

import re

__all__ = [
    "EVENTSTOREDB_METRICS",
    "HISTOGRAMS",
    "KNOWN_METRICS",
    "PROMETHEUS_SERIES",
    "ROVER_METRICS",
    "defined",
    "metric_names",
]

# The metrics each rover service exposes, by its compose service's short name (= its Prometheus
# job). tests/e2e/test_metrics.py holds each running service's exposed names equal to this list
# in both directions, so the dashboard and the rules are checked against what the code serves.
# Counters are named as exposed (`_total`).
_GRPC_SERVER = frozenset(
    {"grpc_server_started_total", "grpc_server_handled_total", "grpc_server_handling_seconds"}
)
ROVER_METRICS: dict[str, frozenset[str]] = {
    "command": _GRPC_SERVER
    | {
        "rover_command_appends_total",
        "rover_command_append_conflicts_total",
        "rover_command_retries_total",
        "rover_command_aborted_total",
        "rover_command_request_lookups_total",
        "rover_command_request_lookups_found_total",
        "rover_publisher_active",
        "rover_publisher_published_total",
        "rover_publisher_lag_events",
        "rover_publisher_lag_seconds",
        "rover_parked_events",
        "rover_inbox_commands_total",
        "rover_inbox_backlog_commands",
    },
    "query": _GRPC_SERVER
    | {
        "rover_projector_active",
        "rover_projector_events_applied_total",
        "rover_projector_lag_events",
        "rover_projector_lag_seconds",
        "rover_rebuild_events",
        "rover_rebuild_progress_ratio",
        "rover_parked_events",
    },
    "broadcaster": _GRPC_SERVER
    | {
        "rover_watchers_connected",
        "rover_watch_updates_sent_total",
        "rover_watchers_cut_off_total",
        "rover_watch_heartbeats_total",
        "rover_broadcaster_feed_live",
        "rover_parked_events",
    },
}
# EventStoreDB 24.10's own /metrics, as its "Metrics reference" names them (KurrentDB 25 renamed
# them kurrentdb_* and added _total to counters; the compose file pins 24.10).
EVENTSTOREDB_METRICS = frozenset(
    {
        "eventstore_io_events",
        "eventstore_io_bytes",
        "eventstore_grpc_method_duration_seconds",
        "eventstore_current_incoming_grpc_calls",
        "eventstore_incoming_grpc_calls",
        "eventstore_writer_flush_duration_max_seconds",
        "eventstore_writer_flush_size_max",
        "eventstore_checkpoints",
        "eventstore_statuses",
        "eventstore_proc_cpu",
        "eventstore_proc_mem_bytes",
    }
)
HISTOGRAMS = frozenset({"grpc_server_handling_seconds", "eventstore_grpc_method_duration_seconds"})
PROMETHEUS_SERIES = frozenset({"up"})  # what Prometheus records of every scrape itself
KNOWN_METRICS = frozenset().union(*ROVER_METRICS.values(), EVENTSTOREDB_METRICS)

_STRINGS = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![\w.$])[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions, labels or keywords)."""
    text = _STRINGS.sub("", expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _WORD.finditer(text):
        followed_by_call = text[match.end() :].lstrip().startswith("(")
        if not followed_by_call and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def defined(series: str) -> str | None:
    """The metric a series belongs to (a histogram's _bucket/_sum/_count), if one is known."""
    if series in KNOWN_METRICS | PROMETHEUS_SERIES:
        return series
    base, _, suffix = series.rpartition("_")
    return base if base in HISTOGRAMS and suffix in {"bucket", "sum", "count"} else None
