"""The command service's composition root, its command inbox part (called by ``bootstrap``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from services.command.adapters.esdb_appends import Appender
from services.command.adapters.esdb_inbox import (
    EsdbInboxGroupStats,
    EsdbInboxHistory,
    EsdbInboxSubscription,
    EsdbInboxWriter,
    EsdbReplyLog,
)
from services.command.adapters.prometheus import register_inbox_metrics
from services.command.application.handlers import Handlers
from services.command.application.inbox import InboxProcessor
from services.command.application.inbox_order import InboxOrder
from services.command.consumer_groups import ConsumerGroupSettings, ensure_group
from services.command.grpc.inbox_codec import ProtoInboxCodec
from services.command.settings import CommandSettings
from services.common import tracing
from services.common.app import Lifecycle, supervised
from services.common.esdb_client import LeaderFollowingClient
from services.common.grpc_server import GrpcServer
from services.common.health_flag import HealthFlag
from services.common.inbox_names import INBOX_STREAM_FILTER
from services.common.metrics import Metrics

__all__ = ["InboxParts", "wire_inbox"]

_INBOX_RESTART_SECONDS = 1.0  # pause before the inbox's subscription is opened again
_INBOX_STATS_SECONDS = 2.0  # between looks at the inbox group's parked and waiting commands
_HEALTH_EVERY = 0.5  # seconds between looks at the subscription (in memory: cheap)


class InboxParts(NamedTuple):
    """The inbox's wired parts: the servicer's writer and reader, the consumer."""

    writer: EsdbInboxWriter
    replies: EsdbReplyLog
    processor: InboxProcessor
    order: InboxOrder
    stats: EsdbInboxGroupStats | None  # None without a metrics endpoint


def wire_inbox(
    lifecycle: Lifecycle,
    metrics: Metrics,
    settings: CommandSettings,
    *,
    client: LeaderFollowingClient,
    appender: Appender,
    handlers: Handlers,
    server: Callable[[], GrpcServer],
    health_name: str,
) -> InboxParts:
    """The command inbox: its group (Pinned: one inbox stream stays on one instance), the
    processor that consumes it, its metrics and its health name (SERVING while this instance
    holds the group's subscription); the servicer's writer and reader."""
    timeout = settings.eventstore_timeout_seconds
    max_age = settings.command_inbox_reply_max_age_seconds
    replies = EsdbReplyLog(client, timeout=timeout, max_age_seconds=max_age, appender=appender)
    codec = ProtoInboxCodec()
    order = InboxOrder(
        EsdbInboxHistory(client, timeout=timeout, max_age_seconds=max_age),
        codec,
        replies,
        # A previous command in flight on another instance is answered well within this.
        wait_seconds=settings.command_inbox_message_timeout_seconds / 3,
    )
    group = ConsumerGroupSettings(
        name=settings.command_inbox_group,
        consumer_strategy="Pinned",
        max_retry_count=settings.command_inbox_max_attempts,
        message_timeout=settings.command_inbox_message_timeout_seconds,
    )
    processor = InboxProcessor(
        handlers,
        codec,
        replies,
        order=order,
        max_attempts=settings.command_inbox_max_attempts,
        concurrency=settings.command_inbox_concurrency,
    )

    async def provision() -> None:
        await ensure_group(client, group, INBOX_STREAM_FILTER)

    current: list[EsdbInboxSubscription] = []

    async def consume() -> None:
        subscription = EsdbInboxSubscription(
            client, group.name, buffer_size=settings.command_inbox_buffer_size
        )
        current[:] = [subscription]
        await processor.run(subscription)

    async def health() -> None:
        flag = HealthFlag(server(), health_name)
        while True:
            await flag.report(any(subscription.open for subscription in current))
            await asyncio.sleep(_HEALTH_EVERY)

    async def run() -> None:
        with tracing.untraced():
            await supervised("inbox", consume, _INBOX_RESTART_SECONDS)

    lifecycle.open.append(provision)
    lifecycle.background.append(("inbox", run))
    lifecycle.background.append(("inbox-health", health))
    stats = None
    if metrics.enabled:
        stats = EsdbInboxGroupStats(client, group.name, interval=_INBOX_STATS_SECONDS)

        async def measure() -> None:
            with tracing.untraced():
                await supervised("inbox-stats", stats.run, _INBOX_STATS_SECONDS)

        lifecycle.background.append(("inbox-stats", measure))
    register_inbox_metrics(metrics, processor, stats)
    return InboxParts(EsdbInboxWriter(appender, timeout=timeout), replies, processor, order, stats)
