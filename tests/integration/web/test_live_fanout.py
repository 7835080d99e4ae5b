"""Many pages of one grid share one WatchGrid call from the web process (services/web/fanout.py):
every page still gets every update in order, resumes with no gap, is cut off alone when it
reads too slowly, and needs a token the broadcaster accepts when auth is on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.integration.web.conftest import StartSystem
from tests.integration.web.raw import read_until, unread_stream
from tests.integration.web.system import WebSystem
from tests.support.auth import AUTH

pytestmark = pytest.mark.slow

COMMAND = "/api/rover.v1.RoverCommandService"
Received = list[tuple[str, int]]


async def command(client: httpx.AsyncClient, method: str, body: Any, token: str = "") -> None:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    reply = await client.post(f"{COMMAND}/{method}", content=json.dumps(body), headers=headers)
    assert reply.status_code == 200, reply.text


async def landed(client: httpx.AsyncClient, grid_id: str, token: str = "") -> None:
    """A grid with one rover: versions 1 and 2."""
    await command(client, "CreateGrid", {"gridId": grid_id, "width": 5, "height": 5}, token)
    rover = {"gridId": grid_id, "roverId": "r0", "position": {"x": 0, "y": 0}}
    await command(client, "CreateRover", {**rover, "facing": "DIRECTION_NORTH"}, token)


async def drive(client: httpx.AsyncClient, grid_id: str, turns: int, token: str = "") -> None:
    body = {"gridId": grid_id, "roverId": "r0", "commands": "L" * turns}
    await command(client, "ExecuteRoverCommands", body, token)


async def receive(
    client: httpx.AsyncClient,
    path: str,
    until: int | list[int],
    token: str = "",
    out: Received | None = None,
    last_event_id: str = "",
) -> Received:
    """Every (event, id) of a stream until the event ``until`` (or ``until[0]``, which may
    change while it reads) or an error."""
    target = until if isinstance(until, list) else [until]
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    out = [] if out is None else out
    async with aconnect_sse(client, "GET", path, headers=headers) as source:
        async for event in source.aiter_sse():
            out.append((event.event, int(event.id) if event.id else -1))
            if event.event == "error" or (
                event.event in ("snapshot", "event") and out[-1][1] >= target[0]
            ):
                break
    return out


async def published(client: httpx.AsyncClient, grid_id: str, token: str = "") -> None:
    """Until the broadcaster knows the grid (acknowledged is not yet published)."""
    for _ in range(200):
        if (await receive(client, f"/live/{grid_id}", 0, token))[0][0] == "snapshot":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{grid_id} never published")


async def members(system: WebSystem, grid_id: str, count: int) -> None:
    """Until ``count`` pages follow the grid's shared call."""
    assert system.web is not None
    for _ in range(500):
        if system.web.backends.hubs.members(grid_id) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{system.web.backends.hubs.members(grid_id)} members, not {count}")


def events(first: int, last: int) -> Received:
    return [("event", sequence) for sequence in range(first, last + 1)]


async def test_many_pages_of_one_grid_get_every_update_in_order_over_one_call(
    start_system: StartSystem,
) -> None:
    system = await start_system()
    assert system.live is not None
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        await landed(client, "tharsis")
        await published(client, "tharsis")
        pages = [asyncio.create_task(receive(client, "/live/tharsis", 42)) for _ in range(20)]
        await members(system, "tharsis", 20)
        assert system.live.parts.hub.watcher_count == 1  # the shared call; each own one ended
        await drive(client, "tharsis", 40)
        for received in await asyncio.gather(*pages):
            assert received == [("snapshot", 2), *events(3, 42)]


async def test_a_page_resuming_from_an_old_version_gets_no_gap(
    start_system: StartSystem,
) -> None:
    system = await start_system()
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        await landed(client, "utopia")
        await published(client, "utopia")
        first = asyncio.create_task(receive(client, "/live/utopia", 22))
        await members(system, "utopia", 1)  # the shared call runs from version 2
        await drive(client, "utopia", 10)  # 3..12: in the shared call's replay
        replayed = asyncio.create_task(receive(client, "/live/utopia?from_version=5", 22))
        older = asyncio.create_task(
            receive(client, "/live/utopia", 22, last_event_id="0")
        )  # before the shared call began: its own call until it catches up
        await members(system, "utopia", 3)
        await drive(client, "utopia", 10)  # 13..22
        assert await first == [("snapshot", 2), *events(3, 22)]
        assert await replayed == events(6, 22)
        assert await older == events(1, 22)


async def test_a_slow_page_is_cut_off_and_the_others_get_everything(
    start_system: StartSystem,
) -> None:
    system = await start_system()
    assert system.web is not None
    assert system.live is not None
    system.web.backends.hubs.queue_size = 8
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        await landed(client, "hellas")
        await published(client, "hellas")
        slow = unread_stream(system.url, "/live/hellas")
        await members(system, "hellas", 1)
        until = [1 << 60]
        seen: Received = []
        fast = asyncio.create_task(receive(client, "/live/hellas?from_version=2", until, out=seen))
        await drive(client, "hellas", 1)  # its own call's first message lets it join
        last = 3
        await members(system, "hellas", 2)
        for _ in range(30):  # batches until the slow page is dropped: the sockets hold a lot
            await drive(client, "hellas", 1000)
            last += 1000
            for _ in range(1500):  # until published to every member
                if seen and seen[-1][1] >= last:
                    break
                await asyncio.sleep(0.02)
            if system.web.backends.hubs.members("hellas") == 1:
                break
        assert system.web.backends.hubs.members("hellas") == 1
        assert system.live.parts.hub.watcher_count == 1  # the shared call goes on
        until[0] = last + 1
        await drive(client, "hellas", 1)
        assert await fast == events(3, last + 1)

        frames = (await read_until(slow, b"WATCHER_FELL_BEHIND")).split("\r\n\r\n", 1)[1]
        ids = [int(line[4:]) for line in frames.split("\n") if line.startswith("id: ")]
        assert "event: resume" in frames
        assert "WATCHER_FELL_BEHIND" in frames
        assert ids == [*range(2, ids[-2] + 1), ids[-2]]  # resume from the last one sent


async def test_with_auth_on_each_page_needs_a_token_the_broadcaster_accepts(
    start_system: StartSystem,
) -> None:
    system = await start_system(auth=AUTH)
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        await landed(client, "arcadia", "operator-token")
        await published(client, "arcadia", "viewer-token")
        viewer = asyncio.create_task(receive(client, "/live/arcadia", 5, "viewer-token"))
        await members(system, "arcadia", 1)  # the shared call, opened with the viewer's token
        for token in ("", "no-such-token"):
            for path in ("/live/arcadia", "/live/arcadia?from_version=2"):
                refused = await receive(client, path, 5, token)
                assert refused[0][0] == "error", (token, path)
                assert len(refused) == 1
        await members(system, "arcadia", 1)
        await drive(client, "arcadia", 3, "operator-token")
        assert await viewer == [("snapshot", 2), *events(3, 5)]
