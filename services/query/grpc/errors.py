"""The ONE mapping from the query use cases' errors to gRPC statuses with rich details."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from services.common.rich_errors import bad_request, error_info, not_found
from services.query.application.errors import (
    GridNotFoundError,
    InvalidQueryError,
    QueryError,
    ReadModelUnavailableError,
    RoverNotFoundError,
    VersionNotReachedError,
)

__all__ = ["status_for"]


def status_for(error: QueryError) -> tuple[grpc.StatusCode, str, tuple[Message, ...]]:
    """The status code, message and google.rpc details a use-case error is reported as."""
    message = str(error)
    match error:
        case ReadModelUnavailableError():
            return (
                grpc.StatusCode.UNAVAILABLE,
                message,
                (
                    error_info("READ_MODEL_UNAVAILABLE"),
                    error_details_pb2.RetryInfo(retry_delay=Duration(seconds=1)),
                ),
            )
        case InvalidQueryError():
            return (
                grpc.StatusCode.INVALID_ARGUMENT,
                message,
                (bad_request([(error.field, message)]), error_info(error.reason)),
            )
        case RoverNotFoundError():
            return not_found(error.grid_id, error.rover_id)
        case GridNotFoundError():
            return not_found(error.grid_id)
        case VersionNotReachedError():
            metadata = {"wanted": str(error.wanted), "projected": str(error.projected)}
            if error.by_deadline:
                return (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    message,
                    (error_info("MIN_VERSION_NOT_REACHED", metadata),),
                )
            return (
                grpc.StatusCode.UNAVAILABLE,
                message,
                (
                    error_info("MIN_VERSION_NOT_REACHED", metadata),
                    error_details_pb2.RetryInfo(retry_delay=Duration(nanos=100_000_000)),
                ),
            )
    return grpc.StatusCode.INTERNAL, message, ()
