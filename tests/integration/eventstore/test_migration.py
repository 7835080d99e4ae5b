"""A database written before byte-offset positions (``data/v0.sqlite``) is migrated on open."""

from __future__ import annotations

import itertools
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


async def test_a_v0_database_opens_with_log_offsets_and_keeps_working(v0_db: str) -> None:
    async with EventStoreServer(db_path=v0_db, port=0) as server:
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        try:
            everything = [e async for e in await client.read_all(filter_exclude=[])]
            assert [e.type for e in everything] == ["$metadata", "A", "B", "C", "D", "E"]
            positions = [e.commit_position or 0 for e in everything]
            assert all(b > a + 1 for a, b in itertools.pairwise(positions))
            c_position = positions[3]
            with pytest.raises(UnknownError):
                _ = [e async for e in await client.read_all(commit_position=c_position + 1)]
            from_b = await client.read_all(commit_position=positions[2], limit=1)
            assert [e.type async for e in from_b] == ["B"]

            orders = await client.get_stream("orders-1")
            assert [(e.type, e.stream_position) for e in orders] == [("A", 0), ("B", 1), ("C", 2)]
            appended = await client.append_to_stream(
                "orders-1", current_version=2, events=[NewEvent(type="F", data=b"{}")]
            )
            assert appended > positions[-1] + 1

            caught_up = await client.subscribe_to_all(commit_position=positions[2])
            assert [(await anext(caught_up)).type for _ in range(2)] == ["C", "D"]
            await caught_up.stop()
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
