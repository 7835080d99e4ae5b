"""SubmitCommand enqueues and answers at once; GetCommandResult answers what the direct RPC
would have answered (its CommandResult, or its status with the same details)."""

from __future__ import annotations

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from protos.rover.v1 import command_pb2
from services.command.bootstrap import INBOX_HEALTH
from services.command.grpc.inbox_codec import PARSERS
from services.common.rich_errors import details_of
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.integration.command.test_inbox import grid_request, rover_request
from tests.support.health import eventually, health_status
from tests.support.stubs import CommandStub, command_stub

SERVING = health_pb2.HealthCheckResponse.SERVING


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call  # type: ignore[misc]
    return failure.value


def reason(error: grpc.aio.AioRpcError) -> str:
    infos = [d for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    return str(infos[0].reason)


async def test_submitted_commands_are_answered_as_the_direct_rpcs_answer(
    stub: CommandStub,
) -> None:
    grid_id = new_id()
    create = grid_request(grid_id)
    submitted = await stub.SubmitCommand(command_pb2.SubmitCommandRequest(create_grid=create))
    assert submitted.inbox_stream == f"rover-inbox-{grid_id}"
    assert submitted.reply_stream == f"rover-reply-{create.request_id}"
    assert submitted.request_id == create.request_id
    result = await stub.GetCommandResult(
        command_pb2.GetCommandResultRequest(request_id=create.request_id, wait_seconds=30)
    )
    assert result == await stub.CreateGrid(create)  # same request_id: the original result

    # No request_id: one is generated; a named reply stream is where the answer goes.
    move = command_pb2.MoveRoverForwardRequest(grid_id=grid_id, rover_id="nobody")
    named = f"answers-{grid_id}"
    submitted = await stub.SubmitCommand(
        command_pb2.SubmitCommandRequest(move_rover_forward=move, reply_stream=named)
    )
    assert submitted.request_id
    assert submitted.reply_stream == named
    queued = await refused(
        stub.GetCommandResult(
            command_pb2.GetCommandResultRequest(
                request_id=submitted.request_id, reply_stream=named, wait_seconds=30
            )
        )
    )
    move.request_id = submitted.request_id
    direct = await refused(stub.MoveRoverForward(move))
    assert queued.code() == direct.code() == grpc.StatusCode.NOT_FOUND
    assert queued.details() == direct.details()
    assert details_of(queued) == details_of(direct)


async def test_a_command_without_an_answer_is_pending(stub: CommandStub) -> None:
    pending = await refused(
        stub.GetCommandResult(command_pb2.GetCommandResultRequest(request_id=new_id()))
    )
    assert pending.code() == grpc.StatusCode.UNAVAILABLE
    assert reason(pending) == "COMMAND_PENDING"


async def test_a_wait_longer_than_a_deadline_ends_pending_not_cut_off(
    start_service: ServiceFactory,
) -> None:
    # The server's own deadline (1 s here) leaves a long poll its longest wait on top; a
    # caller's deadline shorter than its wait gets COMMAND_PENDING just before it.
    service = await start_service(server_deadline_seconds=1.0)
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        long_wait = command_pb2.GetCommandResultRequest(request_id=new_id(), wait_seconds=2)
        for timeout in (None, 1.5):
            pending = await refused(stub.GetCommandResult(long_wait, timeout=timeout))
            assert (pending.code(), reason(pending)) == (
                grpc.StatusCode.UNAVAILABLE,
                "COMMAND_PENDING",
            )


async def test_without_the_inbox_the_rpcs_are_unimplemented(start_service: ServiceFactory) -> None:
    service = await start_service(command_inbox_enabled=False)
    assert service.parts.inbox is None
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        submit = command_pb2.SubmitCommandRequest(create_grid=grid_request(new_id()))
        for call in (
            stub.SubmitCommand(submit),
            stub.GetCommandResult(command_pb2.GetCommandResultRequest(request_id="r")),
        ):
            error = await refused(call)
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
            assert reason(error) == "INBOX_DISABLED"


async def test_malformed_submissions_are_refused_and_nothing_is_enqueued(
    stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    grid_id = new_id()
    empty = await refused(stub.SubmitCommand(command_pb2.SubmitCommandRequest()))
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    no_position = rover_request(grid_id)
    no_position.ClearField("position")
    invalid = await refused(
        stub.SubmitCommand(command_pb2.SubmitCommandRequest(create_rover=no_position))
    )
    direct = await refused(stub.CreateRover(no_position))
    assert invalid.code() == direct.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(invalid) == details_of(direct)
    bad_stream = await refused(
        stub.SubmitCommand(
            command_pb2.SubmitCommandRequest(
                create_grid=grid_request(grid_id), reply_stream="no spaces"
            )
        )
    )
    assert bad_stream.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(NotFound):
        await esdb.get_stream(f"rover-inbox-{grid_id}")
    unknown = await refused(stub.GetCommandResult(command_pb2.GetCommandResultRequest()))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_command_rpc_can_be_submitted() -> None:
    """The inbox takes exactly the requests of the RPCs that answer a CommandResult directly."""
    service = command_pb2.DESCRIPTOR.services_by_name["RoverCommandService"]
    direct = {
        m.input_type.full_name
        for m in service.methods
        if m.output_type.full_name == "rover.v1.CommandResult" and m.name != "GetCommandResult"
    }
    assert {message.DESCRIPTOR.full_name for message in PARSERS} == direct
    oneof = command_pb2.SubmitCommandRequest.DESCRIPTOR.oneofs_by_name["command"]
    assert {field.message_type.full_name for field in oneof.fields} == direct


async def test_health_says_whether_this_instance_consumes_the_inbox(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()

    async def serving() -> bool:
        return bool(await health_status(service.port, INBOX_HEALTH) == SERVING)

    await eventually(serving)
    off = await start_service(command_inbox_enabled=False)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await health_status(off.port, INBOX_HEALTH)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
