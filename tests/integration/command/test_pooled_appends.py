"""PooledAppender: pooled BatchAppend calls keep esdbclient's append semantics and errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound, WrongCurrentVersion
from esdbclient.streams import AsyncStreamsService, BaseStreamsService
from structlog.testing import capture_logs

from domain.events import GridCreated
from domain.values import GridId, Topology
from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_store import EsdbEventStore
from services.command.adapters.pooled_appends import PooledAppender, missing_internals
from services.command.application.errors import ConcurrencyError
from services.command.application.ports import EventMetadata, PendingEvent
from standins.eventstore.server import EventStoreServer


def _event() -> NewEvent:
    return NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())


@pytest.fixture
async def client(eventstore: EventStoreServer) -> AsyncEventStoreDBClient:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    return client


async def test_appends_reuse_one_call_and_keep_expected_versions(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = PooledAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    try:
        await appender.append(stream, StreamState.NO_STREAM, [_event(), _event()], deadline=5)
        idle = list(appender._idle)
        await appender.append(stream, 1, [_event()], deadline=5)
        assert appender._idle == idle  # the same open call served the second append
        with pytest.raises(WrongCurrentVersion):
            await appender.append(stream, 1, [_event()], deadline=5)
        # a refusal is an answer: the call stays usable for the next append
        await appender.append(stream, 2, [_event()], deadline=5)
        assert len(await client.get_stream(stream)) == 4
    finally:
        appender.close()
        await client.close()


async def test_concurrent_appends_each_get_their_own_answer(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = PooledAppender(client)
    streams = [f"appender-{uuid.uuid4().hex}" for _ in range(8)]
    try:
        for version in (StreamState.NO_STREAM, 0, 1):
            await asyncio.gather(
                *(appender.append(s, version, [_event()], deadline=5) for s in streams)
            )
        for stream in streams:
            assert [e.stream_position for e in await client.get_stream(stream)] == [0, 1, 2]
    finally:
        appender.close()
        await client.close()


async def test_a_cancelled_append_drops_its_call(client: AsyncEventStoreDBClient) -> None:
    appender = PooledAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    try:
        task = asyncio.create_task(
            appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        )
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert appender._idle == []  # a late reply can never be read by another append
        found = await client.get_stream(stream) if await _exists(client, stream) else ()
        await appender.append(
            stream, StreamState.NO_STREAM if not found else len(found) - 1, [_event()], deadline=5
        )
    finally:
        appender.close()
        await client.close()


async def _exists(client: AsyncEventStoreDBClient, stream: str) -> bool:
    try:
        await client.get_stream(stream, limit=1)
    except NotFound:
        return False
    return True


class _BrokenCall:
    """A kept-open call whose connection died: every write fails like a dropped stream."""

    def __init__(self) -> None:
        self.cancelled = False

    async def write(self, request: object) -> None:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "dropped"
        )

    def done(self) -> bool:
        return False

    def cancel(self) -> bool:
        self.cancelled = True
        return True


async def test_a_broken_call_falls_back_to_esdbclient_append(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = PooledAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    broken = _BrokenCall()
    appender._idle.append((client._connection, broken))
    try:
        await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        assert broken.cancelled
        assert appender._idle == []  # the pool of a possibly dead connection is dropped
        assert len(await client.get_stream(stream)) == 1  # esdbclient's own append stored it
    finally:
        appender.close()
        await client.close()


# --- the start-up check ---------------------------------------------------------------------


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [r for r in logs if r["log_level"] == "warning"]


async def test_every_internal_is_present_in_the_pinned_esdbclient(
    client: AsyncEventStoreDBClient,
) -> None:
    try:
        assert missing_internals(client) == []
        appender = PooledAppender(client)
        with capture_logs() as logs:
            assert appender.start()
        assert _warnings(logs) == []
    finally:
        await client.close()


def move_internal(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """What an esdbclient upgrade might do: move an internal where the pooled path can't see it.

    The stock path still finds it (it reads it through its own AsyncStreamsService instance).
    """
    method = BaseStreamsService.__dict__[name]
    monkeypatch.delattr(BaseStreamsService, name)
    monkeypatch.setattr(AsyncStreamsService, name, method, raising=False)


MOVABLE = ["_construct_batch_append_req", "_convert_batch_append_resp"]


@pytest.mark.parametrize("name", MOVABLE)
async def test_a_missing_internal_means_one_warning_and_stock_appends(
    client: AsyncEventStoreDBClient, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    move_internal(monkeypatch, name)
    appender = PooledAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    try:
        with capture_logs() as logs:
            await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
            await appender.append(stream, 0, [_event()], deadline=5)
            with pytest.raises(WrongCurrentVersion):
                await appender.append(stream, 0, [_event()], deadline=5)
        assert not appender.pooled
        (warning,) = _warnings(logs)
        assert any(name in str(missing) for missing in warning["missing"])
        assert len(await client.get_stream(stream)) == 2
    finally:
        appender.close()
        await client.close()


async def test_an_internal_that_changes_shape_after_the_check_degrades_once(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = PooledAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"

    def renamed(**kwargs: object) -> object:
        raise TypeError("unexpected keyword argument 'stream_name'")

    try:
        assert appender.start()
        appender._construct = renamed
        with capture_logs() as logs:
            await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
            await appender.append(stream, 0, [_event()], deadline=5)
        assert not appender.pooled
        assert len(_warnings(logs)) == 1
        assert len(await client.get_stream(stream)) == 2
    finally:
        appender.close()
        await client.close()


# --- the two paths are equivalent -----------------------------------------------------------


async def _script(appender: Appender, stream: str, ids: list[uuid.UUID]) -> list[str]:
    """Appends that succeed and appends that are refused; what each one answered."""
    answers: list[str] = []
    steps: list[tuple[int | StreamState, list[int]]] = [
        (StreamState.EXISTS, [0]),  # no stream yet
        (StreamState.NO_STREAM, [0, 1]),
        (StreamState.NO_STREAM, [2]),  # the stream exists
        (1, [2]),
        (1, [3]),  # stale
        (5, [3]),  # ahead
        (StreamState.ANY, [3]),
        (StreamState.EXISTS, [4]),
        (1, [2]),  # a re-send of an appended event: idempotent
    ]
    for version, picks in steps:
        events = [
            NewEvent(type=f"Tested{i}", data=b'{"n":%d}' % i, metadata=b"{}", id=ids[i])
            for i in picks
        ]
        try:
            await appender.append(stream, version, events, deadline=5)
            answers.append("ok")
        except WrongCurrentVersion as error:
            answers.append(type(error).__name__)
    return answers


async def test_stock_and_pooled_appends_store_the_same_and_refuse_the_same(
    client: AsyncEventStoreDBClient,
) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    pooled = PooledAppender(client)
    stock = StockAppender(client)
    try:
        assert pooled.start()
        results = {}
        for name, appender in (("stock", stock), ("pooled", pooled)):
            stream = f"{name}-{uuid.uuid4().hex}"
            answers = await _script(appender, stream, ids)
            stored = [
                (e.type, e.data, e.metadata, e.id, e.stream_position)
                for e in await client.get_stream(stream)
            ]
            results[name] = (answers, stored)
        assert results["pooled"] == results["stock"]
        answers, stored = results["stock"]
        assert answers.count("WrongCurrentVersion") == 4
        assert len(stored) == 5
    finally:
        pooled.close()
        await client.close()


def _created(grid_id: str) -> list[PendingEvent]:
    event = GridCreated(
        grid_id=GridId(grid_id), width=3, height=3, topology=Topology.BOUNDED, obstacles=frozenset()
    )
    metadata = EventMetadata(occurred_at=datetime(2025, 1, 1, tzinfo=UTC), command="CreateGrid")
    return [PendingEvent(event_id=uuid.uuid4(), event=event, metadata=metadata)]


async def test_both_paths_give_the_event_store_port_the_same_concurrency_error(
    client: AsyncEventStoreDBClient,
) -> None:
    pooled = PooledAppender(client)
    grid = f"g{uuid.uuid4().hex[:8]}"
    try:
        errors: list[tuple[str, int, str]] = []
        for appender in (StockAppender(client), pooled):
            store = EsdbEventStore(client, appender=appender)
            if not errors:
                assert await store.append(grid, 0, _created(grid)) == 1
            with pytest.raises(ConcurrencyError) as caught:
                await store.append(grid, 0, _created(grid))
            errors.append((caught.value.stream, caught.value.expected, str(caught.value)))
        assert errors[0] == errors[1] == (f"grid-{grid}", 0, errors[0][2])
    finally:
        pooled.close()
        await client.close()
