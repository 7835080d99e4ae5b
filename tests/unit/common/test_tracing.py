"""Tracing's own rules: how consumer spans link, what is stored beside events, the log ids,
and what the OTEL_* variables turn on (a provider of the test's own, never the global one)."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext

from services.common import tracing, tracing_setup
from services.common.correlation import TraceParent
from services.common.logs import configure_logging, get_logger


def _parent() -> TraceParent:
    return TraceParent(uuid.uuid4().hex, uuid.uuid4().hex[:16])


def _ids(parent: TraceParent) -> tuple[int, int]:
    return int(parent.trace_id, 16), int(parent.span_id, 16)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing_setup.enable(provider)
    yield spans
    tracing_setup.disable()
    provider.shutdown()


def test_events_of_one_command_continue_its_trace_as_a_child(
    exporter: InMemorySpanExporter,
) -> None:
    parent = _parent()
    sibling = TraceParent(parent.trace_id, uuid.uuid4().hex[:16])  # same trace, another span
    with tracing.consumer_span("one", [parent, None, parent, sibling]):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == _ids(parent)
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [_ids(sibling)]


def test_events_of_several_traces_start_a_trace_linked_to_each(
    exporter: InMemorySpanExporter,
) -> None:
    first, second = _parent(), _parent()
    # "around" is not adopted: the batch is no part of this trace either.
    with tracing.span("around"), tracing.consumer_span("batch", [first, None, second, first]):
        pass
    batch = next(s for s in exporter.get_finished_spans() if s.name == "batch")
    assert batch.parent is None
    assert batch.context.trace_id not in {_ids(first)[0], _ids(second)[0]}
    assert [(link.context.trace_id, link.context.span_id) for link in batch.links] == [
        _ids(first),
        _ids(second),
    ]


def test_events_stored_untraced_are_handled_in_the_current_trace(
    exporter: InMemorySpanExporter,
) -> None:
    with tracing.span("around"), tracing.consumer_span("untraced", [None, None]):
        pass
    untraced, around = exporter.get_finished_spans()
    assert untraced.parent is not None
    assert untraced.parent.span_id == around.context.span_id


def test_an_event_names_the_span_that_carries_its_causes_trace_on(
    exporter: InMemorySpanExporter,
) -> None:
    cause, elsewhere = _parent(), _parent()
    with tracing.consumer_span("publish", [cause]):
        here = tracing.current_parent()
        assert here is not None
        assert here.trace_id == cause.trace_id
        assert tracing.continuing(cause) == here
        assert tracing.continuing(None) == here
        assert tracing.continuing(elsewhere) == elsewhere  # another trace: keep its own
    assert tracing.current_parent() is None  # outside any span


def test_off_nothing_is_traced_or_parsed() -> None:
    assert not tracing.enabled()
    cause = _parent()
    with tracing.span("x"), tracing.consumer_span("y", iter(())):
        assert tracing.current_parent() is None
        assert tracing.continuing(cause) == cause
    metadata = json.dumps({"$traceId": cause.trace_id, "$spanId": cause.span_id}).encode()
    assert tracing.parent_in(metadata) is None
    assert tracing_setup.server_interceptors() == []
    assert tracing_setup.client_interceptors() == []


def test_stored_trace_context_is_read_only_when_valid(exporter: InMemorySpanExporter) -> None:
    cause = _parent()
    good = {"$traceId": cause.trace_id.upper(), "$spanId": cause.span_id, "other": 1}
    assert tracing.parent_in(json.dumps(good).encode()) == cause
    for bad in (
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({"$traceId": cause.trace_id}).encode(),
        json.dumps({"$traceId": "0" * 32, "$spanId": cause.span_id}).encode(),
        json.dumps({"$traceId": cause.trace_id, "$spanId": "xyz"}).encode(),
        json.dumps({"$traceId": 7, "$spanId": cause.span_id}).encode(),
    ):
        assert tracing.parent_in(bad) is None, bad


def test_an_unsampled_span_is_not_stored_for_consumers_to_continue() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    tracing_setup.enable(provider)
    try:
        with tracing.span("dropped"):
            assert tracing.current_parent() is None
    finally:
        tracing_setup.disable()


def _unsampled_root() -> NonRecordingSpan:
    ids = _ids(_parent())
    return NonRecordingSpan(SpanContext(ids[0], ids[1], is_remote=False))  # flags: not sampled


@pytest.mark.parametrize("decided_once", [True, False], ids=["parentbased", "per-span"])
def test_a_trace_not_sampled_makes_no_spans_of_ours_when_the_sampler_follows_parents(
    *, decided_once: bool
) -> None:
    """A parent-based sampler would drop them anyway: they are not even started. A sampler
    that decides span by span still gets to decide (here: it records every span)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON) if decided_once else ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing_setup.enable(provider)
    cause = _parent()
    try:
        root = _unsampled_root()
        with otel_trace.use_span(root, end_on_exit=False):
            with tracing.span("step"), tracing.consumer_span("handled", []):
                same = otel_trace.get_current_span() is root
                stored = tracing.current_parent()  # what events appended here would name
            with tracing.consumer_span("stored", [cause]):  # its own trace's decision
                pass
    finally:
        tracing_setup.disable()
        provider.shutdown()
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert same is decided_once
    assert (stored is None) is decided_once
    assert names == (["stored"] if decided_once else ["handled", "step", "stored"])


@pytest.mark.parametrize(
    ("sampler", "follows"),
    [
        ("parentbased_always_on", True),
        ("parentbased_traceidratio", True),
        ("always_on", False),
        ("traceidratio", False),
    ],
)
def test_which_configured_samplers_decide_once_per_trace(
    otel_env: pytest.MonkeyPatch, sampler: str, *, follows: bool
) -> None:
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_TRACES_SAMPLER", sampler)
    provider = tracing_setup.tracer_provider_from_env("command")
    assert provider is not None
    assert tracing_setup.follows_parent(provider.sampler) is follows
    otel_env.delenv("OTEL_TRACES_SAMPLER")  # the default
    default = tracing_setup.tracer_provider_from_env("command")
    assert default is not None
    assert tracing_setup.follows_parent(default.sampler)


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging(level="INFO", fmt="json", service="test")
    yield buffer
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers.clear()


def test_records_inside_a_span_name_its_trace_and_span(
    exporter: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    log = get_logger("services.test")
    with tracing.span("work"):
        log.info("ours")
        logging.getLogger("grpc").warning("a library's")
    log.info("outside")
    (work,) = exporter.get_finished_spans()
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    expected = (f"{work.context.trace_id:032x}", f"{work.context.span_id:016x}")
    assert [(r.get("trace_id"), r.get("span_id")) for r in records] == [
        expected,
        expected,
        (None, None),
    ]


def test_off_records_carry_no_trace_ids(log_lines: io.StringIO) -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)
    with provider.get_tracer("elsewhere").start_as_current_span("not ours"):
        get_logger("services.test").info("inside someone's span, tracing off")
    (record,) = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert "trace_id" not in record


# --- OTEL_* variables -------------------------------------------------------------------


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME",
                 "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_PROTOCOL",
                 "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_TRACES_EXPORTER": " , none"},
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"},
    ],
)
def test_no_exporter_no_provider(otel_env: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        otel_env.setenv(name, value)
    assert tracing_setup.tracer_provider_from_env("command") is None


def _console_spans(
    capsys: pytest.CaptureFixture[str], provider: TracerProvider
) -> list[dict[str, Any]]:
    with provider.get_tracer("test").start_as_current_span("hello"):
        pass
    provider.force_flush()
    provider.shutdown()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_console_prints_one_json_line_per_span_named_for_the_service(
    otel_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = tracing_setup.tracer_provider_from_env("command")
    assert provider is not None
    (span,) = _console_spans(capsys, provider)
    assert span["name"] == "hello"
    assert span["resource"]["attributes"]["service.name"] == "rover-command"


def test_the_standard_variables_name_the_service_and_choose_the_sampler(
    otel_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_SERVICE_NAME", "mars-command")
    provider = tracing_setup.tracer_provider_from_env("command")
    assert provider is not None
    (span,) = _console_spans(capsys, provider)
    assert span["resource"]["attributes"]["service.name"] == "mars-command"
    otel_env.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = tracing_setup.tracer_provider_from_env("command")
    assert provider is not None
    assert _console_spans(capsys, provider) == []


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "'zipkin'"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
            "'carrier-pigeon'",
        ),
    ],
)
def test_what_is_not_installed_is_a_settings_error(
    otel_env: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        otel_env.setenv(name, value)
    with pytest.raises(tracing_setup.TracingSettingsError, match=named) as raised:
        tracing_setup.tracer_provider_from_env("query")
    assert "OTEL_" in str(raised.value)


def test_the_installed_opentelemetry_still_has_the_key_that_suppresses_library_spans() -> None:
    """Without it, calls still trace correctly but pay for Redis spans (the fallback)."""
    from services.common import tracing_server  # noqa: PLC0415

    assert tracing_server._SUPPRESS_KEY is not None
