"""Fixtures of the command handler tests: the application built through bootstrap, in memory."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.command.adapters.memory import (
    CountingIds,
    InMemoryCheckpointStore,
    InMemoryEventStore,
    InMemoryIntegrationLog,
    InMemorySnapshotStore,
    SteppingClock,
)
from services.command.application.ports import Clock, IdGenerator
from services.command.bootstrap import CommandParts, build
from services.command.settings import CommandSettings


@dataclass
class Fakes:
    """In-memory adapters (one ``InMemoryEventStore`` is both the event store and the feed)."""

    store: InMemoryEventStore
    snapshots: InMemorySnapshotStore
    integration: InMemoryIntegrationLog
    checkpoints: InMemoryCheckpointStore
    clock: Clock
    ids: IdGenerator

    def build(self, settings: CommandSettings) -> CommandParts:
        """The application wired over these fakes through the composition root."""
        return build(
            settings,
            events=self.store,
            snapshots=self.snapshots,
            feed=self.store,
            integration=self.integration,
            checkpoints=self.checkpoints,
            clock=self.clock,
            ids=self.ids,
        ).parts


@dataclass
class World:
    """One application over in-memory adapters, with typed handles on the fakes."""

    app: CommandParts
    fakes: Fakes
    settings: CommandSettings

    @property
    def store(self) -> InMemoryEventStore:
        return self.fakes.store

    @property
    def snapshots(self) -> InMemorySnapshotStore:
        return self.fakes.snapshots

    @property
    def integration(self) -> InMemoryIntegrationLog:
        return self.fakes.integration

    @property
    def checkpoints(self) -> InMemoryCheckpointStore:
        return self.fakes.checkpoints

    def restarted(self, **overrides: object) -> World:
        """A new application (empty cache) over the same adapters: a service restart."""
        settings = self.settings.model_copy(update=overrides)
        return World(self.fakes.build(settings), self.fakes, settings)


def make_world(**overrides: object) -> World:
    settings = CommandSettings(**overrides)  # type: ignore[arg-type]
    fakes = Fakes(
        store=InMemoryEventStore(),
        snapshots=InMemorySnapshotStore(),
        integration=InMemoryIntegrationLog(),
        checkpoints=InMemoryCheckpointStore(),
        clock=SteppingClock(),
        ids=CountingIds(),
    )
    return World(fakes.build(settings), fakes, settings)


@pytest.fixture
def world() -> World:
    return make_world()
