"""GridDetails pre-serialised at write time, so a query returns stored bytes as they are.

A serialised protobuf message is the concatenation of its fields, and concatenating two
serialised messages merges them (repeated fields append). A grid's GridDetails is kept as
three parts, each encoded once when it changes:

- the header: fields 1-5 (grid_id, width, height, topology, obstacles), fixed at creation;
- one element per rover: field 6 with its Rover, re-encoded when that rover changes;
- the version: field 7.

``render`` joins them in field order, which is byte for byte what
``GridDetails.SerializeToString()`` produces for the same message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protos.rover.v1 import common_pb2
from services.query.application.ports import GridView, HashUpdate
from services.query.application.projection import parse_obstacle
from services.query.dto import DIRECTIONS, TOPOLOGIES

__all__ = ["DetailsState"]


def _rover_element(rover_id: str, x: int, y: int, facing: str) -> bytes:
    rover = common_pb2.Rover(
        rover_id=rover_id, position=common_pb2.Position(x=x, y=y), facing=DIRECTIONS[facing]
    )
    return common_pb2.GridDetails(rovers=[rover]).SerializeToString()


def _version(version: int) -> bytes:
    return common_pb2.GridDetails(version=version).SerializeToString()


def _header(
    grid_id: str, width: int, height: int, topology: str, obstacles: list[tuple[int, int]]
) -> bytes:
    return common_pb2.GridDetails(
        grid_id=grid_id,
        width=width,
        height=height,
        topology=TOPOLOGIES[topology],
        obstacles=[common_pb2.Position(x=x, y=y) for x, y in sorted(obstacles)],
    ).SerializeToString()


@dataclass(slots=True)
class DetailsState:
    """One grid's GridDetails in encoded parts, folded from the read model's hash updates."""

    version: int = 0
    header: bytes = b""
    rovers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_view(cls, view: GridView) -> DetailsState:
        """The parts of a grid read back from the read model."""
        return cls(
            version=view.version,
            header=_header(
                view.grid_id, view.width, view.height, view.topology, list(view.obstacles)
            ),
            rovers={
                r.rover_id: _rover_element(r.rover_id, r.x, r.y, r.facing) for r in view.rovers
            },
        )

    def copy(self) -> DetailsState:
        """An independent copy (the rover map is copied; the bytes are immutable)."""
        return DetailsState(self.version, self.header, dict(self.rovers))

    def apply(self, update: HashUpdate) -> None:
        """Fold one update (the fields an event sets; see application/projection.py)."""
        if update.new_grid:
            g: Mapping[str, str] = update.grid_fields
            self.header = _header(
                g["grid_id"],
                int(g["width"]),
                int(g["height"]),
                g["topology"],
                [parse_obstacle(m) for m in update.obstacles],
            )
        if update.rover_id:
            r = update.rover_fields
            self.rovers[update.rover_id] = _rover_element(
                update.rover_id, int(r["x"]), int(r["y"]), r["facing"]
            )
        self.version = update.sequence

    def render(self) -> bytes:
        """The serialised GridDetails (rovers ordered by rover_id)."""
        rovers = self.rovers
        return b"".join((self.header, *(rovers[r] for r in sorted(rovers)), _version(self.version)))
