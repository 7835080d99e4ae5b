"""Register a generated gRPC service with some methods answering already serialised bytes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import grpc

__all__ = ["add_with_raw_responses"]

Handlers = dict[str, "grpc.RpcMethodHandler[Any, Any]"]


class _Recorder:
    """Stands in for the server while the generated ``add_*_to_server`` registers its methods."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: Handlers = {}

    def add_generic_rpc_handlers(self, _: object) -> None:
        """The generated code registers twice; the named handlers are enough."""

    def add_registered_method_handlers(self, service: str, handlers: Handlers) -> None:
        self.service, self.handlers = service, dict(handlers)


def _raw(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """The same method with no response serializer: grpc sends the bytes it returns as they are."""
    if handler.request_streaming:
        raise ValueError("only unary requests are supported")
    if handler.response_streaming:
        streaming = handler.unary_stream
        assert streaming is not None
        return grpc.unary_stream_rpc_method_handler(
            streaming, request_deserializer=handler.request_deserializer
        )
    unary = handler.unary_unary
    assert unary is not None
    return grpc.unary_unary_rpc_method_handler(
        unary, request_deserializer=handler.request_deserializer
    )


def add_with_raw_responses(
    add_to_server: Callable[[Any, Any], None],
    servicer: object,
    server: grpc.aio.Server,
    raw: Collection[str],
) -> None:
    """Register ``servicer`` as the generated ``add_to_server`` does, except that the methods
    named in ``raw`` answer (or stream) bytes that already are their serialised responses."""
    recorder = _Recorder()
    add_to_server(servicer, recorder)
    unknown = set(raw) - set(recorder.handlers)
    if unknown:
        raise ValueError(f"{recorder.service} has no methods {sorted(unknown)}")
    handlers = {
        name: _raw(handler) if name in raw else handler
        for name, handler in recorder.handlers.items()
    }
    generic = grpc.method_handlers_generic_handler(recorder.service, handlers)
    server.add_generic_rpc_handlers((generic,))
    server.add_registered_method_handlers(recorder.service, handlers)
