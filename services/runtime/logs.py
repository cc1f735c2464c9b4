"""JSON log lines for every StreamMesh process, with the current trace ids.

One JSON object per line on stderr (``streammesh up`` sends it to
``.streammesh/logs/<service>.log``): ``ts``, ``level``, ``logger``, ``msg``,
``service``, ``trace_id`` and ``span_id`` of the active OpenTelemetry span, any
``extra={...}`` fields, and ``exc`` (the stack) for ``logger.exception``.

The formatter is twenty lines of our own rather than python-json-logger: it
needs to read the trace context at the moment of the call (a filter, below),
fix the field names the rest of the mesh greps for, and nothing else.

Writing is moved off the event loop: records go through a bounded queue
(``QUEUE_BOUND``) to a listener thread that formats and writes them. A full
queue drops the record and counts it in ``streammesh_log_records_dropped_total``
instead of stalling every RPC behind a slow disk.

The access log (one line per RPC, interceptors.access_log) skips the logging
machinery: building a LogRecord, copying it for the queue and formatting it
as JSON in the listener cost about a fifth of a trivial RPC's time, and the
listener thread takes the GIL from the event loop to do it. It builds its
line itself and hands the text to :func:`emit_line`, which puts it on the same
bounded queue (same order, same drop counter, same stream). Before
:func:`configure_logging` (tests, tools) it goes through ``logging`` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime
import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any, TextIO

from opentelemetry import trace
from prometheus_client import Counter

QUEUE_BOUND = 10_000

_DROPPED = Counter(
    "streammesh_log_records_dropped_total",
    "Log records dropped because the log queue was full.",
)

# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "trace_id", "span_id", "service"}
)


class TraceContextFilter(logging.Filter):
    """Stamps the active span's ids on the record in the caller's context.

    It must run where the record is created: the listener thread that formats
    it later does not see the caller's contextvars.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
                record.span_id = format(context.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        if type(record) is PreformattedLine:
            return record.msg
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            # An access-log line names the service that served the call, which
            # differs from the process's when tests host several in one process.
            "service": getattr(record, "service", self._service),
            # Tells apart the workers of a service sharing its port.
            "pid": record.process,
        }
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            entry["trace_id"] = trace_id
            entry["span_id"] = getattr(record, "span_id", None)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class PreformattedLine(logging.LogRecord):
    """A finished JSON line on its way through the log queue (see the module docstring)."""

    def __init__(self, text: str, name: str, level: int = logging.INFO) -> None:
        # Deliberately not LogRecord.__init__: avoiding its cost is the point.
        # These are the attributes the listener and StreamHandler read.
        self.msg = text
        self.args = None
        self.name = name
        self.levelno = level
        self.levelname = logging.getLevelName(level)
        self.exc_info = None
        self.exc_text = None
        self.stack_info = None


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that drops (and counts) instead of blocking when full."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Render args and the stack now: the listener formats a copy later,
        # and exc_info holds frames that must not outlive this call.
        prepared = copy.copy(record)
        prepared.msg = record.getMessage()
        prepared.args = None
        if record.exc_info:
            prepared.exc_text = logging.Formatter().formatException(record.exc_info)
            prepared.exc_info = None
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            _DROPPED.inc()


# The writer thread wakes at most this often: lines are written in batches,
# one write and flush each, instead of a wake-up, write and flush per line
# (each wake-up takes the GIL from the event loop). Bounds how late a line
# reaches the stream, not how many wait (that is QUEUE_BOUND).
BATCH_SECONDS = 0.01


class _BatchingListener(logging.handlers.QueueListener):
    """A QueueListener that writes what accumulated every BATCH_SECONDS in one write."""

    def __init__(self, records: queue.Queue[Any], output: logging.StreamHandler[TextIO]) -> None:
        super().__init__(records, output, respect_handler_level=True)
        self._output = output

    def _monitor(self) -> None:
        records: queue.Queue[Any] = self.queue  # type: ignore[assignment]
        stopping = False
        while not stopping:
            batch = [records.get()]
            time.sleep(BATCH_SECONDS)
            while True:
                try:
                    batch.append(records.get_nowait())
                except queue.Empty:
                    break
            texts: list[str] = []
            for record in batch:
                if record is None:  # QueueListener.stop()'s sentinel
                    stopping = True
                elif record.levelno >= self._output.level:
                    try:
                        texts.append(self._output.format(record))
                    except Exception:  # noqa: BLE001 - a bad record must not stop the writer
                        self._output.handleError(record)
            if texts:
                self._write("\n".join(texts) + "\n")
            for _ in batch:
                records.task_done()

    def _write(self, text: str) -> None:
        output = self._output
        with output.lock or contextlib.nullcontext():
            try:
                output.stream.write(text)
                output.stream.flush()
            except (OSError, ValueError):
                # A closed or full stream: the lines are lost, the service goes on.
                _DROPPED.inc(text.count("\n"))


_listener: logging.handlers.QueueListener | None = None
# The listener's queue while it runs: where emit_line puts finished lines.
_lines: queue.Queue[logging.LogRecord] | None = None


def emit_line(logger: logging.Logger, text: str) -> bool:
    """Queues a finished JSON line for ``logger``; False when logging is not configured.

    The caller checks ``logger.isEnabledFor`` first and, on False, logs the
    ordinary way.
    """
    lines = _lines
    if lines is None:
        return False
    try:
        lines.put_nowait(PreformattedLine(text, logger.name))
    except queue.Full:
        _DROPPED.inc()
    return True


def wait_written() -> None:
    """Blocks until every queued line is written (tests read the stream after it)."""
    if _lines is not None and _listener is not None:
        _lines.join()


# Libraries that log request data at DEBUG: protovalidate's CEL interpreter
# (celpy) prints every field it checks, passwords included; aiosqlite and
# SQLAlchemy's engine print SQL parameters, password hashes included. They stay
# at WARNING whatever the service's level, in every service.
SECRET_LEAKING_LOGGERS = ("celpy", "aiosqlite", "sqlalchemy.engine")


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Sends every logger's records as JSON lines to ``stream`` (stderr).

    Idempotent: a second call replaces the first configuration, so tests and
    worker processes can call it freely.
    """
    global _listener, _lines
    flush_logging()
    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(JsonFormatter(service))
    records: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=QUEUE_BOUND)
    handler = _DroppingQueueHandler(records)
    handler.addFilter(TraceContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _DroppingQueueHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in SECRET_LEAKING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _listener = _BatchingListener(records, output)
    _listener.start()
    _lines = records


def unconfigure_logging() -> None:
    """Writes what is queued and removes the JSON handler (tests restore the default)."""
    flush_logging()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _DroppingQueueHandler):
            root.removeHandler(existing)


def flush_logging() -> None:
    """Writes every queued record; called at shutdown so the last lines survive."""
    global _listener, _lines
    _lines = None
    if _listener is not None:
        _listener.stop()
        _listener = None


atexit.register(flush_logging)
