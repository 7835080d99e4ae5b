"""The page's JSON API: unary RPCs of the public contract, in protobuf's JSON mapping, forwarded.

``POST /api/rover.v1.RoverCommandService/CreateGrid`` with the request as proto3 JSON is the
gRPC call ``CreateGrid`` on the command service with the same request; the answer is the
response as proto3 JSON, or the call's status as ``{"code", "message", "details"}`` (the
google.rpc details in their JSON mapping, each with its ``@type``) with the HTTP status that
:data:`HTTP_STATUS` gives the gRPC code. The services decide everything: ids, rules and errors
are the gRPC ones, and the bearer token the page sends is forwarded as the call's metadata, so
the services' own role table (``services.common.auth.METHOD_ROLES``) applies unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from protos.rover.v1 import command_pb2, query_pb2
from services.common.rich_errors import MAX_ERROR_TEXT, details_of

__all__ = [
    "HTTP_STATUS",
    "Method",
    "error_body",
    "forwarded_metadata",
    "routes",
    "rpc_error_body",
    "to_json",
]

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
"""THE mapping of a gRPC status code to the HTTP status of the page's API (as Google's HTTP
mapping of gRPC and the Connect protocol have it); a test holds it total over every code."""

Route = str
"""Which service answers: ``"command"`` or ``"query"`` (the address setting it names)."""

# The services the page may call, and which address answers each. The operator's admin service
# is not the page's business; WatchGrid is served as Server-Sent Events (services/web/live.py).
_SERVICES: tuple[tuple[ServiceDescriptor, Route], ...] = (
    (command_pb2.DESCRIPTOR.services_by_name["RoverCommandService"], "command"),
    (query_pb2.DESCRIPTOR.services_by_name["RoverQueryService"], "query"),
)


@dataclass(frozen=True, slots=True)
class Method:
    """One unary RPC of the contract: its gRPC path, message classes and the service's route."""

    path: str
    request: type[Message]
    response: type[Message]
    route: Route

    def callable(self, channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        """The call on ``channel``, (de)serializing with the contract's classes."""
        return channel.unary_unary(
            self.path,
            request_serializer=self.request.SerializeToString,
            response_deserializer=self.response.FromString,
        )


def routes() -> dict[str, Method]:
    """``"rover.v1.RoverCommandService/CreateGrid"`` -> its :class:`Method`, for every unary
    RPC of the page's services, derived from the contract's descriptors."""
    table: dict[str, Method] = {}
    for service, route in _SERVICES:
        for method in service.methods:
            if method.client_streaming or method.server_streaming:
                continue
            name = f"{service.full_name}/{method.name}"
            table[name] = Method(
                path=f"/{name}",
                request=message_factory.GetMessageClass(method.input_type),
                response=message_factory.GetMessageClass(method.output_type),
                route=route,
            )
    return table


def to_json(message: Message) -> dict[str, Any]:
    """``message`` in protobuf's JSON mapping, zeros included (a rover at x 0 has ``"x": 0``)."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def forwarded_metadata(authorization: str | None) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata of a forwarded call: the page's ``Authorization`` header, if any."""
    return (("authorization", authorization),) if authorization else ()


def error_body(code: grpc.StatusCode, message: str, details: list[Message]) -> dict[str, Any]:
    """A failed call as the page reads it: the code's name, the message, the details as JSON."""
    return {
        "code": code.name,
        "message": message[:MAX_ERROR_TEXT],
        "details": [
            {"@type": detail.DESCRIPTOR.full_name, **json_format.MessageToDict(detail)}
            for detail in details
        ],
    }


def rpc_error_body(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """:func:`error_body` of a failed gRPC call, with the google.rpc details it carried."""
    return error_body(error.code(), error.details() or "", details_of(error))
