"""The projection, pure: an integration event becomes hash fields; hash fields become views.

``project`` says what one event changes (a ``HashUpdate``); the adapters apply updates to
Redis or to dictionaries alike, and read them back through the ``*_view`` decoders here. The
fields are strings because that is what Redis hashes hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.events import GridCreated, RoverCreated
from domain.state import rover_after
from services.common.envelope import Envelope
from services.query.application.ports import GridSummaryView, GridView, HashUpdate, RoverView

__all__ = [
    "grid_summary",
    "grid_view",
    "obstacle_member",
    "parse_obstacle",
    "project",
    "rover_view",
]


def obstacle_member(x: int, y: int) -> str:
    """An obstacle as a set member: ``"x,y"``."""
    return f"{x},{y}"


def parse_obstacle(member: str) -> tuple[int, int]:
    """Back from ``"x,y"``."""
    x, _, y = member.partition(",")
    return int(x), int(y)


def _ms(envelope: Envelope) -> str:
    return str(int(envelope.occurred_at.timestamp() * 1000))


def project(envelope: Envelope) -> HashUpdate:
    """The fields one event sets; every event sets its grid's ``version``.

    A rover event sets its rover as ``rover_after`` says (and lands it, for RoverCreated).
    """
    event = envelope.event
    grid_fields = {"version": str(envelope.sequence), "updated_at_ms": _ms(envelope)}
    if isinstance(event, GridCreated):
        grid_fields |= {
            "grid_id": str(envelope.grid_id),
            "width": str(event.width),
            "height": str(event.height),
            "topology": event.topology.value,
            "rover_count": "0",
        }
        return HashUpdate(
            grid_id=envelope.grid_id,
            sequence=envelope.sequence,
            grid_fields=grid_fields,
            new_grid=True,
            obstacles=tuple(obstacle_member(p.x, p.y) for p in sorted(event.obstacles)),
        )
    rover = rover_after(event)
    new = isinstance(event, RoverCreated)
    rover_fields = {
        "x": str(rover.position.x),
        "y": str(rover.position.y),
        "facing": rover.facing.value,
        "version": str(envelope.sequence),
    }
    if new:
        rover_fields["rover_id"] = str(rover.rover_id)
    return HashUpdate(
        grid_id=envelope.grid_id,
        sequence=envelope.sequence,
        grid_fields=grid_fields,
        rover_id=str(rover.rover_id),
        rover_fields=rover_fields,
        new_rover=new,
    )


def rover_view(rover_id: str, fields: Mapping[str, str]) -> RoverView:
    """A rover from its hash."""
    return RoverView(
        rover_id=rover_id, x=int(fields["x"]), y=int(fields["y"]), facing=fields["facing"]
    )


def grid_view(
    fields: Mapping[str, str],
    obstacles: Iterable[str],
    rovers: Iterable[tuple[str, Mapping[str, str]]],
) -> GridView:
    """A grid from its hash, its obstacle members and its rovers' hashes (any order)."""
    return GridView(
        grid_id=fields["grid_id"],
        width=int(fields["width"]),
        height=int(fields["height"]),
        topology=fields["topology"],
        obstacles=tuple(sorted(parse_obstacle(m) for m in obstacles)),
        rovers=tuple(sorted((rover_view(r, f) for r, f in rovers), key=lambda v: v.rover_id)),
        version=int(fields["version"]),
    )


def grid_summary(fields: Mapping[str, str]) -> GridSummaryView:
    """A grid's summary from its hash."""
    return GridSummaryView(
        grid_id=fields["grid_id"],
        width=int(fields["width"]),
        height=int(fields["height"]),
        topology=fields["topology"],
        rover_count=int(fields.get("rover_count", "0")),
        version=int(fields["version"]),
    )
