"""Work on a large grid runs in a worker thread, so that other clients' commands go on.

A grid of the largest size the contract allows (10,000 obstacles) costs tens of milliseconds
of pure Python at each step that copies its obstacles: the request's conversion, the grid's
checks, the idempotency fingerprint, the stored event's JSON (written, then read back by the
publisher), the integration event and the reply. Each such step of a grid with more than
:data:`LARGE_GRID_OBSTACLES` obstacles is handed to a thread. The thread holds the GIL while
it works, but the interpreter hands it to the event loop every switch interval (5 ms), so the
loop keeps answering small commands meanwhile instead of stalling for the whole step
(``python -m bench large_grids``). Small grids stay on the loop: a thread hop costs more
than their work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

__all__ = ["LARGE_EVENT_BYTES", "LARGE_GRID_OBSTACLES", "is_large", "off_loop"]

LARGE_GRID_OBSTACLES: Final = 500
"""More obstacles than this: a grid's heavy steps run in a worker thread (see the module)."""

LARGE_EVENT_BYTES: Final = LARGE_GRID_OBSTACLES * 16
"""A stored event at least this long is decoded in a worker thread: an obstacle takes about
16 bytes of its JSON, so this is about a grid of :data:`LARGE_GRID_OBSTACLES` obstacles."""

T = TypeVar("T")


def is_large(items: Iterable[object]) -> bool:
    """Whether any of ``items`` (commands, domain events) carries a large grid's obstacles."""
    return any(len(getattr(item, "obstacles", ())) > LARGE_GRID_OBSTACLES for item in items)


async def off_loop(work: Callable[[], T], *, large: bool) -> T:
    """``work()``: in a worker thread when ``large``, else here and now."""
    if large:
        return await asyncio.to_thread(work)
    return work()
