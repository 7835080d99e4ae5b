"""RoverQueryService servicer: parse, call the query use cases, map results and errors."""

from __future__ import annotations

from typing import NoReturn

import grpc

from protos.rover.v1 import common_pb2, query_pb2, query_pb2_grpc
from services.common.rich_errors import abort
from services.query.application.errors import QueryError
from services.query.application.ports import GridSummaryView, GridView, RoverView
from services.query.application.queries import Queries
from services.query.grpc.errors import status_for

__all__ = ["QueryServicer", "grid_details_message"]

_DIRECTIONS = {
    "N": common_pb2.DIRECTION_NORTH,
    "E": common_pb2.DIRECTION_EAST,
    "S": common_pb2.DIRECTION_SOUTH,
    "W": common_pb2.DIRECTION_WEST,
}
_TOPOLOGIES = {"BOUNDED": common_pb2.TOPOLOGY_BOUNDED, "TOROIDAL": common_pb2.TOPOLOGY_TOROIDAL}

Context = grpc.aio.ServicerContext[object, object]


def _rover(view: RoverView) -> common_pb2.Rover:
    return common_pb2.Rover(
        rover_id=view.rover_id,
        position=common_pb2.Position(x=view.x, y=view.y),
        facing=_DIRECTIONS[view.facing],
    )


def grid_details_message(view: GridView) -> common_pb2.GridDetails:
    """The DTO of a grid view."""
    return common_pb2.GridDetails(
        grid_id=view.grid_id,
        width=view.width,
        height=view.height,
        topology=_TOPOLOGIES[view.topology],
        obstacles=[common_pb2.Position(x=x, y=y) for x, y in view.obstacles],
        rovers=[_rover(r) for r in view.rovers],
        version=view.version,
    )


def _summary(view: GridSummaryView) -> query_pb2.GridSummary:
    return query_pb2.GridSummary(
        grid_id=view.grid_id,
        width=view.width,
        height=view.height,
        topology=_TOPOLOGIES[view.topology],
        rover_count=view.rover_count,
        version=view.version,
    )


class QueryServicer(query_pb2_grpc.RoverQueryServiceServicer):
    """The public read API; every error goes through ``status_for``."""

    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    async def GetGridDetails(  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetGridDetailsRequest, context: Context
    ) -> common_pb2.GridDetails:
        try:
            view = await self._queries.grid_details(
                request.grid_id, request.min_version, deadline_seconds=context.time_remaining()
            )
        except QueryError as error:
            await _fail(context, error)
        return grid_details_message(view)

    async def ListGrids(  # noqa: N802 - gRPC method name
        self, request: query_pb2.ListGridsRequest, context: Context
    ) -> query_pb2.ListGridsResponse:
        try:
            page = await self._queries.list_grids(request.page_size, request.page_token)
        except QueryError as error:
            await _fail(context, error)
        return query_pb2.ListGridsResponse(
            grids=[_summary(g) for g in page.grids], next_page_token=page.next_page_token
        )

    async def GetRover(  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetRoverRequest, context: Context
    ) -> query_pb2.GetRoverResponse:
        try:
            rover, version = await self._queries.rover(request.grid_id, request.rover_id)
        except QueryError as error:
            await _fail(context, error)
        return query_pb2.GetRoverResponse(
            rover=_rover(rover), grid_id=request.grid_id, version=version
        )


async def _fail(context: Context, error: QueryError) -> NoReturn:
    code, message, details = status_for(error)
    await abort(context, code, message, *details)
