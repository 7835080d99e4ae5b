"""Helpers of the broadcaster's integration tests: an appender and a watching client."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.adapters.pooled_appends import PooledAppender
from services.common.envelope import Envelope
from services.common.integration_signing import IntegrationKeys
from tests.unit.broadcaster.scripts import GridScript

__all__ = ["SAFETY", "Appender", "Watcher", "new_grid_id"]

SAFETY = 90.0  # a deadline on every call, so that a bug fails a test instead of hanging it


def new_grid_id(prefix: str = "g") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Appender:
    """Appends a command's integration events through the publisher's ``EsdbIntegrationLog``.

    One atomic append per call, as the publisher does; ``close()`` cancels the kept-open
    BatchAppend calls.
    """

    def __init__(
        self, client: AsyncEventStoreDBClient, keys: IntegrationKeys | None = None
    ) -> None:
        self.client = client
        self._appender = PooledAppender(client)
        self._log = EsdbIntegrationLog(client, appender=self._appender, keys=keys)

    async def append(self, envelopes: list[Envelope]) -> None:
        await self._log.append(envelopes[0].grid_id, envelopes)

    def close(self) -> None:
        """Cancel the pooled calls (before closing the client)."""
        self._appender.close()

    async def command(self, script: GridScript, count: int = 1) -> None:
        for _ in range(count):
            await self.append(script.next())


@dataclass
class Watcher:
    """One WatchGrid call and everything it received."""

    target: str
    grid_id: str
    from_version: int | None = None
    updates: list[live_pb2.GridUpdate] = field(default_factory=list)
    error: grpc.aio.AioRpcError | None = None

    def sequences(self, kind: str = "event") -> list[int]:
        return [u.sequence for u in self.updates if u.WhichOneof("update") == kind]

    def event_ids(self) -> list[str]:
        return [u.event.event.event_id for u in self.updates if u.WhichOneof("update") == "event"]

    @property
    def last(self) -> int:
        """The last sequence received (snapshot or event), else the requested from_version."""
        seen = [u.sequence for u in self.updates if u.WhichOneof("update") in ("event", "snapshot")]
        return seen[-1] if seen else (self.from_version or 0)

    async def run(
        self, until: int | Callable[[], int | None], channel: grpc.aio.Channel | None = None
    ) -> Watcher:
        """Read until sequence ``until`` (inclusive) or the end of the stream.

        ``until`` may be a function, for a final version known only later: it is asked after
        every message, heartbeats included (so set a short heartbeat for such watchers).
        """
        own = channel is None
        channel = channel or grpc.aio.insecure_channel(self.target)
        try:
            stub = live_pb2_grpc.RoverLiveServiceStub(channel)
            request = live_pb2.WatchGridRequest(grid_id=self.grid_id)
            if self.from_version is not None:
                request.from_version = self.from_version
            call = stub.WatchGrid(request, timeout=SAFETY)
            last = self.last
            try:
                async for update in call:
                    self.updates.append(update)
                    if update.WhichOneof("update") in ("event", "snapshot"):
                        last = update.sequence
                    final = until() if callable(until) else until
                    if final is not None and last >= final:
                        call.cancel()
                        break
            except grpc.aio.AioRpcError as error:
                self.error = error
        finally:
            if own:
                await channel.close()
        return self
