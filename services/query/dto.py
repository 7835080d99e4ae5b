"""The DTOs of the query service: read-model views as ``rover.v1`` messages.

Shared by the gRPC servicer (replies) and the Redis adapter (GridDetails pre-serialised at
write time), so both produce byte-identical messages.
"""

from __future__ import annotations

from protos.rover.v1 import common_pb2
from services.query.application.ports import GridView, RoverView

__all__ = [
    "DIRECTIONS",
    "TOPOLOGIES",
    "decode_view",
    "encode_view",
    "grid_details_message",
    "rover_message",
]

DIRECTIONS = {
    "N": common_pb2.DIRECTION_NORTH,
    "E": common_pb2.DIRECTION_EAST,
    "S": common_pb2.DIRECTION_SOUTH,
    "W": common_pb2.DIRECTION_WEST,
}
TOPOLOGIES = {"BOUNDED": common_pb2.TOPOLOGY_BOUNDED, "TOROIDAL": common_pb2.TOPOLOGY_TOROIDAL}


def rover_message(view: RoverView) -> common_pb2.Rover:
    """The DTO of a rover view."""
    return common_pb2.Rover(
        rover_id=view.rover_id,
        position=common_pb2.Position(x=view.x, y=view.y),
        facing=DIRECTIONS[view.facing],
    )


def grid_details_message(view: GridView) -> common_pb2.GridDetails:
    """The DTO of a grid view."""
    return common_pb2.GridDetails(
        grid_id=view.grid_id,
        width=view.width,
        height=view.height,
        topology=TOPOLOGIES[view.topology],
        obstacles=[common_pb2.Position(x=x, y=y) for x, y in view.obstacles],
        rovers=[rover_message(r) for r in view.rovers],
        version=view.version,
    )


def encode_view(view: GridView) -> bytes:
    """The serialised GridDetails of a grid view."""
    return grid_details_message(view).SerializeToString()


def decode_view(details: bytes) -> GridView:
    """A serialised GridDetails back as a grid view (the inverse of ``encode_view``)."""
    message = common_pb2.GridDetails.FromString(details)
    facings = {number: letter for letter, number in DIRECTIONS.items()}
    topologies = {number: name for name, number in TOPOLOGIES.items()}
    return GridView(
        grid_id=message.grid_id,
        width=message.width,
        height=message.height,
        topology=topologies.get(message.topology, str(message.topology)),
        obstacles=tuple(sorted((p.x, p.y) for p in message.obstacles)),
        rovers=tuple(
            sorted(
                (
                    RoverView(r.rover_id, r.position.x, r.position.y, facings.get(r.facing, "?"))
                    for r in message.rovers
                ),
                key=lambda v: v.rover_id,
            )
        ),
        version=message.version,
    )
