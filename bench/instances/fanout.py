"""bench_broadcaster's parties, kept for the whole run: the appender and the bare fan-out.

The appender (its own process) creates 100 grids in the store once and appends their turns
on request; the bare fan-out (its own process) is the baseline of every round. Each round
watches the broadcaster's shared address with ``measure`` (1,000 watchers, fresh process),
over WATCHER_CONNECTIONS connections of their own, as it watches the bare fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Mapping

from bench.broadcaster.measure import Result, Target
from bench.broadcaster.parties import BARE_METHOD, appender_process, bare_process

__all__ = ["WATCHER_CONNECTIONS", "Fanout", "cpu_by_label"]

WATCHER_CONNECTIONS = 40  # 25 watchers each; SO_REUSEPORT hashes them over the instances
_WATCH_METHOD = "/rover.v1.RoverLiveService/WatchGrid"


class Fanout:
    """The appender and the bare fan-out; :meth:`start` them, :meth:`stop` them."""

    def __init__(self, store_uri: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._to_appender, self._appender_end = context.Pipe()
        self._to_bare, self._bare_end = context.Pipe()
        self._appender = context.Process(
            target=appender_process, args=(self._appender_end, store_uri), daemon=True
        )
        self._bare = context.Process(target=bare_process, args=(self._bare_end,), daemon=True)
        self.grids: list[str] = []
        self.bare: Target | None = None

    @property
    def pids(self) -> dict[str, int]:
        """label -> process id of the appender and the bare fan-out."""
        return {"appender": self._appender.pid or 0, "bare fan-out": self._bare.pid or 0}

    async def start(self) -> None:
        """Start both; return once the grids exist and the bare fan-out listens."""
        loop = asyncio.get_running_loop()
        self._appender.start()
        self._bare.start()
        # The children's ends now: their exit ends our recv (EOFError) instead of hanging it.
        self._appender_end.close()
        self._bare_end.close()
        self.grids = await loop.run_in_executor(None, self._to_appender.recv)
        port, grids = await loop.run_in_executor(None, self._to_bare.recv)
        self.bare = Target(
            "bare fan-out",
            f"127.0.0.1:{port}",
            BARE_METHOD,
            grids,
            self._to_bare,
            self.pids["bare fan-out"],
            connections=WATCHER_CONNECTIONS,
        )

    def broadcaster(self, address: str, first: int, feeders: Mapping[str, int]) -> Target:
        """The broadcaster's instances at ``address`` (``first``'s pid is the "server")."""
        return Target(
            "broadcaster",
            address,
            _WATCH_METHOD,
            self.grids,
            self._to_appender,
            first,
            {**feeders, "appender": self.pids["appender"]},
            connections=WATCHER_CONNECTIONS,
        )

    def stop(self) -> None:
        """Stop both (and terminate them if they do not)."""
        for conn in (self._to_appender, self._to_bare):
            with contextlib.suppress(OSError):
                conn.send(("stop", 0))
        for process in (self._appender, self._bare):
            if process.pid is None:
                continue
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


def cpu_by_label(result: Result, server: str) -> dict[str, float]:
    """A run's CPU seconds by process label: its "server" is ``server``."""
    return {server if party == "server" else party: s for party, s in result.cpu.items()}
