"""Prometheus metrics every service exposes at `/metrics`."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("events_published_total", "Outbox events relayed", ["service", "type"])
EVENTS_HANDLED = Counter("events_handled_total", "Events consumed", ["service", "type", "outcome"])
