"""RoverQueryService servicer: parse, call the query use cases, map results and errors."""

from __future__ import annotations

import grpc

from protos.rover.v1 import common_pb2, query_pb2, query_pb2_grpc
from services.query.application.ports import GridSummaryView
from services.query.application.queries import Queries
from services.query.dto import TOPOLOGIES, rover_message
from services.query.grpc.errors import ANSWERED, STATUS

__all__ = ["Context", "QueryServicer"]

Context = grpc.aio.ServicerContext[object, object]


def _summary(view: GridSummaryView) -> query_pb2.GridSummary:
    return query_pb2.GridSummary(
        grid_id=view.grid_id,
        width=view.width,
        height=view.height,
        topology=TOPOLOGIES[view.topology],
        rover_count=view.rover_count,
        version=view.version,
    )


class QueryServicer(query_pb2_grpc.RoverQueryServiceServicer):
    """The public read API (``rover.v1.RoverQueryService``); every error goes through the
    ``STATUS`` table. Registered by the generated ``add_RoverQueryServiceServicer_to_server``;
    ``fast_details`` answers GetGridDetails with the stored bytes instead."""

    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    async def GetGridDetails(  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetGridDetailsRequest, context: Context
    ) -> common_pb2.GridDetails:
        """The grid's details (the read model keeps them serialised; parsed here)."""
        return common_pb2.GridDetails.FromString(await self.stored_details(request, context))

    async def stored_details(
        self, request: query_pb2.GetGridDetailsRequest, context: Context
    ) -> bytes:
        """The serialised GridDetails the read model holds; errors go through ``STATUS``."""
        try:
            found = await self._queries.grid_details(
                request.grid_id,
                request.min_version,
                deadline_seconds=context.time_remaining() if request.min_version else None,
            )
        except ANSWERED as error:
            await STATUS.abort(context, error)
        return found.details

    async def ListGrids(  # noqa: N802 - gRPC method name
        self, request: query_pb2.ListGridsRequest, context: Context
    ) -> query_pb2.ListGridsResponse:
        try:
            page = await self._queries.list_grids(request.page_size, request.page_token)
        except ANSWERED as error:
            await STATUS.abort(context, error)
        return query_pb2.ListGridsResponse(
            grids=[_summary(g) for g in page.grids], next_page_token=page.next_page_token
        )

    async def GetRover(  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetRoverRequest, context: Context
    ) -> query_pb2.GetRoverResponse:
        try:
            rover, version = await self._queries.rover(request.grid_id, request.rover_id)
        except ANSWERED as error:
            await STATUS.abort(context, error)
        return query_pb2.GetRoverResponse(
            rover=rover_message(rover), grid_id=request.grid_id, version=version
        )
