"""The whole system in this test's loop, with the web front-end on a free port.

Command, query and broadcaster services are the real ones, built by their ``bootstrap``, on
the embedded event store and a private redis-server; the web app forwards to them over real
gRPC on loopback. The broadcaster can be restarted on the same address (``restart_live``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.broadcaster.bootstrap import BroadcasterApp
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.app import App
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings
from services.web.bootstrap import WebApp
from services.web.bootstrap import build as build_web
from services.web.settings import WebSettings

__all__ = ["WebSystem"]

_COMMON: dict[str, Any] = {"shutdown_grace_seconds": 0.5, "log_level": "WARNING"}


@dataclass
class WebSystem:
    """Every service of the system and the web app, started in order, stopped in reverse."""

    eventstore_uri: str
    redis_url: str
    auth: dict[str, Any] = field(default_factory=dict)
    broadcaster_overrides: dict[str, Any] = field(default_factory=dict)
    apps: list[App[Any]] = field(default_factory=list)
    live: BroadcasterApp | None = None
    web: WebApp | None = None

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    async def start(self) -> WebSystem:
        command = build_command(
            CommandSettings(
                command_address="127.0.0.1:0",
                eventstore_uri=self.eventstore_uri,
                **self.auth,
                **_COMMON,
            )
        )
        await command.start()
        self.apps.append(command)
        query = build_query(
            QuerySettings(
                query_address="127.0.0.1:0",
                eventstore_uri=self.eventstore_uri,
                redis_url=self.redis_url,
                **self.auth,
                **_COMMON,
            )
        )
        await query.start()
        self.apps.append(query)
        self.live = await self._start_live("127.0.0.1:0")
        self.web = build_web(
            WebSettings(
                web_address="127.0.0.1:0",
                command_address=command.address,
                query_address=query.address,
                broadcaster_address=self.live.address,
                **_COMMON,
            )
        )
        await self.web.start()
        return self

    async def _start_live(self, address: str) -> BroadcasterApp:
        live = build_broadcaster(
            BroadcasterSettings(
                broadcaster_address=address,
                eventstore_uri=self.eventstore_uri,
                **self.auth,
                **{**_COMMON, **self.broadcaster_overrides},
            )
        )
        await live.start()
        await live.parts.hub.wait_live()
        return live

    async def stop_live(self) -> str:
        """Stop the broadcaster (its streams end UNAVAILABLE); its address, for a restart."""
        assert self.live is not None
        address = self.live.address
        await self.live.stop(grace=0.5)
        self.live = None
        return address

    async def restart_live(self, address: str) -> None:
        """A new broadcaster process's worth of state on the same address."""
        self.live = await self._start_live(address)

    async def stop(self) -> None:
        if self.web is not None:
            await self.web.stop(grace=0.5)
        if self.live is not None:
            await self.live.stop(grace=0.5)
        for app in reversed(self.apps):
            await app.stop(grace=0.5)
