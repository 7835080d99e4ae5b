"""GetGridDetails answered with the stored bytes: saves parsing and re-serialising per query.

The read model keeps each grid's GridDetails serialised (adapters/details_codec renders what
``SerializeToString`` would), so the plain servicer's parse and grpc's re-serialisation give
back the same bytes. Here they are sent as stored; every other method is the plain servicer's.
"""

from __future__ import annotations

import grpc

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.common.raw_responses import add_with_raw_responses
from services.query.grpc.servicer import Context, QueryServicer

__all__ = ["StoredDetailsServicer", "add_stored_details_servicer"]


class StoredDetailsServicer(QueryServicer):
    """QueryServicer whose GetGridDetails returns the serialised GridDetails as stored."""

    async def GetGridDetails(  # type: ignore[override]  # noqa: N802 - gRPC method name
        self, request: query_pb2.GetGridDetailsRequest, context: Context
    ) -> bytes:
        """The stored bytes of the grid's GridDetails."""
        return await self.stored_details(request, context)


def add_stored_details_servicer(servicer: StoredDetailsServicer, server: grpc.aio.Server) -> None:
    """The generated registration, with GetGridDetails sending its bytes unserialised."""
    add_with_raw_responses(
        query_pb2_grpc.add_RoverQueryServiceServicer_to_server,
        servicer,
        server,
        {"GetGridDetails"},
    )
