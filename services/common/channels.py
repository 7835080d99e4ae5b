"""Options of client channels that several programs share."""

from __future__ import annotations

__all__ = ["LIVE_CHANNEL_OPTIONS"]

LIVE_CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
"""A live channel retries its connection quickly, so a restarted broadcaster is found soon
(the CLI's ``watch`` and the web front-end's live stream)."""
