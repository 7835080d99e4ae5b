"""An in-band BatchAppend outage (no leader in an election) is UNAVAILABLE and drops the call."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import ServiceUnavailable
from esdbclient.protos.Grpc import shared_pb2, status_pb2, streams_pb2
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from protos.rover.v1 import command_pb2
from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.pooled_appends import PooledAppender
from services.common.rich_errors import details_of
from standins.eventstore.server import EventStoreServer
from standins.eventstore.streams import StreamsService
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.support.stubs import command_stub


class _Election:
    """Test hook: the stand-in answers the next ``times`` BatchAppends to streams starting with
    ``prefix`` as EventStoreDB does while it has no leader (an error status with an empty
    detail and "No leader info available in response"), on a call that stays open."""

    def __init__(self) -> None:
        self.prefix = ""
        self.times = 0
        self.detail: Message = empty_pb2.Empty()

    def answer(self, batch: Any) -> streams_pb2.BatchAppendResp | None:
        stream = batch.options.stream_identifier.stream_name.decode()
        if self.times <= 0 or not stream.startswith(self.prefix):
            return None
        self.times -= 1
        detail = any_pb2.Any()
        detail.Pack(self.detail)
        return streams_pb2.BatchAppendResp(
            correlation_id=batch.correlation_id,
            stream_identifier=batch.options.stream_identifier,
            error=status_pb2.Status(message="No leader info available in response", details=detail),
        )


@pytest.fixture
def election(monkeypatch: pytest.MonkeyPatch) -> _Election:
    election = _Election()
    commit = StreamsService._commit_batch

    async def commit_or_refuse(self: StreamsService, batch: Any) -> streams_pb2.BatchAppendResp:
        refused = election.answer(batch)
        if refused is not None:
            return refused
        return await commit(self, batch)

    monkeypatch.setattr(StreamsService, "_commit_batch", commit_or_refuse)
    return election


@pytest.fixture
async def client(eventstore: EventStoreServer) -> AsyncEventStoreDBClient:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    return client


def _event() -> NewEvent:
    return NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())


async def test_pooled_call_is_dropped_and_the_next_append_opens_a_fresh_one(
    client: AsyncEventStoreDBClient, election: _Election
) -> None:
    appender = PooledAppender(client)
    stream = f"election-{uuid.uuid4().hex}"
    try:
        await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        [(_, kept)] = appender._idle
        election.prefix, election.times = stream, 1
        with pytest.raises(ServiceUnavailable):
            await appender.append(stream, 0, [_event()], deadline=5)
        assert appender._idle == []  # the refused call is not kept for the next append
        assert kept.done()  # it was cancelled
        await appender.append(stream, 0, [_event()], deadline=5)
        [(_, fresh)] = appender._idle
        assert fresh is not kept
        assert len(await client.get_stream(stream)) == 2
    finally:
        appender.close()
        await client.close()


@pytest.mark.parametrize("kind", [StockAppender, PooledAppender])
@pytest.mark.parametrize("detail", [empty_pb2.Empty(), shared_pb2.Unknown()])
async def test_both_appenders_raise_service_unavailable(
    client: AsyncEventStoreDBClient, election: _Election, kind: type[Appender], detail: Message
) -> None:
    """No leader (an empty detail), and EventStoreDB's Unknown result: the store's failure."""
    appender = kind(client)  # type: ignore[call-arg]
    stream = f"election-{uuid.uuid4().hex}"
    election.prefix, election.times, election.detail = stream, 1, detail
    try:
        with pytest.raises(ServiceUnavailable):
            await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        assert len(await client.get_stream(stream)) == 1
    finally:
        appender.close()
        await client.close()


@pytest.mark.parametrize("pooled", [True, False])
async def test_command_service_answers_unavailable_with_retry_info(
    start_service: ServiceFactory, election: _Election, pooled: bool
) -> None:
    service = await start_service(command_pooled_appends=pooled)
    grid_id = new_id()
    request = command_pb2.CreateGridRequest(
        grid_id=grid_id, width=3, height=3, request_id=uuid.uuid4().hex
    )
    election.prefix, election.times = f"grid-{grid_id}", 1
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateGrid(request)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        details = details_of(caught.value)
        retry = [d for d in details if isinstance(d, error_details_pb2.RetryInfo)]
        assert retry
        assert retry[0].retry_delay.seconds >= 1
        info = [d for d in details if isinstance(d, error_details_pb2.ErrorInfo)]
        assert [i.reason for i in info] == ["EVENT_STORE_UNAVAILABLE"]
        result = await stub.CreateGrid(request)  # the retry the status asks for succeeds
    assert result.events
