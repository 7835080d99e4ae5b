"""``python -m bench.tracing.child SERVICE [--sampled SHARE]``: a service as ``python -m``
runs it.

With ``--sampled``, tracing is on, that share of traces sampled (``parentbased_always_on``,
the default, for 1: every span recorded; else ``parentbased_traceidratio``) and exported into
an exporter that drops the spans, so that a benchmark measures the instrumentation and not the
I/O of an exporter; at exit it writes
``bench: N spans exported`` on stderr. Without, this is exactly ``python -m services.SERVICE``
(no ``OTEL_*`` variable: tracing off).
"""

from __future__ import annotations

import atexit
import importlib
import sys
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from services.common import tracing_setup

__all__ = ["SPANS_LINE", "main"]

SPANS_LINE = "bench: {} spans exported"


class _Dropped(SpanExporter):
    """Counts the spans it is given, keeps none."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    service = args[0]
    if args[1:2] == ["--sampled"]:
        share = float(args[2])
        dropped = _Dropped()
        # Registered before the provider's own exit hook, so it runs after its final flush.
        atexit.register(lambda: sys.stderr.write(SPANS_LINE.format(dropped.spans) + "\n"))
        sampler = ParentBased(ALWAYS_ON if share >= 1 else TraceIdRatioBased(share))
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(dropped))
        tracing_setup.enable(provider)
    entry = importlib.import_module(f"services.{service}.__main__")
    status: int = entry.main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
