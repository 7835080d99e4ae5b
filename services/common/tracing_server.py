"""The SERVER span of every gRPC call: a lean grpc.aio interceptor with the standard's output.

opentelemetry-instrumentation-grpc's aio server interceptor does per call what does not change
between calls: it builds a new method handler around the behaviour, splits the method name,
parses the peer address, copies the whole metadata into dicts twice and runs the global
propagator (and attaches its context) even when the caller sent no trace context. On a call of
a few hundred microseconds that was a measurable share of what tracing cost
(docs/operations.md#tracing-opentelemetry). This interceptor makes the same span (name, kind,
attributes, status, parent; an exception recorded once where the standard
records most twice) with that work done once per method (the
wrapped handler, the method's attributes) or per peer (its address attributes), and the
propagator run only when the metadata holds one of the fields it reads.

Instrumented libraries (Redis) inside a call: with ``library_spans`` False the call runs with
them suppressed (its SERVER span covers them); with it True they make their spans, except in a
trace that is not sampled under a sampler that follows the parent (the default), where none of
theirs would be recorded anyway.
tests/integration/tracing/test_server_spans.py runs the standard interceptor and this one on
the same calls and compares their spans, so the two stay equal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from services.common.handler_wrapping import Handler, HandlerWrappingInterceptor

__all__ = ["ServerSpans"]

# The standard's attribute names (OpenTelemetry's rpc.* and, as it still writes, net.peer.*).
_SYSTEM, _STATUS_CODE = "rpc.system", "rpc.grpc.status_code"
_METHOD, _SERVICE, _USER_AGENT = "rpc.method", "rpc.service", "rpc.user_agent"
_PEER_IP, _PEER_PORT, _PEER_NAME = "net.peer.ip", "net.peer.port", "net.peer.name"
# Server-side codes that are the server's failure (the span's status ERROR); others leave it.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_PEERS_KEPT = 4096  # distinct peer addresses whose attributes are kept (then start again)

Attributes = dict[str, AttributeValue]
# The context key instrumented libraries read to skip their spans: private to OpenTelemetry's
# context module, so looked up once here; without it (a future release), library spans are
# simply not suppressed: correct traces, a little more cost.
_SUPPRESS_KEY: str | None = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
Behavior = Callable[[Any, Any], Any]


def _mark(span: Span, code: grpc.StatusCode, details: str | None) -> None:
    span.set_attribute(_STATUS_CODE, code.value[0])
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, f"{code}:{details}"))


class _Context:
    """The servicer context, with the calls that end a call noted on the span (as the
    standard's wrapper does); everything else goes to the real context."""

    __slots__ = ("_code", "_details", "_span", "_wrapped")

    def __init__(self, wrapped: Any, span: Span) -> None:
        self._wrapped = wrapped
        self._span = span
        self._code = grpc.StatusCode.OK
        self._details: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing: Any = ()) -> Any:
        self._code, self._details = code, details
        _mark(self._span, code, details)
        return await self._wrapped.abort(code, details, trailing)

    def set_code(self, code: grpc.StatusCode) -> Any:
        self._code = code
        self._span.set_attribute(_STATUS_CODE, code.value[0])
        if code is not grpc.StatusCode.OK:
            _mark(self._span, code, self._details or code.value[1])
        return self._wrapped.set_code(code)

    def set_details(self, details: str) -> Any:
        self._details = details
        if self._code is not grpc.StatusCode.OK:
            _mark(self._span, self._code, details)
        return self._wrapped.set_details(details)


def _peer_attributes(peer: str) -> Attributes:
    """``ipv4:127.0.0.1:57284`` (or ``ipv6:[::1]:...``, or several, comma-separated) as the
    standard writes it: the first address's ip and port, ``localhost`` for loopback."""
    if peer.startswith("unix:"):
        return {}
    try:
        ip, port = peer.split(",", maxsplit=1)[0].split(":", 1)[1].rsplit(":", 1)
    except (IndexError, ValueError):
        return {}
    ip = unquote(ip)
    found: Attributes = {_PEER_IP: ip, _PEER_PORT: port}
    if ip in ("[::1]", "127.0.0.1"):
        found[_PEER_NAME] = "localhost"
    return found


class ServerSpans(HandlerWrappingInterceptor):
    """A SERVER span per call of every method ``traced`` accepts (its full name)."""

    def __init__(
        self,
        tracer: trace.Tracer,
        traced: Callable[[str], bool],
        *,
        follows_parent: bool,
        library_spans: bool,
    ) -> None:
        super().__init__()
        self._tracer = tracer
        self._traced = traced
        self._follows_parent = follows_parent
        self._library_spans = library_spans
        self._fields = frozenset(propagate.get_global_textmap().fields)
        self._peers: dict[str, Attributes] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        if not is_instrumentation_enabled():
            return await continuation(handler_call_details)
        return await super().intercept_service(continuation, handler_call_details)

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The traced handler, or ``handler`` itself for a method left untraced."""
        return self._wrap(method, handler) if self._traced(method) else handler

    def _wrap(self, name: str, handler: Handler) -> Handler:
        service, _, method = name.lstrip("/").partition("/")
        fixed: Attributes = {_SYSTEM: "grpc", _STATUS_CODE: grpc.StatusCode.OK.value[0]}
        if method:
            fixed |= {_METHOD: method, _SERVICE: service}
        if handler.response_streaming:
            given: Any = handler.unary_stream or handler.stream_stream
            stream = self._stream(name, fixed, given)
            make: Callable[..., Handler] = (
                grpc.stream_stream_rpc_method_handler
                if handler.request_streaming
                else grpc.unary_stream_rpc_method_handler
            )
            behavior: Behavior = stream
        else:
            given = handler.unary_unary or handler.stream_unary
            behavior = self._unary(name, fixed, given)
            make = (
                grpc.stream_unary_rpc_method_handler
                if handler.request_streaming
                else grpc.unary_unary_rpc_method_handler
            )
        return make(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _start(
        self, name: str, fixed: Mapping[str, AttributeValue], context: Any
    ) -> tuple[Span, object]:
        """The call's span, made current in the caller's context (if the caller sent one)."""
        attributes = dict(fixed)
        carrier: dict[str, str] | None = None
        for key, value in context.invocation_metadata() or ():
            if key == "user-agent":
                attributes[_USER_AGENT] = value
            elif key in self._fields:
                carrier = carrier or {}
                carrier[key] = value
        peer: str = context.peer()
        address = self._peers.get(peer)
        if address is None:
            if len(self._peers) >= _PEERS_KEPT:
                self._peers.clear()
            address = self._peers[peer] = _peer_attributes(peer)
        attributes |= address
        parent = propagate.extract(carrier) if carrier is not None else None
        span = self._tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        current = trace.set_span_in_context(span, parent)
        quiet = not self._library_spans or (self._follows_parent and not span.is_recording())
        if quiet and _SUPPRESS_KEY is not None:
            # Instrumented libraries (Redis) skip their spans at once (see the module's doc).
            current = otel_context.set_value(_SUPPRESS_KEY, True, current)
        return span, otel_context.attach(current)

    def _unary(self, name: str, fixed: Attributes, behavior: Behavior) -> Behavior:
        async def traced(request: Any, context: Any) -> Any:
            span, token = self._start(name, fixed, context)
            try:
                return await behavior(
                    request, _Context(context, span) if span.is_recording() else context
                )
            except Exception as error:
                span.record_exception(error)  # once (the standard: twice, but for a bare one)
                raise
            finally:
                span.end()
                otel_context.detach(token)  # type: ignore[arg-type]

        return traced

    def _stream(self, name: str, fixed: Attributes, behavior: Behavior) -> Behavior:
        async def traced(request: Any, context: Any) -> AsyncIterator[Any]:
            span, token = self._start(name, fixed, context)
            try:
                async for response in behavior(
                    request, _Context(context, span) if span.is_recording() else context
                ):
                    yield response
            except Exception as error:
                span.record_exception(error)
                raise
            finally:
                span.end()
                otel_context.detach(token)  # type: ignore[arg-type]

        return traced
