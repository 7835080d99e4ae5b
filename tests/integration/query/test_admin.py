"""The admin API (rover.v1.RoverAdminService) on a running query service: real gRPC, Redis
and the event store stand-in."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from google.rpc import error_details_pb2
from redis.asyncio import Redis

from protos.rover.v1 import admin_pb2, query_pb2
from services.common.esdb_parked import PARKED_EVENT_TYPE, RESOLVED_EVENT_TYPE, EsdbParkedEvents
from services.common.inbox_names import INBOX_CONSUMER, INBOX_STREAM_FILTER, INBOX_STREAM_PREFIX
from services.common.parked import PROJECTOR, ParkedEvent, PoisonEvent, parked_stream
from services.common.publisher_checkpoint import encode_checkpoint
from services.common.rich_errors import details_of
from services.query.settings import QuerySettings
from tests.integration.query.admin_support import admin_stub, plant_drift, projected
from tests.integration.query.conftest import ServiceFactory, publish
from tests.unit.query.seed import rover_walk, seed_history


def _reason(error: grpc.aio.AioRpcError) -> str:
    infos = [d for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    return infos[0].reason if infos else ""


async def test_audit_finds_planted_drift_and_repair_fixes_it_while_the_projector_runs(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, settings: QuerySettings
) -> None:
    history = seed_history("g")
    await publish(esdb, history[:5])
    await publish(esdb, seed_history("clean"))
    async with query_service() as running, admin_stub(running) as (admin, queries):
        await projected(queries, "g", 5)
        await projected(queries, "clean", 7)
        await plant_drift(running, settings, "g")

        drifted_only = admin_pb2.AuditGridsRequest(drifted_only=True)
        audits = [a async for a in admin.AuditGrids(drifted_only)]
        assert [(a.grid_id, a.drifted) for a in audits] == [("g", True)]
        drift = {f.field: (f.model, f.store) for f in audits[0].fields}
        assert drift == {"width": ("99", "6"), "rovers/ghost": ("0,0 N", "")}
        assert (audits[0].model_version, audits[0].store_version) == (5, 5)

        # the rest of the grid's events land while the repair runs, the projector live
        repaired, _ = await asyncio.gather(
            admin.RepairGrid(admin_pb2.RepairGridRequest(grid_id="g")),
            publish(esdb, history[5:]),
        )
        assert repaired.previous_version >= 5
        assert {"width", "rovers/ghost"} <= {f.field for f in repaired.fixed}
        await projected(queries, "g", 7)
        request = admin_pb2.AuditGridsRequest(grid_ids=["g", "clean"])
        after = [a async for a in admin.AuditGrids(request)]
        assert [(a.grid_id, a.drifted, a.model_version, a.store_version) for a in after] == [
            ("g", False, 7, 7),
            ("clean", False, 7, 7),
        ]
        assert list(after[0].fields) == []

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await admin.RepairGrid(admin_pb2.RepairGridRequest(grid_id="nowhere"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await admin.RepairGrid(admin_pb2.RepairGridRequest(grid_id="bad/id"))
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_rebuild_streams_progress_swaps_and_a_second_one_is_refused(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, settings: QuerySettings
) -> None:
    await publish(esdb, rover_walk("walk", 3, 120))
    await publish(esdb, seed_history("g"))
    async with query_service() as running, admin_stub(running) as (admin, queries):
        await projected(queries, "walk", 124)
        await projected(queries, "g", 7)
        before = await running.parts.read_model.active_generation()

        steps = [s async for s in admin.Rebuild(admin_pb2.RebuildRequest())]
        assert len(steps) >= 2
        assert [s.done for s in steps] == [False] * (len(steps) - 1) + [True]
        final = steps[-1]
        assert (final.replaced, final.events) == (before, 131)
        assert final.generation == await running.parts.read_model.active_generation() != before
        assert running.parts.rebuild is None
        assert (await running.parts.read_model.generation_rows(before)) == {}
        grid = await queries.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="g"))
        assert grid.version == 7

        # another instance's rebuild holds the lease
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        key = f"{settings.redis_key_prefix}:lease:rebuild"
        await redis.set(key, "elsewhere:1:abc#1", px=30_000)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                _ = [s async for s in admin.Rebuild(admin_pb2.RebuildRequest())]
            assert refused.value.code() == grpc.StatusCode.ABORTED
            assert _reason(refused.value) == "REBUILD_RUNNING"
            assert "elsewhere:1:abc" in (refused.value.details() or "")
        finally:
            await redis.delete(key)
            await redis.aclose()


async def test_a_rebuild_whose_client_went_away_carries_on_to_its_swap(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory
) -> None:
    await publish(esdb, rover_walk("walk", 3, 1500))
    async with query_service() as running, admin_stub(running) as (admin, queries):
        await projected(queries, "walk", 1504)
        before = await running.parts.read_model.active_generation()
        call = admin.Rebuild(admin_pb2.RebuildRequest())
        first = await call.read()
        assert isinstance(first, admin_pb2.RebuildResponse)
        assert not first.done
        assert running.parts.rebuild is not None  # still replaying when the client leaves
        call.cancel()
        assert running.parts.rebuilds is not None
        await running.parts.rebuilds.finished()
        assert await running.parts.read_model.active_generation() != before
        assert await running.parts.read_model.generation_rows(before) == {}
        assert running.parts.rebuild is None
        details = await queries.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="walk"))
        assert details.version == 1504


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"garbage", "not a publisher checkpoint"),
        (encode_checkpoint(10**12, "cmd:1:a", 5000), "beyond the newest domain event"),
    ],
)
async def test_status_shows_a_publisher_stopped_by_a_checkpoint_it_cannot_trust(
    esdb: AsyncEventStoreDBClient,
    query_service: ServiceFactory,
    settings: QuerySettings,
    body: bytes,
    problem: str,
) -> None:
    """A checkpoint someone else wrote stops the publisher (issue 16); status says so."""
    await publish(esdb, seed_history("g"))
    await esdb.append_to_stream(
        "grid-" + uuid.uuid4().hex[:8],
        current_version=StreamState.NO_STREAM,
        events=[NewEvent(type="X", data=b"{}")],
    )
    await esdb.append_to_stream(
        settings.publisher_checkpoint_stream,
        current_version=StreamState.ANY,
        events=[NewEvent(type="PublisherCheckpoint", data=body)],
    )
    async with query_service() as running, admin_stub(running) as (admin, _):
        reply = await admin.ListSubscriptions(admin_pb2.ListSubscriptionsRequest())
    publisher = reply.subscriptions[0]
    assert publisher.name == "publisher"
    assert publisher.state == admin_pb2.SUBSCRIPTION_STATE_STOPPED
    assert problem in publisher.problem
    assert [s.problem for s in reply.subscriptions[1:3]] == ["", ""]


async def test_status_lists_the_subscriptions_with_their_positions_and_lag(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, settings: QuerySettings
) -> None:
    await publish(esdb, seed_history("g"))
    domain = "grid-" + uuid.uuid4().hex[:8]
    first = await esdb.append_to_stream(
        domain, current_version=StreamState.NO_STREAM, events=[NewEvent(type="X", data=b"{}")]
    )
    await esdb.append_to_stream(
        settings.publisher_checkpoint_stream,
        current_version=StreamState.ANY,
        events=[
            NewEvent(type="PublisherCheckpoint", data=encode_checkpoint(first, "cmd:1:a", 5000))
        ],
    )
    await esdb.append_to_stream(
        domain,
        current_version=0,
        events=[NewEvent(type="X", data=b"{}"), NewEvent(type="X", data=b"{}")],
    )
    async with query_service() as running, admin_stub(running) as (admin, queries):
        await projected(queries, "g", 7)  # projected: this instance holds the lease
        reply = await admin.ListSubscriptions(admin_pb2.ListSubscriptionsRequest())
        # then the inbox group, if an inbox ran against this store
        publisher, projector, broadcaster = reply.subscriptions[:3]
        assert (publisher.name, publisher.position, publisher.lag_events) == ("publisher", first, 2)
        assert (publisher.holder, publisher.state) == (
            "cmd:1:a",
            admin_pb2.SUBSCRIPTION_STATE_CATCHING_UP,
        )
        assert publisher.lag_seconds >= 0
        head = await running.parts.feed.head()
        assert head is not None
        assert (projector.name, projector.position, projector.lag_events) == (
            "projector",
            head.position,
            0,
        )
        assert projector.state == admin_pb2.SUBSCRIPTION_STATE_ACTIVE
        assert projector.holder  # this instance, through the lease in Redis
        assert (broadcaster.name, broadcaster.has_checkpoint, broadcaster.parked) == (
            "broadcaster",
            False,
            0,
        )


async def test_parked_events_are_listed_and_a_replay_repairs_and_resolves_them(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory
) -> None:
    await publish(esdb, seed_history("g"))
    poison = PoisonEvent(
        stream="integration-g",
        revision=4,
        commit_position=1,
        event_id=str(uuid.uuid4()),
        event_type="rover.v1.Unknown",
        grid_id="g",
        reason="unknown event type",
    )
    await EsdbParkedEvents(esdb).park(ParkedEvent.of(PROJECTOR, poison, 1_000))
    async with query_service() as running, admin_stub(running) as (admin, queries):
        await projected(queries, "g", 7)
        listed = await admin.ListParkedEvents(admin_pb2.ListParkedEventsRequest())
        assert [(p.consumer, p.grid_id, p.revision, p.reason) for p in listed.events] == [
            ("projector", "g", 4, "unknown event type")
        ]
        status = await admin.ListSubscriptions(admin_pb2.ListSubscriptionsRequest())
        assert status.subscriptions[1].parked == 1
        for wrong in (
            admin_pb2.ReplayParkedEventsRequest(),
            admin_pb2.ReplayParkedEventsRequest(ids=["nope"]),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await admin.ReplayParkedEvents(wrong)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        replayed = await admin.ReplayParkedEvents(
            admin_pb2.ReplayParkedEventsRequest(ids=[listed.events[0].id])
        )
        assert [(o.id, o.resolved) for o in replayed.outcomes] == [(listed.events[0].id, True)]
        # the planted record names an event the projector did apply: nothing to replay
        assert replayed.outcomes[0].detail.startswith("already applied: grid g at version 7")
        assert not (await admin.ListParkedEvents(admin_pb2.ListParkedEventsRequest())).events
    stored = await esdb.get_stream(parked_stream(PROJECTOR))
    assert [e.type for e in stored] == [PARKED_EVENT_TYPE, RESOLVED_EVENT_TYPE]


async def _inbox_row(admin: Any) -> admin_pb2.Subscription | None:
    reply = await admin.ListSubscriptions(admin_pb2.ListSubscriptionsRequest())
    rows = [s for s in reply.subscriptions if s.name == INBOX_CONSUMER]
    assert [s.name for s in reply.subscriptions[:3]] == ["publisher", "projector", "broadcaster"]
    return rows[0] if rows else None


async def test_status_lists_the_command_inbox_group_once_it_exists_with_lag_and_parked(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory
) -> None:
    group = "inbox-status-" + uuid.uuid4().hex[:8]
    stream = INBOX_STREAM_PREFIX + uuid.uuid4().hex[:8]
    async with (
        query_service(command_inbox_group=group) as running,
        admin_stub(running) as (
            admin,
            _,
        ),
    ):
        assert await _inbox_row(admin) is None  # the inbox never ran: no row
        await esdb.create_subscription_to_all(
            group,
            filter_include=[INBOX_STREAM_FILTER],
            filter_by_stream_name=True,
            min_checkpoint_count=1,
            max_checkpoint_count=1,
            checkpoint_after=0.1,
        )
        await esdb.append_to_stream(
            stream,
            current_version=StreamState.NO_STREAM,
            events=[NewEvent(type="X", data=b"") for _ in range(3)],
        )
        waiting = await _inbox_row(admin)
        assert waiting is not None
        assert group in waiting.source
        assert waiting.lag_events >= 3  # ours, after any an earlier test queued
        assert waiting.state == admin_pb2.SUBSCRIPTION_STATE_CATCHING_UP
        subscription = await esdb.read_subscription_to_all(group)
        seen = 0
        async for event in subscription:
            if event.stream_name == stream and seen == 0:
                await subscription.nack(event.ack_id, action="park")
            else:
                await subscription.ack(event.ack_id)
            seen += event.stream_name == stream
            if seen == 3:
                break
        row = waiting
        for _ in range(200):  # the group checkpoints and counts its parked message
            row = await _inbox_row(admin) or row
            if row.parked == 1 and row.lag_events == 0 and row.has_checkpoint:
                break
            await asyncio.sleep(0.05)
        await subscription.stop()
        assert (row.parked, row.lag_events, row.has_checkpoint) == (1, 0, True)
        assert row.position > 0
        assert row.state == admin_pb2.SUBSCRIPTION_STATE_DEGRADED
        assert row.holder == ""
