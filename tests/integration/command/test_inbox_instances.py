"""The command inbox with competing instances and restarts: every command applied once, in the
order of its inbox stream, whichever instance took it."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import command_pb2
from services.command.bootstrap import CommandApp
from services.command.bootstrap_inbox import InboxParts
from services.command.grpc.inbox_codec import RESULT_TYPE
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.integration.command.test_inbox import enqueue, grid_request, replies, rover_request

pytestmark = pytest.mark.slow

STEPS = (
    command_pb2.TurnRoverRightRequest,
    command_pb2.MoveRoverForwardRequest,
    command_pb2.TurnRoverLeftRequest,
    command_pb2.MoveRoverForwardRequest,
    command_pb2.MoveRoverBackwardRequest,
)


def steps(grid_id: str, count: int) -> list[command_pb2.MoveRoverForwardRequest]:
    """``count`` single-step commands for rover r1; each records exactly one event."""
    kinds = itertools.islice(itertools.cycle(STEPS), count)
    return [kind(request_id=new_id(), grid_id=grid_id, rover_id="r1") for kind in kinds]  # type: ignore[misc]


async def enqueue_grid(esdb: AsyncEventStoreDBClient, grid_id: str, count: int) -> None:
    """A grid, its rover and ``count`` steps, all on the grid's inbox stream, all replied to
    one named stream."""
    requests = [grid_request(grid_id), rover_request(grid_id), *steps(grid_id, count)]
    for request in requests:
        await enqueue(
            esdb, request, stream=f"rover-inbox-{grid_id}", reply_stream=f"answers-{grid_id}"
        )


async def check_applied_once_in_order(
    esdb: AsyncEventStoreDBClient, grid_id: str, count: int
) -> None:
    found = await replies(esdb, f"answers-{grid_id}", count)
    versions = []
    for event_type, data in found:
        assert event_type == RESULT_TYPE
        versions.append(command_pb2.CommandResult.FromString(data).version)
    # The k-th command of the stream was the k-th change of the grid: applied in order, once.
    assert versions == list(range(1, count + 1))
    assert len(await esdb.get_stream(f"grid-{grid_id}")) == count


async def test_two_instances_share_the_inbox_and_keep_each_grid_in_order(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    first, second = await start_service(), await start_service()
    grids = [new_id() for _ in range(16)]
    await asyncio.gather(*(enqueue_grid(esdb, grid_id, 10) for grid_id in grids))
    for grid_id in grids:
        await check_applied_once_in_order(esdb, grid_id, 12)
    counts = [inbox_of(app).processor.applied for app in (first, second)]
    assert sum(counts) == 16 * 12
    assert min(counts) > 0  # both took commands (16 grids pinned over 2 consumers)


def inbox_of(app: CommandApp) -> InboxParts:
    assert app.parts.inbox is not None
    return app.parts.inbox


async def test_commands_are_applied_once_across_a_restart_and_a_resubmission(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    first = await start_service()
    grids = [new_id() for _ in range(4)]
    await asyncio.gather(*(enqueue_grid(esdb, grid_id, 20) for grid_id in grids))
    await replies(esdb, f"answers-{grids[0]}", 3)  # under way ...
    await first.stop()  # ... and stopped mid-flight: unacknowledged commands come back
    second = await start_service()
    for grid_id in grids:
        await check_applied_once_in_order(esdb, grid_id, 22)
    # A client that resends a command (same request_id) gets the same answer, applied once.
    grid_id = grids[0]
    again = steps(grid_id, 1)[0]
    await enqueue(esdb, again, stream=f"rover-inbox-{grid_id}", reply_stream=f"answers-{grid_id}")
    await enqueue(esdb, again, stream=f"rover-inbox-{grid_id}", reply_stream=f"answers-{grid_id}")
    found = await replies(esdb, f"answers-{grid_id}", 24)
    assert found[-1] == found[-2]
    assert len(await esdb.get_stream(f"grid-{grid_id}")) == 23
    assert inbox_of(second).processor.applied >= 2


async def test_an_instance_joining_mid_stream_keeps_each_grid_in_order(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    """A joining consumer moves pins while commands of the moved streams may still be in flight
    on the first instance (small buffers leave most commands to be routed by the new pins).
    Whether the two instances actually race depends on timing; test_inbox_order.py forces it."""
    # Small buffers: most commands wait in the group, and are routed by the new pins.
    first = await start_service(command_inbox_buffer_size=4)
    grids = [new_id() for _ in range(12)]
    await asyncio.gather(*(enqueue_grid(esdb, grid_id, 15) for grid_id in grids))
    await replies(esdb, f"answers-{grids[0]}", 2)
    second = await start_service(command_inbox_buffer_size=4)
    for grid_id in grids:
        await check_applied_once_in_order(esdb, grid_id, 17)
    applied = inbox_of(first).processor.applied + inbox_of(second).processor.applied
    assert applied >= 12 * 17
