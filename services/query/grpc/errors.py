"""The ONE table from the query use cases' errors to gRPC statuses with rich details."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from domain.errors import GridNotFoundError, RoverNotFoundError
from services.common.rich_errors import ErrorStatus, bad_request, error_info, not_found
from services.common.status_table import Rule, StatusTable
from services.query.application.errors import (
    InvalidQueryError,
    QueryError,
    ReadModelUnavailableError,
    VersionNotReachedError,
)

__all__ = ["ANSWERED", "QUERY_RULES", "STATUS"]

# What a query raises to be answered with a status (anything else is a bug: INTERNAL).
ANSWERED = (QueryError, GridNotFoundError, RoverNotFoundError)


def _version_not_reached(error: VersionNotReachedError) -> ErrorStatus:
    info = error_info(
        "MIN_VERSION_NOT_REACHED", {"wanted": str(error.wanted), "projected": str(error.projected)}
    )
    if error.by_deadline:
        return ErrorStatus(grpc.StatusCode.DEADLINE_EXCEEDED, str(error), (info,))
    retry = error_details_pb2.RetryInfo(retry_delay=Duration(nanos=100_000_000))
    return ErrorStatus(grpc.StatusCode.UNAVAILABLE, str(error), (info, retry))


# The rules of the query service's errors (the admin table starts from them too).
QUERY_RULES: tuple[Rule[Any], ...] = (
    Rule(
        ReadModelUnavailableError,
        lambda e: ErrorStatus(
            grpc.StatusCode.UNAVAILABLE,
            str(e),
            (
                error_info("READ_MODEL_UNAVAILABLE"),
                error_details_pb2.RetryInfo(retry_delay=Duration(seconds=1)),
            ),
        ),
    ),
    Rule(
        InvalidQueryError,
        lambda e: ErrorStatus(
            grpc.StatusCode.INVALID_ARGUMENT,
            str(e),
            (bad_request([(e.field, str(e))]), error_info(e.reason)),
        ),
    ),
    Rule(RoverNotFoundError, lambda e: not_found(e.grid_id, e.rover_id)),
    Rule(GridNotFoundError, lambda e: not_found(e.grid_id)),
    Rule(VersionNotReachedError, _version_not_reached),
)
STATUS = StatusTable("query", QUERY_RULES)
