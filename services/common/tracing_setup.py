"""Turning tracing on: the OpenTelemetry SDK configured by the standard ``OTEL_*`` variables.

Off by default: without ``OTEL_TRACES_EXPORTER`` (or with ``none``, or ``OTEL_SDK_DISABLED``)
no tracer provider is made and ``services.common.tracing`` stays off. With it, each service's
entry point calls :func:`configure_tracing` once: a ``TracerProvider`` (sampler from
``OTEL_TRACES_SAMPLER``/``_ARG``, resource from ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``), a batch processor per exporter named (``OTEL_BSP_*``), the
exporters' own variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...), our grpc.aio server
interceptor on every ``GrpcServer`` (``tracing_server``) and the Redis instrumentation. Tests
and benchmarks call :func:`enable` with a provider of their own (an in-memory exporter).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

from services.common import tracing
from services.common.tracing_server import ServerSpans

__all__ = [
    "TracingSettingsError",
    "client_interceptors",
    "configure_tracing",
    "disable",
    "enable",
    "follows_parent",
    "server_interceptors",
    "tracer_provider_from_env",
]

_EXPORTERS = "opentelemetry_traces_exporter"  # the entry points every exporter package names
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
# Calls that are not the system's work: health probes (every few seconds) and reflection.
_UNTRACED_SERVICES = ("grpc.health.", "grpc.reflection.")
# The grpc instrumentation's own variable for services to leave untraced (comma-separated).
_EXCLUDED_SERVICES = "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"
_SERVER_SCOPE = "rover.grpc"  # the instrumentation scope of the SERVER spans
# Whether Redis calls made inside a gRPC call get spans of their own. No: a query's SERVER span
# covers its one Redis read, and that Redis span was half of what tracing cost a query
# (docs/operations.md#tracing-opentelemetry). The projector's commit, the last hop of a
# command's trace, still gets its Redis spans (they are inside its CONSUMER span, not a call).
_LIBRARY_SPANS_IN_CALLS = False
_provider: TracerProvider | None = None


class TracingSettingsError(ValueError):
    """An ``OTEL_*`` value that names something this installation does not have."""


def _one_line(span: ReadableSpan) -> str:
    # The console exporter's default is indented JSON over many lines; ours go to logs.
    text: str = span.to_json(indent=None)
    return text + os.linesep


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stdout, formatter=_one_line)
    if name == "otlp":
        protocol = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(
            OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"
        )
        if protocol not in _OTLP_BY_PROTOCOL:
            raise TracingSettingsError(
                f"{OTEL_EXPORTER_OTLP_PROTOCOL}: {protocol!r} is not one of "
                f"{', '.join(_OTLP_BY_PROTOCOL)}"
            )
        name = _OTLP_BY_PROTOCOL[protocol]
    found = entry_points(group=_EXPORTERS, name=name)
    if not found:
        known = sorted({"none", *(e.name for e in entry_points(group=_EXPORTERS))})
        raise TracingSettingsError(
            f"{OTEL_TRACES_EXPORTER}: no exporter {name!r} is installed ({', '.join(known)})"
        )
    exporter_class: Callable[[], SpanExporter] = next(iter(found)).load()
    return exporter_class()  # each reads its own OTEL_EXPORTER_* variables


def tracer_provider_from_env(service: str) -> TracerProvider | None:
    """The provider the ``OTEL_*`` variables ask for; None when they ask for no exporter.

    ``service`` names the resource (``rover-<service>``) unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` does. TracingSettingsError for an exporter not installed.
    """
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return None
    names = [n.strip() for n in os.environ.get(OTEL_TRACES_EXPORTER, "").split(",")]
    names = [n for n in names if n and n != "none"]
    if not names:
        return None
    exporters = [_exporter(name) for name in dict.fromkeys(names)]
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"rover-{service}"}))
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(service: str) -> bool:
    """Turn tracing on as the ``OTEL_*`` variables say (the global provider too); whether on."""
    provider = tracer_provider_from_env(service)
    if provider is None:
        return False
    trace.set_tracer_provider(provider)
    enable(provider)
    return True


def enable(provider: TracerProvider) -> None:
    """Trace with ``provider``: our spans, gRPC servers started from now on, Redis calls."""
    global _provider  # noqa: PLW0603 - one switch per process
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    if _provider is not None:
        disable()
    _provider = provider
    RedisInstrumentor().instrument(tracer_provider=provider)
    tracing.activate(provider.get_tracer("rover"), follows_parent=follows_parent(provider.sampler))


def disable() -> None:
    """Stop tracing (servers already started keep their interceptor)."""
    global _provider  # noqa: PLW0603
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    if _provider is not None:
        RedisInstrumentor().uninstrument()
    _provider = None
    tracing.activate(None)


def follows_parent(sampler: Sampler) -> bool:
    """Whether ``sampler`` never records the child of a local span that is not recorded: the
    SDK's ``ParentBased`` with its default for that case (every ``parentbased_*`` value of
    ``OTEL_TRACES_SAMPLER``, the default included). Any other sampler decides span by span."""
    return (
        isinstance(sampler, ParentBased)
        and getattr(sampler, "_local_parent_not_sampled", None) is ALWAYS_OFF
    )


def _traced_method() -> Callable[[str], bool]:
    """Whether a call of a method (its full name) is traced: every method but health,
    reflection and the services ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES`` names (read once)."""
    excluded = [s.strip() for s in os.environ.get(_EXCLUDED_SERVICES, "").split(",") if s.strip()]
    skipped = tuple(f"/{prefix}" for prefix in _UNTRACED_SERVICES) + tuple(
        f"/{service}/" for service in excluded
    )

    def traced(method: str) -> bool:
        return not method.startswith(skipped)

    return traced


def _traced_calls() -> Callable[[Any], bool]:
    """The client interceptors' filter (a prefix test: the library's composable filters split
    the name with ``os.path`` once per filter and call, a measurable share of a short call)."""
    traced_method = _traced_method()

    def traced(details: Any) -> bool:
        method = details.method  # aio client: bytes (grpc/grpc#31092)
        return traced_method(method.decode() if isinstance(method, bytes) else str(method))

    return traced


def server_interceptors() -> Sequence[grpc.aio.ServerInterceptor]:
    """The interceptor that makes a SERVER span per call ([] when off): ours, equal in its
    spans to the grpc instrumentation's and cheaper (services/common/tracing_server.py)."""
    if _provider is None:
        return []
    return [
        ServerSpans(
            _provider.get_tracer(_SERVER_SCOPE),
            _traced_method(),
            follows_parent=follows_parent(_provider.sampler),
            library_spans=_LIBRARY_SPANS_IN_CALLS,
        )
    ]


def client_interceptors() -> Sequence[grpc.aio.ClientInterceptor]:
    """grpc.aio client interceptors: a CLIENT span per call, its context sent along in the
    W3C ``traceparent`` header, so the server's span continues the caller's trace."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation import grpc as instrumentation  # noqa: PLC0415

    make: Callable[..., list[grpc.aio.ClientInterceptor]] = instrumentation.aio_client_interceptors
    return make(tracer_provider=_provider, filter_=_traced_calls())
