"""The command inbox: queued commands run through the same handlers, and their outcomes replied.

A client appends a command to an inbox stream (``rover-inbox-{grid_id}``); a persistent
subscription group hands it to one command service instance, which runs it through
:class:`Handlers` (so the request_id idempotency of the executor makes a redelivery harmless),
appends the outcome to the reply stream and only then acknowledges the delivery.

Order: the commands of one inbox stream are run one after the other, in stream order, and a
command runs only once the one before it in its stream is answered, whichever instance answered
it (``inbox_order``). When a command must be retried (an outage, or conflicts that outlasted
the executor's attempts) it and every later command of its stream already delivered here go
back to the group, in order, so a later command never overtakes an earlier one. Poison (an
event that is no command) is answered, when the event names a reply stream, and parked.
"""

from __future__ import annotations

import asyncio
from bisect import insort
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, Protocol

from services.command.application.commands import AnyCommand, CommandResult
from services.command.application.errors import CommandAbortedError, StoreUnavailableError
from services.command.application.handlers import Handlers
from services.common.cancellation import raise_if_cancelling
from services.common.inbox_names import INBOX_CONSUMER, INBOX_STREAM_PREFIX
from services.common.logs import get_logger

if TYPE_CHECKING:
    from services.command.application.inbox_order import InboxOrder

__all__ = [
    "INBOX_CONSUMER",
    "REPLY_STREAM_PREFIX",
    "DecodedCommand",
    "InboxCodec",
    "InboxProcessor",
    "PoisonCommandError",
    "QueuedCommand",
    "Reply",
    "inbox_stream",
    "reply_stream",
]

NEW_GRIDS_INBOX = f"{INBOX_STREAM_PREFIX}new"
REPLY_STREAM_PREFIX = "rover-reply-"
# Failures worth another delivery: the same command may well succeed later.
_TRANSIENT = (StoreUnavailableError, CommandAbortedError)
_UNANSWERED = "the command before it in its inbox stream has no answer yet"
_log = get_logger(__name__)


def _revision(queued: QueuedCommand) -> int:
    return queued.revision


def _superseded(lane: list[QueuedCommand], head: QueuedCommand) -> bool:
    return lane[0] is not head


def inbox_stream(grid_id: str) -> str:
    """The inbox stream of a grid's commands (a CreateGrid without grid id: ``rover-inbox-new``)."""
    return f"{INBOX_STREAM_PREFIX}{grid_id}" if grid_id else NEW_GRIDS_INBOX


def reply_stream(request_id: str, named: str = "") -> str:
    """Where a command's outcome goes: the stream its sender named, else its own stream."""
    return named or f"{REPLY_STREAM_PREFIX}{request_id}"


class PoisonCommandError(Exception):
    """An inbox event that is no command: an unknown type, or bytes that do not decode."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # UPPER_SNAKE, for the error reply's ErrorInfo
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedCommand:
    """One delivery of an inbox event, as the subscription hands it out."""

    stream: str
    revision: int
    attempt: int  # earlier deliveries of this event (the group's retry count)
    event_type: str
    data: bytes
    reply_stream: str  # named by the sender in the event's metadata; "" for the default
    handle: object  # the subscription's token to acknowledge this delivery
    recorded_at: datetime | None = None  # when the store recorded it (its reply is later)


@dataclass(frozen=True, slots=True)
class DecodedCommand:
    """A request decoded from an inbox event: its request_id, and its conversion to a command
    (which raises the same validation errors the direct RPC answers)."""

    request_id: str
    command: Callable[[], AnyCommand]


class Reply(NamedTuple):
    """An outcome as stored in a reply stream: its event type and its bytes."""

    event_type: str
    data: bytes


class InboxCodec(Protocol):
    """Requests in, outcomes out, in the public contract's own messages."""

    def decode(self, event_type: str, data: bytes) -> DecodedCommand:
        """The request in an inbox event; PoisonCommandError when it is none."""
        ...

    def result(self, result: CommandResult) -> Reply:
        """A success, as the direct RPC answers it."""
        ...

    def error(self, error: BaseException) -> Reply:
        """A failure, as the status (code, message, details) the direct RPC answers."""
        ...

    def poison(self, error: PoisonCommandError) -> Reply:
        """An event that is no command, as an INVALID_ARGUMENT status."""
        ...


class InboxSubscription(Protocol):
    """The inbox's persistent subscription: deliveries in, acknowledgements out."""

    def deliveries(self) -> AsyncIterator[QueuedCommand]:
        """Delivered commands until the subscription ends (an error ends it)."""
        ...

    async def ack(self, queued: QueuedCommand) -> None:
        """Done: never deliver it again."""
        ...

    async def retry(self, queued: QueuedCommand) -> None:
        """Deliver it again later (the group parks it after its retry limit)."""
        ...

    async def park(self, queued: QueuedCommand) -> None:
        """Set it aside for an operator."""
        ...


class ReplyLog(Protocol):
    """Where outcomes are appended (reply streams, each with a bounded age)."""

    async def append(
        self, stream: str, reply: Reply, *, request_id: str, queued: QueuedCommand
    ) -> None:
        """Append ``reply`` once per inbox event (again for the same event: a no-op);
        StoreUnavailableError when the store cannot be reached."""
        ...


class InboxProcessor:
    """Runs the inbox's deliveries: one lane per inbox stream, ``concurrency`` lanes at once."""

    def __init__(
        self,
        handlers: Handlers,
        codec: InboxCodec,
        replies: ReplyLog,
        *,
        order: InboxOrder,
        max_attempts: int,
        concurrency: int,
    ) -> None:
        self._handlers = handlers
        self._codec = codec
        self._replies = replies
        self._max_attempts = max_attempts
        self._order = order
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, list[QueuedCommand]] = {}
        self.applied = 0  # replied with a CommandResult
        self.failed = 0  # replied with an error status
        self.retried = 0  # handed back for another delivery
        self.parked = 0  # poison set aside

    async def run(self, subscription: InboxSubscription) -> None:
        """Take deliveries until the subscription ends; a lane's failure ends the run."""
        try:
            async with asyncio.TaskGroup() as lanes:
                async for queued in subscription.deliveries():
                    lane = self._lanes.get(queued.stream)
                    if lane is None:
                        lane = self._lanes[queued.stream] = []
                        lanes.create_task(self._drain(subscription, queued.stream, lane))
                    insort(lane, queued, key=_revision)  # a redelivery may come after later ones
        except BaseExceptionGroup as failed:
            # A stop closes the subscription under the lanes, whose acks then fail: the stop
            # is what happened. Otherwise the first lane's failure is the run's.
            raise_if_cancelling()
            raise failed.exceptions[0] from failed

    async def _drain(
        self, subscription: InboxSubscription, stream: str, lane: list[QueuedCommand]
    ) -> None:
        try:
            while lane:
                queued = lane[0]
                turn = await self._order.turn(queued, partial(_superseded, lane, queued))
                if turn is None:
                    continue  # an earlier command of this stream arrived meanwhile: it goes first
                if turn:
                    async with self._slots:
                        done = await self._process(subscription, queued)
                else:
                    done = await self._retry(subscription, queued, _UNANSWERED)
                lane.remove(queued)
                if done:
                    self._order.done(queued)
                    continue
                while lane:  # the later commands of this stream go back behind it, in order
                    await subscription.retry(lane.pop(0))
                    self.retried += 1
        finally:
            del self._lanes[stream]

    async def _process(self, subscription: InboxSubscription, queued: QueuedCommand) -> bool:
        """Run one delivery; False when it was handed back for a retry."""
        try:
            decoded = self._codec.decode(queued.event_type, queued.data)
        except PoisonCommandError as poison:
            return await self._park(subscription, queued, poison)
        try:
            reply, ok = self._codec.result(await self._handlers.handle(decoded.command())), True
        except _TRANSIENT as error:
            if queued.attempt + 1 < self._max_attempts:
                return await self._retry(subscription, queued, str(error))
            reply, ok = self._codec.error(error), False
        except Exception as error:  # a client's mistake or a domain rule: the status says which
            reply, ok = self._codec.error(error), False
        stream = reply_stream(decoded.request_id, queued.reply_stream)
        try:
            await self._replies.append(stream, reply, request_id=decoded.request_id, queued=queued)
        except StoreUnavailableError as error:
            return await self._retry(subscription, queued, str(error))
        await subscription.ack(queued)
        if ok:
            self.applied += 1
        else:
            self.failed += 1
        return True

    async def _retry(
        self, subscription: InboxSubscription, queued: QueuedCommand, why: str
    ) -> bool:
        _log.warning(
            "inbox command handed back for a retry",
            stream=queued.stream,
            revision=queued.revision,
            attempt=queued.attempt,
            why=why,
        )
        await subscription.retry(queued)
        self.retried += 1
        return False

    async def _park(
        self, subscription: InboxSubscription, queued: QueuedCommand, poison: PoisonCommandError
    ) -> bool:
        _log.error(
            "inbox event is no command; parked",
            stream=queued.stream,
            revision=queued.revision,
            event_type=queued.event_type,
            reason=poison.reason,
            why=poison.message,
            answered_on=queued.reply_stream or None,
        )
        if queued.reply_stream:
            reply = self._codec.poison(poison)
            try:
                await self._replies.append(queued.reply_stream, reply, request_id="", queued=queued)
            except StoreUnavailableError as error:
                return await self._retry(subscription, queued, str(error))
        await subscription.park(queued)
        self.parked += 1
        return True
