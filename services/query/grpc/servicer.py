"""RoverQueryService servicer: parse, call the query use cases, map results and errors."""

from __future__ import annotations

from typing import Any

import grpc

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.query.application.errors import QueryError
from services.query.application.ports import GridSummaryView
from services.query.application.queries import Queries
from services.query.dto import TOPOLOGIES, rover_message
from services.query.grpc.errors import STATUS

__all__ = ["QueryServicer", "add_query_servicer"]

Context = grpc.aio.ServicerContext[object, object]
_SERVICE = "rover.v1.RoverQueryService"


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
    """The public read API (``rover.v1.RoverQueryService``, registered by
    ``add_query_servicer``); every error goes through the ``STATUS`` table."""

    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    # Answers bytes, not a GridDetails: the read model stores it serialised (add_query_servicer).
    async def GetGridDetails(  # type: ignore[override]  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetGridDetailsRequest, context: Context
    ) -> bytes:
        """The stored, already serialised GridDetails (see ``add_query_servicer``)."""
        try:
            found = await self._queries.grid_details(
                request.grid_id,
                request.min_version,
                deadline_seconds=context.time_remaining() if request.min_version else None,
            )
        except QueryError as error:
            await STATUS.abort(context, error)
        return found.details

    async def ListGrids(  # noqa: N802 - gRPC method name
        self, request: query_pb2.ListGridsRequest, context: Context
    ) -> query_pb2.ListGridsResponse:
        try:
            page = await self._queries.list_grids(request.page_size, request.page_token)
        except QueryError as error:
            await STATUS.abort(context, error)
        return query_pb2.ListGridsResponse(
            grids=[_summary(g) for g in page.grids], next_page_token=page.next_page_token
        )

    async def GetRover(  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetRoverRequest, context: Context
    ) -> query_pb2.GetRoverResponse:
        try:
            rover, version = await self._queries.rover(request.grid_id, request.rover_id)
        except QueryError as error:
            await STATUS.abort(context, error)
        return query_pb2.GetRoverResponse(
            rover=rover_message(rover), grid_id=request.grid_id, version=version
        )


def _passthrough(details: bytes) -> bytes:
    return details


def add_query_servicer(servicer: QueryServicer, server: grpc.aio.Server) -> None:
    """Register the servicer as the generated ``add_RoverQueryServiceServicer_to_server`` does,
    except that GetGridDetails answers with bytes that already are a serialised GridDetails
    (the read model stores them so): nothing is parsed or re-serialised per query."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "GetGridDetails": grpc.unary_unary_rpc_method_handler(
            servicer.GetGridDetails,
            request_deserializer=query_pb2.GetGridDetailsRequest.FromString,
            response_serializer=_passthrough,
        ),
        "ListGrids": grpc.unary_unary_rpc_method_handler(
            servicer.ListGrids,
            request_deserializer=query_pb2.ListGridsRequest.FromString,
            response_serializer=query_pb2.ListGridsResponse.SerializeToString,
        ),
        "GetRover": grpc.unary_unary_rpc_method_handler(
            servicer.GetRover,
            request_deserializer=query_pb2.GetRoverRequest.FromString,
            response_serializer=query_pb2.GetRoverResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    server.add_registered_method_handlers(_SERVICE, handlers)
