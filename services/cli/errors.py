"""gRPC errors as one line for people, the same whatever the service; the CLI's exit codes."""

from __future__ import annotations

import re
from collections.abc import Sequence

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from services.common.rich_errors import details_of

__all__ = [
    "EXIT_FOUND_PROBLEMS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "describe_rpc_error",
    "exit_code_for",
    "format_rpc_error",
]

EXIT_OK = 0
EXIT_REJECTED = 1  # the service answered with an error status
EXIT_USAGE = 2  # bad command line or ROVER_* value (argparse's own code)
EXIT_UNREACHABLE = 3  # no answer: UNAVAILABLE or DEADLINE_EXCEEDED, or watch gave up
EXIT_FOUND_PROBLEMS = 4  # admin audit found drift; admin parked replay left events parked
EXIT_INTERRUPTED = 130  # Ctrl-C

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

# The one order details are printed in, whatever order the service packed them in.
_ORDER: tuple[type[Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
)


def _new(text: str, message: str) -> bool:
    """Whether ``text`` says something the line (``message``) does not already say."""
    return bool(text.strip()) and text.strip() not in message


def _word_in(value: str, text: str) -> bool:
    """Whether ``value`` is a whole word of ``text`` (``a.b`` in ``field a.b``, not in ``a.bc``)."""
    return re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", text) is not None


def _phrases(detail: Message, message: str, details: str) -> list[str]:
    """``detail`` as phrases; ``message`` is the status message, ``details`` the phrases so far."""
    if isinstance(detail, error_details_pb2.BadRequest):
        return [
            f"{v.field}: {v.description}" if _new(v.description, message) else f"field {v.field}"
            for v in detail.field_violations
        ]
    if isinstance(detail, error_details_pb2.PreconditionFailure):
        return [
            f"{v.type} {v.subject}".strip()
            + (f": {v.description}" if _new(v.description, message) else "")
            for v in detail.violations
        ]
    if isinstance(detail, error_details_pb2.QuotaFailure):
        return [
            v.subject + (f": {v.description}" if _new(v.description, message) else "")
            for v in detail.violations
        ]
    if isinstance(detail, error_details_pb2.ResourceInfo):
        phrase = f"{detail.resource_type} {detail.resource_name}".strip()
        if detail.owner:
            phrase += f" (owner {detail.owner})"
        if _new(detail.description, message):
            phrase += f": {detail.description}"
        return [phrase] if phrase else []
    if isinstance(detail, error_details_pb2.ErrorInfo):
        extra = ", ".join(
            f"{k}={v}" for k, v in sorted(detail.metadata.items()) if not _word_in(v, details)
        )
        return [f"reason {detail.reason}" + (f" ({extra})" if extra else "")]
    if isinstance(detail, error_details_pb2.RetryInfo):
        seconds = detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9
        return [f"retry after {seconds:g}s"]
    return []


def format_details(details: Sequence[Message], message: str = "") -> list[str]:
    """google.rpc details as short phrases, in one fixed order, without repeating ``message``."""
    rank = {cls: index for index, cls in enumerate(_ORDER)}
    ordered = sorted(details, key=lambda d: rank.get(type(d), len(_ORDER)))
    parts: list[str] = []
    for detail in ordered:
        said = " ".join([message, *parts])  # what the line says so far
        parts += [p for p in _phrases(detail, said, "; ".join(parts)) if p not in parts]
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
    parts = format_details(details, message)
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
