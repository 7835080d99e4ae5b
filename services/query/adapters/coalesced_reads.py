"""Read coalescing: concurrent reads of single keys share one batched read of them all.

A speed-up beside ``RedisReadModel``'s plain ``grid_document`` (one script call per request):
calls that arrive while a batch is in flight, or in the same loop tick, wait for the next
batch, which reads each key once. A batch only starts after every call it answers arrived,
so no call is answered with data older than the call (a read after a commit sees it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["ReadCoalescer"]

T = TypeVar("T")


class ReadCoalescer(Generic[T]):
    """``await coalescer.read(key)``: one ``read_many`` call answers every waiting key."""

    def __init__(self, read_many: Callable[[Sequence[str]], Awaitable[Sequence[T]]]) -> None:
        self._read_many = read_many
        self._waiting: dict[str, list[asyncio.Future[T]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def read(self, key: str) -> T:
        """The value of ``key`` as of a read that started after this call."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._reader is None:
            self._reader = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Answer the waiting calls, batch after batch, until none is left."""
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                try:
                    replies = await self._read_many(list(waiting))
                    if len(replies) != len(waiting):
                        raise ValueError(f"{len(waiting)} keys read, {len(replies)} replies")
                except asyncio.CancelledError:
                    for futures in (*waiting.values(), *self._waiting.values()):
                        for future in futures:
                            future.cancel()
                    self._waiting = {}
                    raise
                except Exception as error:  # every caller of this batch gets the error
                    for futures in waiting.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    continue
                for futures, reply in zip(waiting.values(), replies, strict=True):
                    for future in futures:
                        if not future.done():  # a caller cancelled meanwhile
                            future.set_result(reply)
        finally:
            self._reader = None
