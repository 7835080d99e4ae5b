"""Our SERVER spans equal the grpc instrumentation's (services/common/tracing_server.py).

Two real grpc.aio servers on loopback host the same probe service, one behind the standard
``opentelemetry-instrumentation-grpc`` aio interceptor and one behind ours; each case makes the
same call (same metadata, same caller span) to both, and the two SERVER spans must agree in
name, kind, attributes (the peer's port aside: each call has a connection of its own), status,
parent and the exceptions recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.instrumentation import grpc as instrumentation
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import SpanKind

from services.common import rich_errors, tracing_setup
from services.common.tracing_server import ServerSpans

_SERVICE = "rover.test.Probe"


async def _ok(request: bytes, context: Any) -> bytes:
    return request


async def _mistake(request: bytes, context: Any) -> bytes:
    await rich_errors.abort(context, grpc.StatusCode.INVALID_ARGUMENT, "no such heading")


async def _outage(request: bytes, context: Any) -> bytes:
    await context.abort(grpc.StatusCode.UNAVAILABLE, "the store is away")
    raise AssertionError("unreachable")


async def _refused(request: bytes, context: Any) -> bytes:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a client's mistake: no ERROR status")
    raise AssertionError("unreachable")


async def _coded(request: bytes, context: Any) -> bytes:
    context.set_code(grpc.StatusCode.DATA_LOSS)
    context.set_details("half a grid")
    return b""


async def _crash(request: bytes, context: Any) -> bytes:
    raise ValueError("a bug")


async def _instrumented(request: bytes, context: Any) -> bytes:
    return b"yes" if is_instrumentation_enabled() else b"no"


async def _stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for part in (b"a", b"b"):
        yield part


def _register(server: grpc.aio.Server) -> None:
    unary = {
        "Ok": _ok,
        "Mistake": _mistake,
        "Outage": _outage,
        "Refused": _refused,
        "Coded": _coded,
        "Crash": _crash,
        "Instrumented": _instrumented,
    }
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(call) for name, call in unary.items()
    }
    handlers["Stream"] = grpc.unary_stream_rpc_method_handler(_stream)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(_SERVICE, handlers)])


async def _serve(interceptors: Sequence[grpc.aio.ServerInterceptor]) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(interceptors=interceptors)
    _register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _call(address: str, method: str, *, traced_caller: bool) -> None:
    """One call, from a caller whose span travels along (W3C traceparent) or from none."""
    interceptors = tracing_setup.client_interceptors() if traced_caller else []
    async with grpc.aio.insecure_channel(address, interceptors=interceptors) as channel:
        name = f"/{_SERVICE}/{method}"
        try:
            if method == "Stream":
                stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(name)
                _ = [part async for part in stream(b"x", timeout=10)]
            else:
                unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(name)
                await unary(b"x", timeout=10)
        except grpc.aio.AioRpcError:
            pass  # the failing cases fail: their spans are what is compared


def _server_span(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    return server


def _shape(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> dict[str, object]:
    attributes = dict(span.attributes or {})
    assert str(attributes.pop("net.peer.port")).isdigit()
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    parent = span.parent.span_id if span.parent is not None else None
    return {
        "name": span.name,
        "attributes": attributes,
        "status": (span.status.status_code, span.status.description),
        "parent": "the caller" if clients and parent == clients[0].context.span_id else parent,
        "exceptions": {
            str((event.attributes or {}).get("exception.type"))
            for event in span.events
            if event.name == "exception"
        },
    }


@pytest.mark.parametrize("traced_caller", [True, False], ids=["caller-traced", "no-caller"])
@pytest.mark.parametrize(
    "method", ["Ok", "Mistake", "Outage", "Refused", "Coded", "Crash", "Stream"]
)
async def test_our_server_span_equals_the_grpc_instrumentations(
    traced: tuple[TracerProvider, InMemorySpanExporter], method: str, *, traced_caller: bool
) -> None:
    provider, exporter = traced
    make: Callable[..., grpc.aio.ServerInterceptor] = instrumentation.aio_server_interceptor
    standard = make(tracer_provider=provider)
    shapes = []
    for interceptors in ([standard], tracing_setup.server_interceptors()):
        server, address = await _serve(interceptors)
        try:
            exporter.clear()
            await _call(address, method, traced_caller=traced_caller)
        finally:
            await server.stop(None)
        spans = exporter.get_finished_spans()
        shapes.append(_shape(_server_span(spans), spans))
    ours = tracing_setup.server_interceptors()[0]
    assert type(ours).__module__ == "services.common.tracing_server"  # not the standard twice
    assert shapes[1] == shapes[0]
    assert shapes[0]["name"] == f"/{_SERVICE}/{method}"
    assert shapes[0]["parent"] == ("the caller" if traced_caller else None)


@pytest.mark.parametrize(
    ("sampler", "library_spans", "instrumented"),
    [
        (ParentBased(ALWAYS_ON), True, b"yes"),  # sampled: Redis calls inside make spans
        (ParentBased(ALWAYS_OFF), True, b"no"),  # not sampled, and no child would be
        (ALWAYS_OFF, True, b"yes"),  # a sampler that decides span by span still decides
        (ParentBased(ALWAYS_ON), False, b"no"),  # the SERVER span covers its libraries' calls
    ],
    ids=["sampled", "not-sampled", "per-span-sampler", "no-library-spans"],
)
async def test_when_the_instrumented_libraries_run_suppressed_in_a_call(
    sampler: Sampler, *, library_spans: bool, instrumented: bytes
) -> None:
    provider = TracerProvider(sampler=sampler)
    spans = ServerSpans(
        provider.get_tracer("test"),
        lambda _: True,
        follows_parent=tracing_setup.follows_parent(sampler),
        library_spans=library_spans,
    )
    assert await _instrumented_in_call([spans]) == instrumented
    provider.shutdown()


async def test_our_calls_run_with_the_instrumented_libraries_suppressed(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """What the services run: a sampled call's Redis reads make no spans of their own."""
    assert await _instrumented_in_call(tracing_setup.server_interceptors()) == b"no"


async def _instrumented_in_call(interceptors: Sequence[grpc.aio.ServerInterceptor]) -> bytes:
    server, address = await _serve(interceptors)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            probe: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{_SERVICE}/Instrumented"
            )
            return await probe(b"", timeout=10)
    finally:
        await server.stop(None)
