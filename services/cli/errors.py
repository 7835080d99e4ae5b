"""gRPC errors as one clear line for people, and the ``rover`` CLI's exit codes."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from services.common.rich_errors import details_of

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "describe_rpc_error",
    "exit_code_for",
    "format_details",
    "format_rpc_error",
]

EXIT_OK = 0
EXIT_REJECTED = 1  # the service answered with an error status
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_UNREACHABLE = 3  # no answer: UNAVAILABLE or DEADLINE_EXCEEDED
EXIT_INTERRUPTED = 130  # Ctrl-C

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def format_details(details: Sequence[Message]) -> list[str]:
    """google.rpc details as short phrases: field violations, reasons, resources, retries."""
    parts: list[str] = []
    for detail in details:
        if isinstance(detail, error_details_pb2.BadRequest):
            parts += [f"{v.field}: {v.description}" for v in detail.field_violations]
        elif isinstance(detail, error_details_pb2.PreconditionFailure):
            parts += [f"{v.type} {v.subject}: {v.description}" for v in detail.violations]
        elif isinstance(detail, error_details_pb2.ErrorInfo):
            parts.append(f"reason {detail.reason}")
        elif isinstance(detail, error_details_pb2.ResourceInfo):
            parts.append(f"{detail.resource_type} {detail.resource_name}".strip())
        elif isinstance(detail, error_details_pb2.RetryInfo):
            seconds = detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9
            parts.append(f"retry after {seconds:g}s")
        elif isinstance(detail, error_details_pb2.QuotaFailure):
            parts += [f"{v.subject}: {v.description}" for v in detail.violations]
    return parts


def format_rpc_error(
    code: grpc.StatusCode,
    message: str,
    details: Sequence[Message] = (),
    *,
    target: str = "",
    setting: str = "",
) -> str:
    """One line: ``STATUS: message [detail; detail]`` plus a hint when nothing answered."""
    line = f"{code.name}: {message or '(no message)'}"
    parts = format_details(details)
    if parts:
        line += f" [{'; '.join(parts)}]"
    if code in _UNREACHABLE and target:
        hint = f" (is the system running at {target}? start it with `make run`"
        line += hint + (f", or set {setting})" if setting else ")")
    return line


def describe_rpc_error(error: grpc.RpcError, *, target: str = "", setting: str = "") -> str:
    """:func:`format_rpc_error` for a raised ``grpc.RpcError`` (sync or asyncio call)."""
    call: grpc.Call = error  # type: ignore[assignment]
    code = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
    message = call.details() if hasattr(call, "details") else str(error)
    return format_rpc_error(code, message or "", details_of(error), target=target, setting=setting)


def exit_code_for(code: grpc.StatusCode) -> int:
    """3 when the service could not be reached in time, else 1."""
    return EXIT_UNREACHABLE if code in _UNREACHABLE else EXIT_REJECTED
