"""Inbox deliveries for tests, as the subscription would hand them out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf.message import Message

from services.command.application.inbox import QueuedCommand

__all__ = ["FakeSubscription", "delivery", "request_delivery"]


def delivery(
    stream: str, revision: int, event_type: str, data: bytes = b"", reply_stream: str = ""
) -> QueuedCommand:
    """A first delivery of the inbox event at ``stream``/``revision``."""
    return QueuedCommand(
        stream=stream,
        revision=revision,
        attempt=0,
        event_type=event_type,
        data=data,
        reply_stream=reply_stream,
        handle=None,
    )


def request_delivery(stream: str, revision: int, request: Message) -> QueuedCommand:
    """A rover.v1 request as its inbox event's delivery carries it."""
    return delivery(stream, revision, request.DESCRIPTOR.full_name, request.SerializeToString())


class FakeSubscription:
    """Hands out the given deliveries once; records what the processor told it."""

    def __init__(self, queued: list[QueuedCommand]) -> None:
        self.queued = queued
        self.acked: list[QueuedCommand] = []
        self.retried: list[QueuedCommand] = []
        self.parked: list[QueuedCommand] = []

    async def deliveries(self) -> AsyncIterator[QueuedCommand]:
        for queued in self.queued:
            yield queued

    async def ack(self, queued: QueuedCommand) -> None:
        self.acked.append(queued)

    async def retry(self, queued: QueuedCommand) -> None:
        self.retried.append(queued)

    async def park(self, queued: QueuedCommand) -> None:
        self.parked.append(queued)
