"""Grid snapshots: a GridState and its version to and from plain JSON-able data."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from domain.errors import DomainError, SnapshotCorruptError, SnapshotSchemaUnsupportedError
from domain.state import GridState, RoverState
from domain.values import Direction, GridId, Position, RoverId, Topology

__all__ = ["SNAPSHOT_SCHEMA", "GridSnapshot"]

# Bump on any change to the shape below; older snapshots are then refused and callers rebuild
# from the events, which stay the source of truth.
SNAPSHOT_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class GridSnapshot:
    """A grid's state as of ``version`` (the number of events it folds)."""

    state: GridState
    version: int

    def to_data(self) -> dict[str, Any]:
        """Plain dicts, lists, strings and ints, ready for ``json.dumps``."""
        state = self.state
        return {
            "schema": SNAPSHOT_SCHEMA,
            "version": self.version,
            "grid_id": str(state.grid_id),
            "width": state.width,
            "height": state.height,
            "topology": state.topology.value,
            # Sorted so that equal states give byte-identical snapshots.
            "obstacles": [[p.x, p.y] for p in sorted(state.obstacles)],
            "rovers": [
                [str(r.rover_id), r.position.x, r.position.y, r.facing.value]
                for r in state.rovers.values()
            ],
        }

    @classmethod
    def from_data(cls, data: object) -> GridSnapshot:
        """Parse ``to_data``'s output.

        SnapshotSchemaUnsupportedError for another schema version and SnapshotCorruptError for
        malformed data; both are SnapshotUnusableError, the caller's cue to replay instead.
        """
        if not isinstance(data, dict):
            raise SnapshotCorruptError(f"a snapshot must be an object, not {type(data).__name__}")
        schema = data.get("schema")
        if schema != SNAPSHOT_SCHEMA or isinstance(schema, bool):
            raise SnapshotSchemaUnsupportedError(schema, SNAPSHOT_SCHEMA)
        try:
            return cls._parse(data)
        except (KeyError, TypeError, ValueError, DomainError) as error:
            raise SnapshotCorruptError(f"malformed snapshot: {error!r}") from error

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> GridSnapshot:
        version = _int(data["version"])
        width, height = _int(data["width"]), _int(data["height"])
        obstacles = frozenset(Position(_int(x), _int(y)) for x, y in data["obstacles"])
        rovers: dict[RoverId, RoverState] = {}
        occupancy: dict[Position, RoverId] = {}
        for rover_id, x, y, facing in data["rovers"]:
            rid = RoverId(rover_id)
            position = Position(_int(x), _int(y))
            if rid in rovers or position in occupancy:
                raise ValueError(f"rover {rid!r} or its cell {position} appears twice")
            rovers[rid] = RoverState(rid, position, Direction(facing))
            occupancy[position] = rid
        state = GridState(
            GridId(data["grid_id"]),
            width,
            height,
            Topology(data["topology"]),
            obstacles,
            MappingProxyType(rovers),
            MappingProxyType(occupancy),
        )
        if version < 1:
            raise ValueError(f"version {version} is before the grid existed")
        return cls(state, version)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
