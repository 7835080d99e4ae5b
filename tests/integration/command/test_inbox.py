"""The command inbox: commands appended to rover-inbox-* streams by any EventStoreDB client are
applied once, in order per stream, and answered in reply streams with what gRPC answers."""

from __future__ import annotations

import json
from dataclasses import replace

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound
from google.protobuf.message import Message
from google.rpc import status_pb2

from protos.rover.v1 import command_pb2, common_pb2
from services.command.adapters.esdb_inbox import EsdbReplyLog
from services.command.application.inbox import Reply
from services.command.bootstrap import CommandApp
from services.command.grpc.inbox_codec import RESULT_TYPE, STATUS_TYPE
from services.common.rich_errors import details_of
from tests.integration.command.conftest import new_id
from tests.support.health import eventually
from tests.support.inbox import delivery
from tests.support.stubs import command_stub

NORTH = common_pb2.DIRECTION_NORTH


async def enqueue(
    esdb: AsyncEventStoreDBClient, request: Message, *, stream: str, reply_stream: str = ""
) -> None:
    """Append ``request`` as a client in any language would: type = full message name."""
    metadata = json.dumps({"reply_stream": reply_stream} if reply_stream else {}).encode()
    await esdb.append_to_stream(
        stream,
        current_version=StreamState.ANY,
        events=NewEvent(
            type=request.DESCRIPTOR.full_name,
            data=request.SerializeToString(),
            metadata=metadata,
            content_type="application/octet-stream",
        ),
    )


async def replies(
    esdb: AsyncEventStoreDBClient, stream: str, count: int
) -> list[tuple[str, bytes]]:
    """The first ``count`` events of a reply stream, followed until they are there."""
    subscription = await esdb.subscribe_to_stream(stream)
    found: list[tuple[str, bytes]] = []
    async with subscription:
        async for event in subscription:
            found.append((event.type, event.data))
            if len(found) == count:
                return found
    raise AssertionError("subscription ended")


async def reply(esdb: AsyncEventStoreDBClient, request_id: str) -> tuple[str, bytes]:
    return (await replies(esdb, f"rover-reply-{request_id}", 1))[0]


def grid_request(grid_id: str) -> command_pb2.CreateGridRequest:
    return command_pb2.CreateGridRequest(request_id=new_id(), grid_id=grid_id, width=10, height=10)


def rover_request(grid_id: str, rover_id: str = "r1") -> command_pb2.CreateRoverRequest:
    return command_pb2.CreateRoverRequest(
        request_id=new_id(),
        grid_id=grid_id,
        rover_id=rover_id,
        position=common_pb2.Position(x=0, y=0),
        facing=NORTH,
    )


async def test_a_queued_command_is_answered_with_the_bytes_grpc_answers(
    service: CommandApp, esdb: AsyncEventStoreDBClient
) -> None:
    grid_id = new_id()
    create = grid_request(grid_id)
    await enqueue(esdb, create, stream=f"rover-inbox-{grid_id}")
    event_type, data = await reply(esdb, create.request_id)
    assert event_type == RESULT_TYPE
    async with grpc.aio.insecure_channel(service.address) as channel:
        direct = await command_stub(channel).CreateGrid(create)  # same request_id: the original
    assert data == direct.SerializeToString()
    assert command_pb2.CommandResult.FromString(data).grid_id == grid_id


async def test_a_failing_command_is_answered_with_the_status_grpc_fails_with(
    service: CommandApp, esdb: AsyncEventStoreDBClient
) -> None:
    grid_id = new_id()
    move = command_pb2.MoveRoverForwardRequest(request_id=new_id(), grid_id=grid_id, rover_id="x")
    await enqueue(esdb, move, stream=f"rover-inbox-{grid_id}")
    event_type, data = await reply(esdb, move.request_id)
    assert event_type == STATUS_TYPE
    stored = status_pb2.Status.FromString(data)
    async with grpc.aio.insecure_channel(service.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await command_stub(channel).MoveRoverForward(move)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert stored.code == failure.value.code().value[0]
    assert stored.message == failure.value.details()
    unpacked = [type(d)() for d in details_of(failure.value)]
    for target, packed in zip(unpacked, stored.details, strict=True):
        packed.Unpack(target)
    assert unpacked == details_of(failure.value)


async def group_parked(esdb: AsyncEventStoreDBClient) -> int:
    info = await esdb.get_subscription_info("rover-inbox")
    return int(info.parked_message_count)


async def test_poison_is_parked_and_answered(
    service: CommandApp, esdb: AsyncEventStoreDBClient
) -> None:
    answer = f"poison-replies-{new_id()}"
    grid_id = new_id()
    stream = f"rover-inbox-{grid_id}"
    await esdb.append_to_stream(
        stream,
        current_version=StreamState.ANY,
        events=[
            NewEvent(
                type="rover.v1.LaunchMissiles",
                data=b"\x01",
                metadata=json.dumps({"reply_stream": answer}).encode(),
            ),
            NewEvent(
                type="rover.v1.CreateGridRequest",
                data=b"\xff\xff",
                metadata=json.dumps({"reply_stream": answer}).encode(),
            ),
            NewEvent(
                type="rover.v1.CreateGridRequest",
                data=command_pb2.CreateGridRequest(
                    grid_id=grid_id, width=1, height=1
                ).SerializeToString(),
                metadata=json.dumps({"reply_stream": answer}).encode(),
            ),
        ],
    )
    found = await replies(esdb, answer, 3)
    reasons = []
    for event_type, data in found:
        assert event_type == STATUS_TYPE
        status = status_pb2.Status.FromString(data)
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        reasons.append(status.message)
    assert "LaunchMissiles" in reasons[0]
    assert "does not decode" in reasons[1]
    assert "request_id" in reasons[2]

    async def all_parked() -> bool:
        return await group_parked(esdb) == 3

    await eventually(all_parked)
    with pytest.raises(NotFound):
        await esdb.get_stream(f"grid-{grid_id}")  # the request without request_id never ran


async def test_a_redelivered_command_is_answered_once(esdb: AsyncEventStoreDBClient) -> None:
    """The reply to one inbox event has one event id: appending it again keeps one reply."""
    replies_log = EsdbReplyLog(esdb, timeout=5, max_age_seconds=60)
    queued = delivery("rover-inbox-x", 7, "rover.v1.CreateGridRequest")
    stream = f"answers-{new_id()}"
    for attempt in range(2):
        await replies_log.append(
            stream,
            Reply(RESULT_TYPE, b"x"),
            request_id="r",
            queued=replace(queued, attempt=attempt),
        )
    assert len(await esdb.get_stream(stream)) == 1
    assert await replies_log.answered(stream, queued)
    assert (await esdb.get_stream_metadata(stream))[0]["$maxAge"] == 60
