"""Fixtures of the tracing tests: a store per module (child process), the session's Redis,
and tracing turned on with an in-memory exporter for the test that asks for ``spans``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from services.common import tracing_setup
from standins.eventstore.process import EventStoreProcess
from tests.support.redis_server import redis_server, redis_url  # noqa: F401


@pytest.fixture(scope="module")
def esdb_uri() -> Iterator[str]:
    """Our event store, in memory, in a child process shared by the module's tests."""
    with EventStoreProcess(db_path=None) as process:
        yield process.uri


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Tracing on for this test (every span sampled): its provider, finished spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing_setup.enable(provider)
    try:
        yield provider, exporter
    finally:
        tracing_setup.disable()
        provider.shutdown()


@pytest.fixture
def spans(traced: tuple[TracerProvider, InMemorySpanExporter]) -> InMemorySpanExporter:
    """Tracing on for this test (every span sampled), finished spans kept in memory."""
    return traced[1]
