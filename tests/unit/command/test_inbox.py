"""The inbox processor and its order check, over in-memory fakes and the real handlers."""

from __future__ import annotations

from dataclasses import replace

from google.rpc import status_pb2

from protos.rover.v1 import command_pb2, common_pb2
from services.command.application.errors import StoreUnavailableError
from services.command.application.inbox import InboxProcessor, QueuedCommand, Reply
from services.command.application.inbox_order import InboxOrder
from services.command.grpc.inbox_codec import RESULT_TYPE, STATUS_TYPE, ProtoInboxCodec
from tests.support.inbox import FakeSubscription, delivery, request_delivery
from tests.unit.command.conftest import make_world


class FakeReplies:
    """Reply streams in memory; ``fail_for`` inbox streams fail once (an outage)."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.streams: dict[str, list[tuple[Reply, QueuedCommand]]] = {}
        self._fail_for = set(fail_for or ())

    async def append(
        self, stream: str, reply: Reply, *, request_id: str, queued: QueuedCommand
    ) -> None:
        if queued.stream in self._fail_for:
            self._fail_for.discard(queued.stream)
            raise StoreUnavailableError("down")
        self.streams.setdefault(stream, []).append((reply, queued))

    async def answered(self, stream: str, queued: QueuedCommand) -> bool:
        return any(q is queued for _, q in self.streams.get(stream, []))


class FakeHistory:
    def __init__(self) -> None:
        self.events: dict[tuple[str, int], QueuedCommand] = {}

    async def previous(self, stream: str, revision: int) -> QueuedCommand | None:
        return self.events.get((stream, revision - 1))


def grid(grid_id: str, request_id: str) -> command_pb2.CreateGridRequest:
    return command_pb2.CreateGridRequest(request_id=request_id, grid_id=grid_id, width=5, height=5)


def rover(grid_id: str, request_id: str) -> command_pb2.CreateRoverRequest:
    return command_pb2.CreateRoverRequest(
        request_id=request_id,
        grid_id=grid_id,
        rover_id="r1",
        position=common_pb2.Position(x=0, y=0),
        facing=common_pb2.DIRECTION_NORTH,
    )


def processor(replies: FakeReplies, history: FakeHistory | None = None) -> InboxProcessor:
    codec = ProtoInboxCodec()
    order = InboxOrder(history or FakeHistory(), codec, replies, wait_seconds=0.05)
    return InboxProcessor(
        make_world().app.handlers, codec, replies, order=order, max_attempts=3, concurrency=4
    )


async def test_an_outage_hands_back_the_command_and_the_later_ones_of_its_stream_in_order() -> None:
    a = [
        request_delivery("rover-inbox-a", 0, grid("a", "a0")),
        request_delivery("rover-inbox-a", 1, rover("a", "a1")),
    ]
    b = [request_delivery("rover-inbox-b", 0, grid("b", "b0"))]
    subscription = FakeSubscription([a[0], b[0], a[1]])
    replies = FakeReplies(fail_for={"rover-inbox-a"})
    inbox = processor(replies)
    await inbox.run(subscription)
    assert subscription.retried == a  # a0 failed to reply: a1 must not overtake it
    assert subscription.acked == b
    assert replies.streams["rover-reply-b0"][0][0].event_type == RESULT_TYPE
    # The redelivery (attempt 1) runs both, in order; the grid was created once.
    again = [replace(q, attempt=1) for q in a]
    await inbox.run(FakeSubscription(again))
    assert [replies.streams[f"rover-reply-a{i}"][0][0].event_type for i in (0, 1)] == [
        RESULT_TYPE,
        RESULT_TYPE,
    ]
    assert (inbox.applied, inbox.retried) == (3, 2)


async def test_poison_is_parked_and_answered_where_a_reply_stream_is_named() -> None:
    named = delivery("rover-inbox-p", 0, "rover.v1.Nonsense", reply_stream="mine")
    anonymous = delivery("rover-inbox-q", 0, "rover.v1.CreateGridRequest", b"\xff")
    subscription = FakeSubscription([named, anonymous])
    replies = FakeReplies()
    inbox = processor(replies)
    await inbox.run(subscription)
    assert subscription.parked == [named, anonymous]
    [(reply, _)] = replies.streams["mine"]
    assert reply.event_type == STATUS_TYPE
    status = status_pb2.Status.FromString(reply.data)
    assert "rover.v1.Nonsense" in status.message
    assert list(replies.streams) == ["mine"]


async def test_a_command_waits_for_the_previous_one_of_its_stream_to_be_answered() -> None:
    replies = FakeReplies()
    history = FakeHistory()
    first = request_delivery("rover-inbox-c", 0, grid("c", "c0"))
    second = request_delivery("rover-inbox-c", 1, rover("c", "c1"))
    history.events[("rover-inbox-c", 0)] = first
    order = InboxOrder(history, ProtoInboxCodec(), replies, wait_seconds=0.05)
    assert await order.turn(second, lambda: False) is False  # c0 unanswered (elsewhere)
    assert order.held_back == 1
    assert await order.turn(second, lambda: True) is None  # c0 arrived here meanwhile
    await replies.append("rover-reply-c0", Reply(RESULT_TYPE, b""), request_id="c0", queued=first)
    assert await order.turn(second, lambda: False) is True
    checks = order.checks
    order.done(second)
    third = request_delivery("rover-inbox-c", 2, rover("c", "c2"))
    assert await order.turn(third, lambda: False) is True  # answered here: no look-up
    assert order.checks == checks


async def test_poison_before_a_command_does_not_hold_it_back() -> None:
    history = FakeHistory()
    history.events[("rover-inbox-d", 0)] = delivery("rover-inbox-d", 0, "garbage")
    order = InboxOrder(history, ProtoInboxCodec(), FakeReplies(), wait_seconds=0.05)
    assert (
        await order.turn(request_delivery("rover-inbox-d", 1, grid("d", "d1")), lambda: False)
        is True
    )
