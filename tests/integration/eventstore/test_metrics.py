"""The event store stand-in's /metrics over HTTP: appends, reads, subscriptions, fsync, RPCs."""

from __future__ import annotations

from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import WrongCurrentVersion

from standins.eventstore.server import EventStoreServer, ServerStartError
from tests.support.metrics import scrape, scrape_until

STREAMS = "event_store.client.streams.Streams"


def event() -> NewEvent:
    return NewEvent(type="Happened", data=b"{}")


async def test_appends_reads_subscriptions_and_fsyncs_move_their_metrics(tmp_path: Path) -> None:
    server = EventStoreServer(
        db_path=str(tmp_path / "store.sqlite"), port=0, metrics_address="127.0.0.1:0"
    )
    async with server:
        url = server.metrics.url
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        try:
            before = await scrape(url)
            await client.append_to_stream(
                "metrics-1", current_version=StreamState.NO_STREAM, events=[event(), event()]
            )
            with pytest.raises(WrongCurrentVersion):
                await client.append_to_stream(
                    "metrics-1", current_version=StreamState.NO_STREAM, events=[event()]
                )
            written = await scrape(url)
            assert written.value("eventstore_appends_total", result="success") == 1
            assert written.value("eventstore_appends_total", result="wrong_expected_version") == 1
            assert written.value("eventstore_appended_events_total") == 2
            assert written.value("eventstore_fsync_seconds_count") > before.value(
                "eventstore_fsync_seconds_count"
            )
            assert written.value("eventstore_fsync_seconds_sum") > 0
            # esdbclient appends over BatchAppend (bidi), one call or a kept-open one.
            assert (
                written.value(
                    "grpc_server_started_total",
                    grpc_type="bidi_stream",
                    grpc_service=STREAMS,
                    grpc_method="BatchAppend",
                )
                >= 1
            )

            assert len(await client.get_stream("metrics-1")) == 2
            async with await client.read_all() as events:
                assert [e async for e in events]
            read = await scrape(url)
            assert read.value("eventstore_reads_total", kind="stream") >= 1
            assert read.value("eventstore_reads_total", kind="all") >= 1
            assert (
                read.value(
                    "grpc_server_handled_total",
                    grpc_type="server_stream",
                    grpc_service=STREAMS,
                    grpc_method="Read",
                    grpc_code="OK",
                )
                >= 2
            )

            catch_up = await client.subscribe_to_all()
            await scrape_until(
                url, lambda s: s.value("eventstore_subscriptions", kind="catch-up") == 1
            )
            await client.create_subscription_to_stream("group", "metrics-1")
            persistent = await client.read_subscription_to_stream("group", "metrics-1")
            await scrape_until(
                url, lambda s: s.value("eventstore_subscriptions", kind="persistent") == 1
            )
            await catch_up.stop()
            await persistent.stop()
            closed = await scrape_until(
                url,
                lambda s: (
                    s.value("eventstore_subscriptions", kind="catch-up") == 0
                    and s.value("eventstore_subscriptions", kind="persistent") == 0
                ),
            )
            assert closed.family_type("eventstore_subscriptions") == "gauge"
            assert closed.family_type("eventstore_fsync_seconds") == "histogram"
        finally:
            await client.close()


async def test_a_busy_metrics_port_fails_the_start_naming_the_setting() -> None:
    async with EventStoreServer(port=0, metrics_address="127.0.0.1:0") as first:
        taken = f"127.0.0.1:{first.metrics.port}"
        second = EventStoreServer(port=0, metrics_address=taken)
        with pytest.raises(ServerStartError, match=f"ROVER_EVENTSTORE_METRICS_ADDRESS={taken}"):
            await second.start()
