"""A server interceptor that swaps each method's handler for a wrapped one, wrapped once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

__all__ = ["Handler", "HandlerWrappingInterceptor", "refusing"]

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def refusing(handler: Handler, behavior: Callable[[Any, Any], Awaitable[None]]) -> Handler:
    """A handler of ``handler``'s kind whose ``behavior(request, context)`` ends the call
    (e.g. aborts it) without reading the request's body."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior)
    return grpc.unary_unary_rpc_method_handler(behavior)


class HandlerWrappingInterceptor(grpc.aio.ServerInterceptor):
    """Calls :meth:`wrap` on the first call of each method and reuses its result after.

    gRPC keeps the registered handlers, so a handler seen before is the same object: the
    wrapped one is kept beside it and rebuilt only if the server hands out another.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler to run instead of ``handler`` for ``method`` (``/service/Method``)."""
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self.wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped
