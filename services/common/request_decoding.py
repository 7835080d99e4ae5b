"""A request body that does not decode is INVALID_ARGUMENT with google.rpc details, on every RPC.

grpc.aio answers UNKNOWN ("Unexpected DecodeError") when a request deserializer raises. The
interceptor here gives every handler a deserializer that never raises: bytes that do not parse
become a :class:`Malformed` marker, and the handler's behaviour, wrapped once per method, refuses
the marker with a rich status before any servicer code runs.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from services.common.handler_wrapping import Handler, HandlerWrappingInterceptor
from services.common.rich_errors import abort, bad_request, error_info

__all__ = ["MALFORMED_REASON", "MalformedRequestInterceptor"]

MALFORMED_REASON = "MALFORMED_REQUEST"

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class Malformed:
    """What a request that failed to decode turns into: the type expected and why it failed."""

    __slots__ = ("expected", "why")

    def __init__(self, expected: str, why: str) -> None:
        self.expected = expected
        self.why = why


def _expected(deserializer: Callable[[bytes], Any], method: str) -> str:
    """The message type a generated deserializer (``SomeRequest.FromString``) parses."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else f"request of {method}"


def _decoding(deserializer: Callable[[bytes], Any], expected: str) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as error:  # any failure to parse is the sender's bytes, never ours
            return Malformed(expected, str(error) or type(error).__name__)

    return decode


async def _refuse(context: Context, request: Malformed) -> None:
    await abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request body is not a valid {request.expected}",
        bad_request([("", f"cannot be decoded: {request.why}")]),
        error_info(MALFORMED_REASON, {"message_type": request.expected}),
    )


def _unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def checked(request: Any, context: Context) -> Any:
        if type(request) is Malformed:
            await _refuse(context, request)
        return await behavior(request, context)

    return checked


def _streamed(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health Watch)
        return _unary(behavior)

    async def checked(request: Any, context: Context) -> AsyncIterator[Any]:
        if type(request) is Malformed:
            await _refuse(context, request)
        # aclosing: a cancelled call closes the servicer's generator now (its finally runs).
        async with contextlib.aclosing(behavior(request, context)) as responses:
            async for response in responses:
                yield response

    return checked


class MalformedRequestInterceptor(HandlerWrappingInterceptor):
    """Refuses undecodable request bodies with INVALID_ARGUMENT (BadRequest + ErrorInfo).

    Installed innermost by ``GrpcServer``, so metrics and tracing see the refusal as a call.
    """

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The same method with a deserializer that never raises (unary requests only)."""
        deserializer = handler.request_deserializer
        if deserializer is None or handler.request_streaming:
            return handler  # raw bytes, or a request stream (none of ours): as gRPC has it
        decode = _decoding(deserializer, _expected(deserializer, method))
        serializer = handler.response_serializer
        if handler.response_streaming:
            assert handler.unary_stream is not None
            return grpc.unary_stream_rpc_method_handler(
                _streamed(handler.unary_stream),
                request_deserializer=decode,
                response_serializer=serializer,
            )
        assert handler.unary_unary is not None
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary),
            request_deserializer=decode,
            response_serializer=serializer,
        )
