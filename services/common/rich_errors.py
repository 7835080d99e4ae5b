"""Rich gRPC errors: a precise status code, a clear message and google.rpc error details.

Servers abort with :func:`abort`; clients and tests read the details back with :func:`details_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, NoReturn

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import tracing

__all__ = [
    "MAX_ERROR_TEXT",
    "ErrorStatus",
    "abort",
    "abort_with_proto",
    "bad_request",
    "details_of",
    "error_info",
    "not_found",
    "precondition_failure",
    "resource_info",
    "status_proto",
]

ERROR_DOMAIN = "rover.v1"
MAX_ERROR_TEXT = 512
"""The most characters of any one text (message, description, metadata value) an error carries."""
_DETAILS_KEY = "grpc-status-details-bin"


class ErrorStatus(NamedTuple):
    """What a failed call answers: a status code, a message and google.rpc details."""

    code: grpc.StatusCode
    message: str
    details: tuple[Message, ...] = ()


def not_found(grid_id: str, rover_id: str | None = None) -> ErrorStatus:
    """THE not-found answer of every service, for a missing grid or a grid's missing rover.

    ErrorInfo (GRID_NOT_FOUND or ROVER_NOT_FOUND) then ResourceInfo named ``grids/{id}`` or
    ``grids/{id}/rovers/{rover}``, so clients read one shape whichever service they asked.
    """
    if rover_id is None:
        message = f"grid {grid_id!r} does not exist"
        reason, resource_type, name = "GRID_NOT_FOUND", "rover.v1.Grid", f"grids/{grid_id}"
        metadata = {"field": "grid_id", "grid_id": grid_id}
    else:
        message = f"grid {grid_id!r} has no rover {rover_id!r}"
        reason, resource_type = "ROVER_NOT_FOUND", "rover.v1.Rover"
        name = f"grids/{grid_id}/rovers/{rover_id}"
        metadata = {"field": "rover_id", "grid_id": grid_id, "rover_id": rover_id}
    return ErrorStatus(
        grpc.StatusCode.NOT_FOUND,
        message,
        (error_info(reason, metadata), resource_info(resource_type, name, message)),
    )


def bad_request(violations: Iterable[tuple[str, str]]) -> error_details_pb2.BadRequest:
    """``BadRequest`` with one field violation per ``(field path, description)``."""
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )


def error_info(
    reason: str, metadata: Mapping[str, str] | None = None
) -> error_details_pb2.ErrorInfo:
    """``ErrorInfo``: a stable UPPER_SNAKE reason a client can switch on."""
    return error_details_pb2.ErrorInfo(
        reason=reason, domain=ERROR_DOMAIN, metadata=dict(metadata or {})
    )


def resource_info(
    resource_type: str, name: str, description: str = ""
) -> error_details_pb2.ResourceInfo:
    """``ResourceInfo`` naming the missing or conflicting resource."""
    return error_details_pb2.ResourceInfo(
        resource_type=resource_type, resource_name=name, description=description
    )


def precondition_failure(
    kind: str, subject: str, description: str
) -> error_details_pb2.PreconditionFailure:
    """``PreconditionFailure`` with a single violation."""
    return error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=kind, subject=subject, description=description
            )
        ]
    )


def _clipped(text: str) -> str:
    if len(text) <= MAX_ERROR_TEXT:
        return text
    return f"{text[:MAX_ERROR_TEXT]}... ({len(text)} characters)"


def _clip_texts(message: Message) -> None:
    """Clip every string of ``message`` (nested, repeated and map values too) in place."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.label == FieldDescriptor.LABEL_REPEATED:
                value[:] = [_clipped(v) for v in value]
            else:
                setattr(message, field.name, _clipped(value))
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key in list(value):
                if isinstance(value[key], str):
                    value[key] = _clipped(value[key])
        elif field.message_type is not None:
            for item in value if field.label == FieldDescriptor.LABEL_REPEATED else [value]:
                _clip_texts(item)


def rich_status(code: grpc.StatusCode, message: str, *details: Message) -> grpc.Status:
    """A ``grpc.Status`` whose trailers carry ``google.rpc.Status`` with the given details.

    Every text is clipped to MAX_ERROR_TEXT characters: an error may echo a client's input, and
    trailers larger than a client's metadata limit (16 KiB by default) would reach it as
    RESOURCE_EXHAUSTED with nothing of the answer.
    """
    status: grpc.Status = rpc_status.to_status(status_proto(code, message, *details))
    return status


def status_proto(code: grpc.StatusCode, message: str, *details: Message) -> status_pb2.Status:
    """The ``google.rpc.Status`` a failed call carries (texts clipped, details packed): what
    :func:`rich_status` sends in trailers, and what a queued command's reply stores."""
    packed = []
    for detail in details:
        clipped = type(detail)()
        clipped.CopyFrom(detail)
        _clip_texts(clipped)
        any_detail = any_pb2.Any()
        any_detail.Pack(clipped)
        packed.append(any_detail)
    return status_pb2.Status(code=code.value[0], message=_clipped(message), details=packed)


async def abort(
    context: grpc.aio.ServicerContext[object, object],
    code: grpc.StatusCode,
    message: str,
    *details: Message,
) -> NoReturn:
    """End the call with a rich status; never returns."""
    tracing.rpc_failed(code.value[0], message)  # the call's span, when tracing
    await context.abort_with_status(rich_status(code, message, *details))
    raise AssertionError("unreachable: abort_with_status raises")  # pragma: no cover


async def abort_with_proto(
    context: grpc.aio.ServicerContext[object, object], proto: status_pb2.Status
) -> NoReturn:
    """End the call with a stored ``google.rpc.Status`` (code, message and details as stored)."""
    tracing.rpc_failed(proto.code, proto.message)
    await context.abort_with_status(rpc_status.to_status(proto))
    raise AssertionError("unreachable: abort_with_status raises")  # pragma: no cover


def details_of(error: grpc.RpcError) -> list[Message]:
    """Unpack the google.rpc details a server attached to ``error`` (sync or asyncio call)."""
    trailers: Any = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    raw: Any = None
    for item in trailers or ():
        if item[0] == _DETAILS_KEY:
            raw = item[1]
    if raw is None:
        return []
    proto = status_pb2.Status.FromString(raw if isinstance(raw, bytes) else raw.encode())
    known: tuple[type[Message], ...] = (
        error_details_pb2.BadRequest,
        error_details_pb2.ErrorInfo,
        error_details_pb2.ResourceInfo,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.RetryInfo,
        error_details_pb2.QuotaFailure,
    )
    out: list[Message] = []
    for any_detail in proto.details:
        for cls in known:
            if any_detail.Is(cls.DESCRIPTOR):
                message = cls()
                any_detail.Unpack(message)
                out.append(message)
    return out
