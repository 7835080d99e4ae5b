"""The RequestLog port's contract, run on InMemoryRequestLog and EsdbRequestLog.

The publisher records each request (once or, after a replay, again; split over two batches,
in two parts) before it publishes the request's events; a lookup finds the whole request, or
nothing, and the published sequence says how far the log is complete.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.adapters.esdb_requests import EsdbRequestLog
from services.command.adapters.memory import InMemoryIntegrationLog, InMemoryRequestLog
from services.command.application.ports import IntegrationLog, RequestRecord
from services.command.application.request_log import LoggedRequest, RequestLog
from tests.unit.query.seed import rover_walk

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "esdb"])
def logs(request: pytest.FixtureRequest) -> tuple[RequestLog, IntegrationLog]:
    if request.param == "memory":
        integration = InMemoryIntegrationLog()
        return InMemoryRequestLog(integration), integration
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    appender = request.getfixturevalue("appender")
    published = EsdbIntegrationLog(esdb, timeout=5.0, appender=appender)
    log = EsdbRequestLog(esdb, published, timedelta(hours=24), appender=appender)
    return log, published


def logged(request_id: str, first: int, last: int, at: datetime = AT) -> LoggedRequest:
    return LoggedRequest(RequestRecord(request_id, "MoveRoverForward", "fp", first, last), at)


async def test_a_request_not_logged_is_not_found(logs: tuple[RequestLog, IntegrationLog]) -> None:
    log, _ = logs
    assert await log.find("g", "never") is None
    assert await log.published("g") == 0


async def test_a_logged_request_is_found_in_its_grid_only(
    logs: tuple[RequestLog, IntegrationLog],
) -> None:
    log, _ = logs
    await log.record("g", [logged("a", 3, 5), logged("b", 6, 6)])
    await log.record("g", [logged("a", 3, 5)])  # a replay writes it again: harmless
    assert await log.find("g", "a") == logged("a", 3, 5)
    assert await log.find("g", "b") == logged("b", 6, 6)
    assert await log.find("other", "a") is None


async def test_a_request_recorded_in_two_parts_is_found_whole(
    logs: tuple[RequestLog, IntegrationLog],
) -> None:
    log, _ = logs
    later = AT + timedelta(seconds=1)
    await log.record("g", [logged("split", 7, 8)])
    await log.record("g", [logged("split", 9, 10, later)])
    assert await log.find("g", "split") == logged("split", 7, 10)


async def test_the_published_sequence_is_the_integration_streams(
    logs: tuple[RequestLog, IntegrationLog],
) -> None:
    log, integration = logs
    await integration.append("g", rover_walk("g", 1, 3)[:4])
    assert await log.published("g") == 4
