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
import collections
import contextlib
import copy
import datetime
import json
import logging
import logging.handlers
import sys
import threading
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


class _Flushed(threading.Event):
    """Set by the writer once every item queued before it is written (wait_written)."""


class _LogBuffer:
    """What the writer thread has yet to write, in order: LogRecords and finished lines.

    A deque rather than queue.Queue: ``put_nowait`` takes a lock and notifies
    a Condition per item, a dozen Python calls that under load cost an RPC
    several microseconds of cold cache each. Appending to a deque is atomic
    and one C call; the writer is woken only by the first item of a batch.
    Holds at most ``bound`` items (checked without a lock, so threads racing
    past the check may add a few more); beyond that items are dropped and
    counted.
    """

    def __init__(self, bound: int) -> None:
        self.items: collections.deque[logging.LogRecord | str | _Flushed | None] = (
            collections.deque()
        )
        self.bound = bound
        self.wake = threading.Event()

    def add(self, item: logging.LogRecord | str) -> None:
        if len(self.items) >= self.bound:
            _DROPPED.inc()
            return
        self.items.append(item)
        if not self.wake.is_set():
            self.wake.set()

    def add_control(self, item: _Flushed | None) -> None:
        """A flush marker or the stop sentinel (None): never dropped."""
        self.items.append(item)
        self.wake.set()


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that hands records to the writer's buffer and never blocks."""

    def __init__(self, buffer: _LogBuffer) -> None:
        super().__init__(buffer)  # type: ignore[arg-type]
        self.buffer = buffer

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Render args and the stack now: the writer formats a copy later,
        # and exc_info holds frames that must not outlive this call.
        prepared = copy.copy(record)
        prepared.msg = record.getMessage()
        prepared.args = None
        if record.exc_info:
            prepared.exc_text = logging.Formatter().formatException(record.exc_info)
            prepared.exc_info = None
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        self.buffer.add(record)


# The writer thread wakes at most this often: lines are written in batches,
# one write and flush each, instead of a wake-up, write and flush per line
# (each wake-up takes the GIL from the event loop). Bounds how late a line
# reaches the stream, not how many wait (that is QUEUE_BOUND).
BATCH_SECONDS = 0.01


class _Writer:
    """The thread that formats and writes what accumulated every BATCH_SECONDS, in one write."""

    def __init__(self, buffer: _LogBuffer, output: logging.StreamHandler[TextIO]) -> None:
        self._buffer = buffer
        self._output = output
        self._thread = threading.Thread(target=self._run, name="streammesh-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Writes everything queued, then ends the thread."""
        self._buffer.add_control(None)
        self._thread.join()

    def _run(self) -> None:
        buffer, items, output = self._buffer, self._buffer.items, self._output
        stopping = False
        while not stopping:
            buffer.wake.wait()
            time.sleep(BATCH_SECONDS)
            # Cleared before draining: an item added from here on sets it again.
            buffer.wake.clear()
            texts: list[str] = []
            flushed: list[_Flushed] = []
            while items:
                item = items.popleft()
                if isinstance(item, str):
                    texts.append(item)
                elif item is None:
                    stopping = True
                elif isinstance(item, _Flushed):
                    flushed.append(item)
                elif item.levelno >= output.level:
                    try:
                        texts.append(output.format(item))
                    except Exception:  # noqa: BLE001 - a bad record must not stop the writer
                        output.handleError(item)
            if texts:
                self._write("\n".join(texts) + "\n")
            for marker in flushed:
                marker.set()

    def _write(self, text: str) -> None:
        output = self._output
        with output.lock or contextlib.nullcontext():
            try:
                output.stream.write(text)
                output.stream.flush()
            except (OSError, ValueError):
                # A closed or full stream: the lines are lost, the service goes on.
                _DROPPED.inc(text.count("\n"))


_writer: _Writer | None = None
# The writer's buffer while it runs: where emit_line puts finished lines.
_buffer: _LogBuffer | None = None


def emit_line(logger: logging.Logger, text: str) -> bool:
    """Queues a finished JSON line for ``logger``; False when logging is not configured.

    The caller checks ``logger.isEnabledFor`` first and, on False, logs the
    ordinary way.
    """
    buffer = _buffer
    if buffer is None:
        return False
    buffer.add(text)
    return True


def wait_written(timeout: float = 10.0) -> None:
    """Blocks until every line queued so far is written (tests read the stream after it)."""
    if _buffer is not None and _writer is not None:
        marker = _Flushed()
        _buffer.add_control(marker)
        marker.wait(timeout)


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
    global _writer, _buffer
    flush_logging()
    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(JsonFormatter(service))
    buffer = _LogBuffer(QUEUE_BOUND)
    handler = _DroppingQueueHandler(buffer)
    handler.addFilter(TraceContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _DroppingQueueHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in SECRET_LEAKING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _writer = _Writer(buffer, output)
    _writer.start()
    _buffer = buffer


def unconfigure_logging() -> None:
    """Writes what is queued and removes the JSON handler (tests restore the default)."""
    flush_logging()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _DroppingQueueHandler):
            root.removeHandler(existing)


def flush_logging() -> None:
    """Writes every queued record; called at shutdown so the last lines survive."""
    global _writer, _buffer
    _buffer = None
    if _writer is not None:
        _writer.stop()
        _writer = None


atexit.register(flush_logging)
