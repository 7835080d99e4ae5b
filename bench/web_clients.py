"""Browser-style live clients for ``bench_web``: Server-Sent Events over HTTP (httpx-sse).

``sse_watchers_process`` has the arguments and the pipe protocol of the gRPC watchers
(bench/broadcaster/parties.py ``watchers_process``), so ``measure`` runs either: ``count``
streams of ``GET {url}/live/{grid}`` over one connection pool, each event's sequence read
from its SSE ``id`` (no JSON parsing, as a page that only counts would).
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection

import httpx
from httpx_sse import aconnect_sse

from bench.broadcaster.parties import Updates, run_watchers

__all__ = ["sse_watchers_process"]


def sse_watchers_process(
    conn: Connection, url: str, _method: str, grids: list[str], _connections: int, count: int
) -> None:
    """Watch every grid with ``count`` SSE streams; report what each received."""
    asyncio.run(_sse_watchers(conn, url, grids, count))


async def _sse_watchers(conn: Connection, url: str, grids: list[str], count: int) -> None:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    timeout = httpx.Timeout(None, connect=60.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def updates(_index: int, grid_id: str) -> Updates:
            async with aconnect_sse(client, "GET", f"/live/{grid_id}") as source:
                async for event in source.aiter_sse():
                    yield event.event, int(event.id or 0)

        await run_watchers(conn, grids, count, updates)
