"""Our spans, the trace context stored beside events, and trace ids in logs (OpenTelemetry API).

Tracing is off unless ``services.common.tracing_setup`` turned it on (from the standard
``OTEL_*`` variables, or a test's own provider). Off, every helper here returns at once (a
shared null context, None) and nothing of OpenTelemetry runs: near-zero cost on every path.

How the hops of one command link (docs/operations.md#tracing): a span that handles events
continues the trace of the span that appended them (``consumer_span``): as its child when they
all come from one trace, which is the case for one command's events; as a trace of its own
with a link to each when they come from several (a batch of several commands' events), as
OpenTelemetry's messaging conventions say for batches.

Application code uses these helpers as it uses ``services.common.logs``: they name no
transport or store, and the values they carry (``TraceParent``) are plain.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from services.common.correlation import TraceParent, read_trace

__all__ = [
    "SpanKind",
    "activate",
    "add_trace_ids",
    "annotate",
    "consumer_span",
    "continuing",
    "current_parent",
    "enabled",
    "parent_in",
    "rpc_failed",
    "span",
    "untraced",
]

Attributes = Mapping[str, AttributeValue]
_tracer: trace.Tracer | None = None
_follows_parent = False  # the sampler drops every child of a local span it dropped
_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def activate(tracer: trace.Tracer | None, *, follows_parent: bool = False) -> None:
    """Make our spans with ``tracer`` (None: off). Called by ``tracing_setup`` only.

    ``follows_parent``: its sampler never records the child of a local span not recorded
    (``parentbased_*``, the default), so in a trace not sampled our spans are not even made:
    the trace's sampling decision, taken once at its root, stands for them.
    """
    global _tracer, _follows_parent  # noqa: PLW0603 - one switch for the process, at start-up
    _tracer = tracer
    _follows_parent = follows_parent and tracer is not None


def _in_unsampled_trace() -> bool:
    """Whether the current span is one of a trace not sampled, whose children the sampler
    would not record either."""
    if not _follows_parent:
        return False
    context = trace.get_current_span().get_span_context()
    return context.is_valid and not context.trace_flags.sampled


def enabled() -> bool:
    """Whether tracing is on in this process."""
    return _tracer is not None


def span(
    name: str, attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> contextlib.AbstractContextManager[object]:
    """A span around a block, child of the current one (a null context when off, or in a
    trace not sampled)."""
    if _tracer is None or _in_unsampled_trace():
        return _OFF
    return _tracer.start_as_current_span(name, kind=kind, attributes=attributes)


def _span_context(parent: TraceParent) -> SpanContext:
    return SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.span_id, 16),
        is_remote=True,
        trace_flags=_SAMPLED,
    )


def consumer_span(
    name: str,
    parents: Iterable[TraceParent | None],
    attributes: Attributes | None = None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
) -> contextlib.AbstractContextManager[object]:
    """A span around the handling of events whose stored trace context is ``parents``.

    One trace among them: a child of the first, linked to any other span of that trace. Several
    traces: a new trace linked to each. None at all (events stored untraced): a child of the
    current span, if any. A null context when tracing is off (``parents`` is not iterated),
    and when none and the current span is of a trace not sampled.
    """
    if _tracer is None:
        return _OFF
    distinct = list(dict.fromkeys(p for p in parents if p is not None))
    if not distinct and _in_unsampled_trace():
        return _OFF
    context: Context | None = None
    linked = distinct
    if distinct and all(p.trace_id == distinct[0].trace_id for p in distinct):
        context = trace.set_span_in_context(NonRecordingSpan(_span_context(distinct[0])))
        linked = distinct[1:]
    elif distinct:
        context = Context()  # a trace of its own: not a child of whatever is current
    links = [Link(_span_context(p)) for p in linked]
    return _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes, links=links
    )


def current_parent() -> TraceParent | None:
    """The current span, to store beside the events appended in it; None when off, outside
    any span, or in a trace that is not sampled (consumers would continue a trace nobody
    records)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return TraceParent(format(context.trace_id, "032x"), format(context.span_id, "016x"))


def continuing(cause: TraceParent | None) -> TraceParent | None:
    """The span to store beside an event caused by one stored with ``cause``, appended now.

    The current span when it carries on the cause's trace (or the cause had none); otherwise
    the cause itself, so that the event's consumers join the trace of the command that
    caused it even when the current span is a trace of its own (a batch) or tracing is off.
    """
    current = current_parent()
    if current is None or (cause is not None and cause.trace_id != current.trace_id):
        return cause
    return current


def parent_in(metadata: bytes) -> TraceParent | None:
    """The trace context stored in an event's JSON ``metadata``; None when off (the
    metadata is not even parsed), absent or malformed."""
    if _tracer is None or not metadata:
        return None
    try:
        body = json.loads(metadata)
    except ValueError:  # UnicodeDecodeError included
        return None
    return read_trace(body) if isinstance(body, dict) else None


def annotate(key: str, value: AttributeValue) -> None:
    """Set an attribute on the current span (nothing when off or not recording)."""
    if _tracer is not None:
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute(key, value)


def rpc_failed(code: int, message: str) -> None:
    """Mark the current (server) span failed with gRPC status ``code`` and ``message``."""
    if _tracer is not None:
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute("rpc.grpc.status_code", code)
            current.set_status(trace.Status(trace.StatusCode.ERROR, message))


def untraced() -> contextlib.AbstractContextManager[object]:
    """Instrumented libraries (Redis) make no spans inside: housekeeping that runs every
    second outside any request (lease renewals, rewind and lag checks) would otherwise start
    a trace of its own each time."""
    if _tracer is None:
        return _OFF
    from opentelemetry.instrumentation.utils import suppress_instrumentation  # noqa: PLC0415

    return suppress_instrumentation()


def add_trace_ids(
    _: object, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: a record emitted inside a span names its trace and span."""
    if _tracer is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict
