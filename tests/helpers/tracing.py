"""Traces in tests: apps that export to an in-memory exporter instead of a collector.

`capture_spans(monkeypatch)` swaps the OTLP exporter `shared.tracing.setup_tracing` makes for an
in-memory one: every app built afterwards with `TRACED` in its settings (a collector's URL, the
production switch) traces exactly as deployed, its spans batched into that exporter.
`await flushed(exporter, *apps)` hands over what the apps' batches hold and returns every span.
"""

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import shared.tracing

TRACED = {"otel_exporter_otlp_endpoint": "http://collector.test:4318"}


def capture_spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(shared.tracing, "otlp_exporter", lambda endpoint: exporter)
    return exporter


async def flushed(exporter: InMemorySpanExporter, *apps: Any) -> Sequence[ReadableSpan]:
    for app in apps:
        await app.state.tracing.flush()
    return exporter.get_finished_spans()


def service_of(span: ReadableSpan) -> str:
    """The `service.name` of the app that made the span."""
    return str(span.resource.attributes["service.name"])


def trace_id_of(traceparent: str) -> int:
    """The trace id in a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    return int(traceparent.split("-")[1], 16)
