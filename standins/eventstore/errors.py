"""EventStoreDB's error shapes: status code, details text and trailing metadata, exactly.

Clients classify errors by these (esdbclient by status and details, the Node clients by the
``exception`` trailer first), so every refusal the servicers send is built here.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from esdbclient.protos.Grpc import code_pb2, shared_pb2, status_pb2, streams_pb2
from google.protobuf import any_pb2, empty_pb2

from standins.eventstore.versioning import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    StreamDeletedError,
    WrongExpectedVersionError,
)

__all__ = [
    "abort_access_denied",
    "abort_bad_request",
    "abort_delete_wrong_version",
    "abort_invalid_position",
    "abort_max_append_size",
    "abort_missing_metadata",
    "abort_stream_deleted",
    "abort_unauthenticated",
    "append_wrong_version",
    "batch_error",
]

Context = grpc.aio.ServicerContext[Any, Any]
MISSING_TYPE = "type"
_NO_STREAM_U64 = (1 << 64) - 1


async def abort_stream_deleted(context: Context, stream: str) -> NoReturn:
    """FAILED_PRECONDITION ``Event stream '<s>' is deleted.``"""
    await context.abort(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Event stream '{stream}' is deleted.",
        (("exception", "stream-deleted"), ("stream-name", stream)),
    )
    raise AssertionError("unreachable")


async def abort_access_denied(context: Context) -> NoReturn:
    """PERMISSION_DENIED ``Access Denied``: an anonymous caller, or one no ACL grants."""
    await context.abort(
        grpc.StatusCode.PERMISSION_DENIED, "Access Denied", (("exception", "access-denied"),)
    )
    raise AssertionError("unreachable")


async def abort_unauthenticated(context: Context) -> NoReturn:
    """UNAUTHENTICATED: credentials that are malformed, or name no user, or a wrong password."""
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED, "Bad credentials", (("exception", "not-authenticated"),)
    )
    raise AssertionError("unreachable")


async def abort_invalid_position(
    context: Context, *, subscription: bool, filtered: bool
) -> NoReturn:
    """A read of $all from inside a record: a subscription gets INVALID_ARGUMENT, a read ends
    with UNKNOWN naming the storage reader's result (EventStoreDB's unmapped InvalidPosition)."""
    if subscription:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "Trying to read from an invalid position."
        )
    result = "FilteredReadAllResult" if filtered else "ReadAllResult"
    await context.abort(grpc.StatusCode.UNKNOWN, f"Unexpected {result}: InvalidPosition")
    raise AssertionError("unreachable")


async def abort_delete_wrong_version(
    context: Context, error: WrongExpectedVersionError
) -> NoReturn:
    """FAILED_PRECONDITION ``Delete failed due to WrongExpectedVersion...`` (Delete/Tombstone)."""
    await context.abort(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Delete failed due to WrongExpectedVersion. Stream: {error.stream}, "
        f"Expected version: {error.expected}, Actual version: {error.current}",
        (
            ("exception", "wrong-expected-version"),
            ("stream-name", error.stream),
            ("expected-version", str(error.expected)),
            ("actual-version", str(error.current)),
        ),
    )
    raise AssertionError("unreachable")


async def abort_missing_metadata(context: Context, prop: str) -> NoReturn:
    """INVALID_ARGUMENT ``Required Metadata Property '<p>' is missing``."""
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Required Metadata Property '{prop}' is missing",
        (
            ("exception", "missing-required-metadata-property"),
            ("required-metadata-properties", "type,content-type"),
        ),
    )
    raise AssertionError("unreachable")


async def abort_max_append_size(context: Context, limit: int) -> NoReturn:
    """INVALID_ARGUMENT ``Maximum Append Size of <n> Exceeded.``"""
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Maximum Append Size of {limit} Exceeded.",
        (("exception", "maximum-append-size-exceeded"), ("maximum-append-size", str(limit))),
    )
    raise AssertionError("unreachable")


async def abort_bad_request(context: Context, message: str) -> NoReturn:
    """A malformed request: ESDB throws in its handler, which clients see as UNKNOWN."""
    await context.abort(grpc.StatusCode.UNKNOWN, f"Exception was thrown by handler. {message}")
    raise AssertionError("unreachable")


def append_wrong_version(error: WrongExpectedVersionError) -> streams_pb2.AppendResp:
    """The Append response (status OK) for a wrong expected version, new and legacy fields."""
    wev = streams_pb2.AppendResp.WrongExpectedVersion()
    empty = shared_pb2.Empty()
    if error.current >= 0:
        wev.current_revision = error.current
        wev.current_revision_20_6_0 = error.current
    else:
        wev.current_no_stream.CopyFrom(empty)
        wev.no_stream_20_6_0.CopyFrom(empty)
    if error.expected == ANY:
        wev.expected_any.CopyFrom(empty)
        wev.any_20_6_0.CopyFrom(empty)
    elif error.expected == STREAM_EXISTS:
        wev.expected_stream_exists.CopyFrom(empty)
        wev.stream_exists_20_6_0.CopyFrom(empty)
    elif error.expected == NO_STREAM:
        wev.expected_no_stream.CopyFrom(empty)
        wev.expected_revision_20_6_0 = _NO_STREAM_U64
    else:
        wev.expected_revision = error.expected
        wev.expected_revision_20_6_0 = error.expected
    return streams_pb2.AppendResp(wrong_expected_version=wev)


def _status(code: grpc.StatusCode, message: str, detail: Any) -> status_pb2.Status:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return status_pb2.Status(
        code=code_pb2.Code.ValueType(code.value[0]), message=message, details=packed
    )


def batch_error(error: BaseException, *, max_append_size: int = 0) -> status_pb2.Status:
    """The ``error`` Status of a BatchAppend response for a refused or failed write."""
    if isinstance(error, WrongExpectedVersionError):
        empty = empty_pb2.Empty()
        detail = shared_pb2.WrongExpectedVersion()
        if error.current >= 0:
            detail.current_stream_revision = error.current
        else:
            detail.current_no_stream.CopyFrom(empty)
        if error.expected == ANY:
            detail.expected_any.CopyFrom(empty)
        elif error.expected == STREAM_EXISTS:
            detail.expected_stream_exists.CopyFrom(empty)
        elif error.expected == NO_STREAM:
            detail.expected_no_stream.CopyFrom(empty)
        else:
            detail.expected_stream_position = error.expected
        return _status(grpc.StatusCode.ALREADY_EXISTS, "WrongExpectedVersion", detail)
    if isinstance(error, StreamDeletedError):
        deleted = shared_pb2.StreamDeleted(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=error.stream.encode())
        )
        return _status(grpc.StatusCode.NOT_FOUND, "StreamDeleted", deleted)
    if isinstance(error, PermissionError):
        return _status(
            grpc.StatusCode.PERMISSION_DENIED, "Access Denied", shared_pb2.AccessDenied()
        )
    if isinstance(error, TimeoutError):
        return _status(grpc.StatusCode.DEADLINE_EXCEEDED, "Timeout", shared_pb2.Timeout())
    if isinstance(error, OverflowError):
        size = shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=max_append_size)
        return _status(grpc.StatusCode.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", size)
    if isinstance(error, ValueError):
        bad = shared_pb2.BadRequest(message=str(error))
        return _status(grpc.StatusCode.INVALID_ARGUMENT, "BadRequest", bad)
    return _status(grpc.StatusCode.UNKNOWN, "Unknown", shared_pb2.Unknown())
