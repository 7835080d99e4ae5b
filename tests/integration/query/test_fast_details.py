"""GetGridDetails: the stored-bytes path and the plain (generated, parsed) path send the same."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import common_pb2, query_pb2
from services.query.grpc.fast_details import StoredDetailsServicer
from services.query.grpc.servicer import QueryServicer
from tests.integration.query.conftest import ServiceFactory, publish
from tests.unit.query.seed import seed_history

_METHOD = "/rover.v1.RoverQueryService/"


async def _raw(port: int, method: str, request: bytes) -> bytes | grpc.StatusCode:
    """One call's response bytes as they came over the wire, or its status code."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        # No (de)serializers: bytes go out and come back as they are on the wire.
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(_METHOD + method)
        try:
            answer: bytes = await call(request, timeout=30)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return answer


def _calls() -> list[tuple[str, bytes]]:
    details = query_pb2.GetGridDetailsRequest
    return [
        ("GetGridDetails", details(grid_id="plateau", min_version=7).SerializeToString()),
        ("GetGridDetails", details(grid_id="empty", min_version=1).SerializeToString()),
        ("GetGridDetails", details(grid_id="nowhere").SerializeToString()),
        ("GetGridDetails", details(grid_id="bad id").SerializeToString()),
        ("ListGrids", query_pb2.ListGridsRequest().SerializeToString()),
        (
            "GetRover",
            query_pb2.GetRoverRequest(grid_id="plateau", rover_id="r1").SerializeToString(),
        ),
    ]


def _spy(monkeypatch: pytest.MonkeyPatch, cls: type[QueryServicer], seen: list[str]) -> None:
    method = cls.__dict__["GetGridDetails"]

    async def spied(self: QueryServicer, request: Any, context: Any) -> Any:
        seen.append(cls.__name__)
        return await method(self, request, context)

    monkeypatch.setattr(cls, "GetGridDetails", spied)


async def test_both_paths_send_the_same_bytes(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    _spy(monkeypatch, QueryServicer, seen)
    _spy(monkeypatch, StoredDetailsServicer, seen)
    await publish(esdb, seed_history("plateau"))
    await publish(esdb, seed_history("empty")[:1])
    answers: dict[bool, list[bytes | grpc.StatusCode]] = {}
    for fast in (True, False):
        async with query_service(fast_details=fast) as running:
            answers[fast] = [await _raw(running.port, m, r) for m, r in _calls()]
    # build(fast_details=) picked the servicer: stored bytes by default, then the plain one.
    assert seen == ["StoredDetailsServicer"] * 4 + ["QueryServicer"] * 4
    assert answers[True] == answers[False]
    plateau = answers[True][0]
    assert isinstance(plateau, bytes)
    assert common_pb2.GridDetails.FromString(plateau).version == 7
    assert answers[True][2:4] == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT]
