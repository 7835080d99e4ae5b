"""The Grid aggregate root: every rule about grids and the rovers on them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import (
    CellHasObstacleError,
    CellOccupiedByRoverError,
    EventHistoryInvalidError,
    InvalidDirectionError,
    InvalidTopologyError,
    PositionOutsideGridError,
    RoverAlreadyExistsError,
    RoverNotFoundError,
    TooManyRoversError,
)
from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
)
from domain.fast_fold import GridFold
from domain.rules import (
    MAX_ROVERS,
    as_position,
    check_obstacles,
    check_size,
    simulate,
)
from domain.snapshot import GridSnapshot
from domain.state import GridState, RoverState
from domain.values import (
    Command,
    Direction,
    GridId,
    Position,
    RoverId,
    Topology,
    parse_commands,
)

# GridState, RoverState and evolve are re-exported: readers look for them beside the aggregate.
__all__ = ["MAX_ROVERS", "CommandOutcome", "Grid"]


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What a rover command did: its new events, the rover after them, the block if any."""

    events: tuple[GridEvent, ...]
    rover: RoverState
    blocked: RoverBlocked | None
    version: int  # the grid's version once these events are stored


class Grid:
    """The aggregate root: one grid, its fixed obstacles and every rover on it.

    It is the consistency boundary for collisions, so every rover command goes through it.
    Command methods check the rules, raise DomainError subclasses on bad requests, and record
    new events with ``_apply``. ``version`` counts the events loaded from the store (GridCreated
    is version 1); ``changes`` holds those recorded since, to be appended by the application.
    """

    __slots__ = ("_changes", "_fold", "_frozen", "_version")

    def __init__(self, fold: GridFold, version: int) -> None:
        self._fold = fold
        self._version = version
        self._changes: list[GridEvent] = []
        self._frozen: GridState | None = None

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        grid_id: GridId | str,
        width: int,
        height: int,
        topology: Topology = Topology.BOUNDED,
        obstacles: Iterable[Position] = (),
    ) -> Grid:
        """A new grid whose only change is GridCreated; nothing is recorded if a rule fails."""
        checked_id = GridId(grid_id)
        checked_width = check_size(width, "width")
        checked_height = check_size(height, "height")
        if not isinstance(topology, Topology):
            raise InvalidTopologyError(
                f"topology must be a Topology, not {topology!r}", field="topology"
            )
        cells = check_obstacles(obstacles, checked_width, checked_height)
        created = GridCreated(
            grid_id=checked_id,
            width=checked_width,
            height=checked_height,
            topology=topology,
            obstacles=cells,
        )
        # The one event _apply cannot take: there is no state to fold it into before it.
        grid = cls(GridFold.start(created), version=0)
        grid._changes.append(created)
        return grid

    @classmethod
    def from_events(cls, events: Iterable[GridEvent]) -> Grid:
        """Rehydrate from the whole history (EventHistoryInvalidError if it cannot be right)."""
        iterator = iter(events)
        first = next(iterator, None)
        if first is None:
            raise EventHistoryInvalidError("a grid's history cannot be empty")
        fold = GridFold.start(first)
        return cls._load(fold, 1, iterator)

    @classmethod
    def from_snapshot(cls, snapshot: GridSnapshot, tail: Iterable[GridEvent] = ()) -> Grid:
        """Rehydrate from a snapshot plus the events stored after it."""
        return cls._load(GridFold(snapshot.state), snapshot.version, iter(tail))

    @classmethod
    def _load(cls, fold: GridFold, version: int, events: Iterable[GridEvent]) -> Grid:
        apply = fold.apply
        count = 0
        for event in events:
            apply(event)
            count += 1
        return cls(fold, version + count)

    # --- reading ---------------------------------------------------------------------------

    @property
    def id(self) -> GridId:
        return self._fold.grid_id

    @property
    def version(self) -> int:
        """Events loaded from the store: the expected version when appending ``changes``."""
        return self._version

    @property
    def current_version(self) -> int:
        """The version once ``changes`` are stored."""
        return self._version + len(self._changes)

    @property
    def changes(self) -> tuple[GridEvent, ...]:
        """Events recorded since loading, oldest first."""
        return tuple(self._changes)

    @property
    def state(self) -> GridState:
        """The current state (including ``changes``), frozen."""
        if self._frozen is None:
            self._frozen = self._fold.freeze()
        return self._frozen

    @property
    def footprint(self) -> int:
        """Its obstacles plus its rovers: what a cache of grids weighs it by."""
        return len(self._fold.obstacles) + len(self._fold.positions)

    def rover(self, rover_id: RoverId) -> RoverState:
        """One rover's state; RoverNotFoundError if the grid has no such rover."""
        fold = self._fold
        position = fold.positions.get(rover_id)
        if position is None:
            raise RoverNotFoundError(fold.grid_id, rover_id)
        return RoverState(rover_id, position, fold.facings[rover_id])

    def snapshot(self) -> GridSnapshot:
        """The state at ``current_version``; take it once the changes are stored."""
        return GridSnapshot(self.state, self.current_version)

    def clear_changes(self) -> tuple[GridEvent, ...]:
        """Hand over the recorded changes once stored; ``version`` moves past them."""
        changes = tuple(self._changes)
        self._version += len(changes)
        self._changes.clear()
        return changes

    # --- commands --------------------------------------------------------------------------

    def create_rover(
        self, rover_id: RoverId | str, position: Position, facing: Direction
    ) -> CommandOutcome:
        """Land a rover on a free cell inside the grid."""
        fold = self._fold
        checked_id = RoverId(rover_id)
        cell = as_position(position, "position")
        if not isinstance(facing, Direction):
            raise InvalidDirectionError(
                f"facing must be a Direction, not {facing!r}", field="facing"
            )
        if checked_id in fold.positions:
            raise RoverAlreadyExistsError(fold.grid_id, checked_id)
        if not 0 <= cell.x < fold.width:
            raise PositionOutsideGridError(
                f"x={cell.x} is outside the grid (0..{fold.width - 1})",
                field="position.x",
                x=cell.x,
                y=cell.y,
            )
        if not 0 <= cell.y < fold.height:
            raise PositionOutsideGridError(
                f"y={cell.y} is outside the grid (0..{fold.height - 1})",
                field="position.y",
                x=cell.x,
                y=cell.y,
            )
        if cell in fold.obstacles:
            raise CellHasObstacleError(cell.x, cell.y)
        occupant = fold.occupancy.get(cell)
        if occupant is not None:
            raise CellOccupiedByRoverError(cell.x, cell.y, occupant)
        if len(fold.positions) >= MAX_ROVERS:
            raise TooManyRoversError(fold.grid_id, MAX_ROVERS)
        event = RoverCreated(
            grid_id=fold.grid_id, rover_id=checked_id, position=cell, facing=facing
        )
        self._apply(event)
        return CommandOutcome((event,), self.rover(checked_id), None, self.current_version)

    def move_forward(self, rover_id: RoverId) -> CommandOutcome:
        """One cell along the rover's facing, or RoverBlocked."""
        return self._run(rover_id, (Command.F,))

    def move_backward(self, rover_id: RoverId) -> CommandOutcome:
        """One cell against the rover's facing, or RoverBlocked."""
        return self._run(rover_id, (Command.B,))

    def turn_left(self, rover_id: RoverId) -> CommandOutcome:
        """Turn 90 degrees counter-clockwise."""
        return self._run(rover_id, (Command.L,))

    def turn_right(self, rover_id: RoverId) -> CommandOutcome:
        """Turn 90 degrees clockwise."""
        return self._run(rover_id, (Command.R,))

    def execute(self, rover_id: RoverId, commands: str | tuple[Command, ...]) -> CommandOutcome:
        """Run a sequence such as ``"LMLMLMLMM"`` (or already parsed); it stops at the first block.

        A text is validated first: a bad character raises InvalidCommandCharacterError and
        records nothing.
        """
        steps = parse_commands(commands) if isinstance(commands, str) else commands
        return self._run(rover_id, steps)

    def _run(self, rover_id: RoverId, commands: tuple[Command, ...]) -> CommandOutcome:
        fold = self._fold
        position = fold.positions.get(rover_id)
        if position is None:
            raise RoverNotFoundError(fold.grid_id, rover_id)
        events = simulate(fold, rover_id, position, fold.facings[rover_id], commands)
        # Events are computed first and applied together: one sequence is one atomic change.
        for event in events:
            self._apply(event)
        last = events[-1]
        blocked = last if isinstance(last, RoverBlocked) else None
        return CommandOutcome(tuple(events), self.rover(rover_id), blocked, self.current_version)

    def _apply(self, event: GridEvent) -> None:
        """Record a new event and fold it into the state."""
        self._fold.apply(event)
        self._changes.append(event)
        self._frozen = None
