"""The ONE table from the admin use cases' errors to gRPC statuses: the query table's rules
first (a read model outage, a malformed or unknown grid), then the admin-only ones."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from domain.errors import GridNotFoundError
from services.common.integration import IntegrationDecodeError
from services.common.rich_errors import ErrorStatus, error_info, precondition_failure
from services.common.status_table import Rule, StatusTable
from services.common.store_errors import StoreUnavailableError
from services.query.application.errors import GapNotHealableError, QueryError
from services.query.application.rebuild_once import RebuildRunningError
from services.query.application.repair import RepairContendedError
from services.query.grpc.errors import QUERY_RULES

__all__ = ["ADMIN_ANSWERED", "ADMIN_STATUS"]

# What an admin call raises to be answered with a status (anything else: INTERNAL).
ADMIN_ANSWERED = (
    QueryError,
    GridNotFoundError,
    StoreUnavailableError,
    GapNotHealableError,
    IntegrationDecodeError,
)


def _retry(seconds: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=Duration(seconds=seconds))


def _unreadable(error: Exception) -> ErrorStatus:
    return ErrorStatus(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"the grid's events in the store cannot be replayed: {error}",
        (
            precondition_failure("STORE_HISTORY", "integration stream", str(error)),
            error_info("STORE_HISTORY_UNREADABLE"),
        ),
    )


ADMIN_STATUS = StatusTable(
    "admin",
    [
        Rule(
            RebuildRunningError,
            lambda e: ErrorStatus(
                grpc.StatusCode.ABORTED,
                str(e),
                (error_info("REBUILD_RUNNING", {"holder": e.holder}), _retry(5)),
            ),
        ),
        Rule(
            RepairContendedError,
            lambda e: ErrorStatus(
                grpc.StatusCode.ABORTED,
                str(e),
                (error_info("GRID_BUSY", {"grid_id": e.grid_id}), _retry(1)),
            ),
        ),
        Rule(
            StoreUnavailableError,
            lambda e: ErrorStatus(
                grpc.StatusCode.UNAVAILABLE,
                f"the event store is unavailable: {e}",
                (error_info("EVENT_STORE_UNAVAILABLE"), _retry(1)),
            ),
        ),
        Rule(GapNotHealableError, _unreadable),
        Rule(IntegrationDecodeError, _unreadable),
        *QUERY_RULES,
    ],
)
