"""A database written before byte-offset positions (``data/v0.sqlite``) is migrated on open."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent
from esdbclient.exceptions import UnknownError

from standins.eventstore.server import EventStoreServer

pytestmark = pytest.mark.slow
_V0 = Path(__file__).parent / "data" / "v0.sqlite"


@pytest.fixture
def v0_db(tmp_path: Path) -> str:
    path = tmp_path / "v0.sqlite"
    shutil.copyfile(_V0, path)
    with sqlite3.connect(path) as conn:  # what today's code wrote: consecutive positions
        assert conn.execute("SELECT pos FROM events ORDER BY pos").fetchall() == [
            (n,) for n in range(1, 7)
        ]
    return str(path)


async def test_a_v0_database_keeps_its_positions_and_goes_on_with_log_offsets(
    v0_db: str,
) -> None:
    async with EventStoreServer(db_path=v0_db, port=0) as server:
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        try:
            everything = [e async for e in await client.read_all(filter_exclude=[])]
            assert [e.type for e in everything] == ["$metadata", "A", "B", "C", "D", "E"]
            # Positions given out before the upgrade are kept: checkpoints elsewhere name them.
            assert [e.commit_position for e in everything] == list(range(1, 7))
            from_b = await client.read_all(commit_position=3, limit=1)
            assert [e.type async for e in from_b] == ["B"]
            caught_up = await client.subscribe_to_all(commit_position=3)
            assert [(await anext(caught_up)).type for _ in range(2)] == ["C", "D"]
            await caught_up.stop()

            orders = await client.get_stream("orders-1")
            assert [(e.type, e.stream_position) for e in orders] == [("A", 0), ("B", 1), ("C", 2)]
            first = await client.append_to_stream(
                "orders-1", current_version=2, events=[NewEvent(type="F", data=b"{}")]
            )
            second = await client.append_to_stream(
                "orders-1", current_version=3, events=[NewEvent(type="G", data=b"{}")]
            )
            # From here on the log is one of offsets: gaps, and no reading from inside a record.
            assert 6 + 1 < first < second - 1
            with pytest.raises(UnknownError):
                _ = [e async for e in await client.read_all(commit_position=first + 1)]
            tail = await client.read_all(commit_position=6)
            assert [e.type async for e in tail] == ["E", "F", "G"]
        finally:
            await client.close()


async def test_persistent_groups_resume_where_they_were_after_migration(v0_db: str) -> None:
    async with EventStoreServer(db_path=v0_db, port=0) as server:
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        try:
            info = await client.get_subscription_info("g-all")
            assert info.parked_message_count == 1
            on_all = await client.read_subscription_to_all("g-all")
            resumed = await anext(on_all)
            assert (resumed.type, resumed.retry_count) == ("D", 0)  # after the checkpoint at C
            await client.replay_parked_events("g-all")
            parked = [await anext(on_all) for _ in range(2)]
            assert "C" in [e.type for e in parked]
            await on_all.stop()

            on_stream = await client.read_subscription_to_stream("g-stream", "orders-1")
            assert (await anext(on_stream)).type == "B"
            await on_stream.stop()
        finally:
            await client.close()
