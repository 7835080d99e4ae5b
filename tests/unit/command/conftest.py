"""Fixtures of the command handler tests: the application built through bootstrap, in memory."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.command.adapters.memory import (
    InMemoryCheckpointStore,
    InMemoryEventStore,
    InMemoryIntegrationLog,
    InMemorySnapshotStore,
)
from services.command.bootstrap import Adapters, Application, build_application, in_memory_adapters
from services.command.settings import CommandSettings


class FixedClock:
    """A clock that ticks one second per reading."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))


class CountingIds:
    """Deterministic ids."""

    def __init__(self) -> None:
        self._events = itertools.count(1)
        self._entities = itertools.count(1)

    def event_id(self) -> uuid.UUID:
        return uuid.UUID(int=next(self._events))

    def entity_id(self) -> str:
        return f"generated-{next(self._entities)}"


@dataclass
class World:
    """One application over in-memory adapters, with typed handles on the fakes."""

    app: Application
    adapters: Adapters
    settings: CommandSettings

    @property
    def store(self) -> InMemoryEventStore:
        assert isinstance(self.adapters.events, InMemoryEventStore)
        return self.adapters.events

    @property
    def snapshots(self) -> InMemorySnapshotStore:
        assert isinstance(self.adapters.snapshots, InMemorySnapshotStore)
        return self.adapters.snapshots

    @property
    def integration(self) -> InMemoryIntegrationLog:
        assert isinstance(self.adapters.integration, InMemoryIntegrationLog)
        return self.adapters.integration

    @property
    def checkpoints(self) -> InMemoryCheckpointStore:
        assert isinstance(self.adapters.checkpoints, InMemoryCheckpointStore)
        return self.adapters.checkpoints

    def restarted(self, **overrides: object) -> World:
        """A new application (empty cache) over the same adapters: a service restart."""
        settings = self.settings.model_copy(update=overrides)
        return World(build_application(settings, self.adapters), self.adapters, settings)


def make_world(**overrides: object) -> World:
    settings = CommandSettings(**overrides)  # type: ignore[arg-type]
    adapters = in_memory_adapters(clock=FixedClock(), ids=CountingIds())
    return World(build_application(settings, adapters), adapters, settings)


@pytest.fixture
def world() -> World:
    return make_world()
