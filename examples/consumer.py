"""A downstream consumer of the rover integration events (see docs/consumers.md).

Run it from a checkout, against a running system (``make run``)::

    python examples/consumer.py --group downstream
    python examples/consumer.py --group downstream --uri 'esdb://127.0.0.1:2113?Tls=false'

It reads the persistent subscription group, decodes each event's binary
``rover.v1.IntegrationEvent``, skips redeliveries it has already handled (by ``event_id``),
acks what it handled, and on a failure nacks with ``retry`` until the event has been retried
``--max-retries`` times, then nacks with ``park`` (a poison message never blocks the group).
Events that cannot be decoded are parked at once: retrying cannot fix them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

# A real consumer depends on stubs generated from protos/rover/v1/*.proto; from a checkout,
# `python examples/consumer.py` finds ours at the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from esdbclient import AsyncEventStoreDBClient, RecordedEvent  # noqa: E402
from google.protobuf.json_format import MessageToJson  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402

from protos.rover.v1 import events_pb2  # noqa: E402

__all__ = [
    "Consumer",
    "Deduplicator",
    "Handler",
    "InMemoryDeduplicator",
    "Outcome",
    "main",
    "print_event",
]

Handler = Callable[[events_pb2.IntegrationEvent], Awaitable[None]]
Outcome = Literal["acked", "duplicate", "retried", "parked"]
_INTEGRATION_PREFIX = "integration-"


class Deduplicator(Protocol):
    """Remembers which integration events were handled: keep it with the handler's effects.

    In production store it in the same transaction as the effects (e.g. a table of event ids,
    or the last ``sequence`` applied per ``grid_id``), so a crash between the effect and the
    ack cannot apply an event twice.
    """

    def seen(self, event_id: str) -> bool:
        """Whether the event was handled already."""
        ...

    def remember(self, event_id: str) -> None:
        """Record that the event was handled."""
        ...


class InMemoryDeduplicator:
    """The last ``capacity`` handled event ids, in memory (enough for the example)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, event_id: str) -> bool:
        """Whether the event was handled already."""
        return event_id in self._ids

    def remember(self, event_id: str) -> None:
        """Record that the event was handled, forgetting the oldest beyond the capacity."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


@dataclass
class Consumer:
    """Decides, per delivered event, between ack, retry and park; counts what it did."""

    handler: Handler
    deduplicator: Deduplicator
    max_retries: int = 3

    def __post_init__(self) -> None:
        self.counts: dict[Outcome, int] = dict.fromkeys(
            ("acked", "duplicate", "retried", "parked"), 0
        )

    async def decide(self, event: RecordedEvent) -> Outcome:
        """Handle one delivered event; return what to tell the server (without telling it)."""
        if not event.stream_name.startswith(_INTEGRATION_PREFIX):
            return "acked"  # not ours (a group with a wider filter): nothing to do
        try:
            message = events_pb2.IntegrationEvent.FromString(event.data)
        except DecodeError:
            return "parked"  # poison: no retry can decode it
        if self.deduplicator.seen(message.event_id):
            return "duplicate"  # redelivery of an event we handled: ack again, do nothing
        try:
            await self.handler(message)
        except Exception:  # any handler failure is retried, then parked
            return "retried" if (event.retry_count or 0) < self.max_retries else "parked"
        self.deduplicator.remember(message.event_id)
        return "acked"

    async def run(
        self, client: AsyncEventStoreDBClient, group: str, *, stop: asyncio.Event | None = None
    ) -> None:
        """Consume ``group`` until ``stop`` is set (or forever)."""
        subscription = await client.read_subscription_to_all(group)
        stopping = stop or asyncio.Event()
        waiter = asyncio.create_task(stopping.wait())

        async def cancel_when_stopped() -> None:
            await waiter
            await subscription.stop()

        stopper = asyncio.create_task(cancel_when_stopped())
        try:
            async for event in subscription:
                outcome = await self.decide(event)
                self.counts[outcome] += 1
                if outcome in ("acked", "duplicate"):
                    await subscription.ack(event)
                elif outcome == "retried":
                    await subscription.nack(event, action="retry")
                else:
                    await subscription.nack(event, action="park")
                if stopping.is_set():
                    break
        finally:
            stopper.cancel()
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            await subscription.stop()


async def print_event(message: events_pb2.IntegrationEvent) -> None:
    """The default handler: print the event in its canonical JSON mapping, one line each."""
    print(MessageToJson(message, indent=None), flush=True)  # noqa: T201 - a CLI's output


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Consume the rover integration events.")
    parser.add_argument("--group", default="downstream", help="persistent subscription group")
    parser.add_argument(
        "--uri",
        default=os.environ.get("ROVER_EVENTSTORE_URI", "esdb://127.0.0.1:2113?Tls=false"),
        help="event store connection string (ROVER_EVENTSTORE_URI)",
    )
    parser.add_argument(
        "--max-retries", type=int, default=3, help="retries of a failing event before parking"
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    client = AsyncEventStoreDBClient(args.uri)
    await client.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    consumer = Consumer(print_event, InMemoryDeduplicator(), max_retries=args.max_retries)
    try:
        await consumer.run(client, args.group, stop=stop)
    finally:
        await client.close()
        print(f"done: {consumer.counts}", file=sys.stderr)  # noqa: T201 - a CLI's summary


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python examples/consumer.py --group downstream``."""
    asyncio.run(_main(_parse(argv)))


if __name__ == "__main__":
    main()
