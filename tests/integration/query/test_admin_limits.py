"""The admin API's id lists are counted before any id is parsed or looked up."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from protos.rover.v1 import admin_pb2
from services.common.request_limits import MAX_AUDIT_GRIDS, MAX_REPLAY_IDS
from services.common.rich_errors import details_of
from tests.integration.query.admin_support import admin_stub
from tests.integration.query.conftest import ServiceFactory

pytestmark = pytest.mark.slow


def _reason(error: grpc.aio.AioRpcError) -> str:
    infos = [d for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    return str(infos[0].reason)


async def test_too_many_grid_ids_or_parked_ids_are_refused_by_count(
    query_service: ServiceFactory,
) -> None:
    # Malformed ids: were they parsed first, the answer would name the first bad id instead.
    async with query_service() as running, admin_stub(running) as (admin, _):
        with pytest.raises(grpc.aio.AioRpcError) as audit:
            async for _ in admin.AuditGrids(
                admin_pb2.AuditGridsRequest(grid_ids=["bad id"] * (MAX_AUDIT_GRIDS + 1))
            ):
                pass
        with pytest.raises(grpc.aio.AioRpcError) as replay:
            await admin.ReplayParkedEvents(
                admin_pb2.ReplayParkedEventsRequest(ids=["nope"] * (MAX_REPLAY_IDS + 1))
            )
    for failed in (audit.value, replay.value):
        assert failed.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert _reason(failed) == "TOO_MANY_IDS"
