"""Browser-style live clients for ``bench_web``: Server-Sent Events (aiohttp-sse-client2).

``sse_watchers_process`` has the arguments and the pipe protocol of the gRPC watchers
(bench/broadcaster/parties.py ``watchers_process``), so ``measure`` runs either: ``count``
``EventSource`` streams of ``GET {url}/live/{grid}``, each on a connection of its own as
separate browsers open them, parsed as the HTML standard says (aiohttp-sse-client2 on
aiohttp, whose HTTP parser is compiled like a browser's; the pure-Python httpx and httpx-sse
cost the client process so much that its own delays were most of what the benchmark measured).
Each event's sequence is its ``id`` (no JSON parsing, as a page that only counts would).
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection

import aiohttp
from aiohttp_sse_client2.client import EventSource

from bench.broadcaster.parties import Updates, run_watchers

__all__ = ["sse_watchers_process"]


class _StreamEndedError(Exception):
    """The stream ended (or could not start): no reconnection."""


def _ended() -> None:
    raise _StreamEndedError


def sse_watchers_process(
    conn: Connection, url: str, _method: str, grids: list[str], _connections: int, count: int
) -> None:
    """Watch every grid with ``count`` SSE streams; report what each received."""
    asyncio.run(_sse_watchers(conn, url, grids, count))


async def _sse_watchers(conn: Connection, url: str, grids: list[str], count: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)  # a connection per stream, as browsers have
    timeout = aiohttp.ClientTimeout(total=None, connect=60.0, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def updates(_index: int, grid_id: str) -> Updates:
            # A stream that ends stays ended: the library would otherwise reconnect with
            # Last-Event-ID, as a browser does, and a stream cut off (a slow reader) would
            # hide behind the replay instead of showing as lost updates.
            try:
                async with EventSource(
                    f"{url}/live/{grid_id}", session=session, on_error=_ended
                ) as source:
                    async for event in source:
                        yield event.type or "message", int(event.last_event_id or 0)
            except _StreamEndedError:
                return

        await run_watchers(conn, grids, count, updates)
