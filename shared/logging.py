"""Structured logs: JSON lines in production, readable lines in development.

The request id and user id of the current request live in context variables and are written
in every log line, so one grep follows a request through every service. When the app traces
(`shared.tracing`), so is the id of the current trace (`trace_id`, while a sampled span is
current): the line and its trace find each other.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from shared.tracing import current_trace_id

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class _ContextFilter(logging.Filter):
    def __init__(self, service: str, *, trace_ids: bool = False) -> None:
        super().__init__()
        self.service = service
        self.trace_ids = trace_ids

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        if self.trace_ids:
            record.trace_id = current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _RESERVED and v is not None})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class DevFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _RESERVED and k != "service" and v is not None
        }
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()} {tail}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    *, service: str, level: str = "INFO", json_lines: bool = False, trace_ids: bool = False
) -> None:
    """Log lines to stdout, each with the request's context; with `trace_ids`, the trace's id
    too (off when nothing traces: no lookup per line)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else DevFormatter())
    handler.addFilter(_ContextFilter(service, trace_ids=trace_ids))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access log replaces uvicorn's (it has the request id, user and duration).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
