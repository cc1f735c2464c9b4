"""``streammesh trace TRACE_ID``: one trace as a terminal waterfall, from Jaeger's API.

Spans in tree order (a child under its parent, siblings by start time), each
with its service, name, offset, duration, status and a bar on the trace's
time line. Span links (an event consumer's span pointing at the producer's)
show as ``↳ link``: they join a device request to the work its events caused.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from devtools.observability.jaeger import QUERY_HTTP_PORT

REQUEST_TIMEOUT_SECONDS = 5.0
BAR_WIDTH = 40


class TraceUnavailable(RuntimeError):
    """Jaeger did not answer, or has no such trace."""


@dataclass
class Span:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int
    error: bool
    status: str
    links: list[str] = field(default_factory=list)
    children: list[Span] = field(default_factory=list)


def fetch(jaeger_url: str, trace_id: str) -> dict[str, Any]:
    url = f"{jaeger_url.rstrip('/')}/api/traces/{trace_id}"
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise TraceUnavailable(f"no trace {trace_id} at {jaeger_url} ({err.code})") from err
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise TraceUnavailable(f"{jaeger_url}: {err}") from err
    traces = body.get("data") or []
    if not traces:
        raise TraceUnavailable(f"no trace {trace_id} at {jaeger_url}")
    trace: dict[str, Any] = traces[0]
    return trace


def _tags(raw: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in raw.get("tags", [])}


def spans_of(trace: dict[str, Any]) -> list[Span]:
    """The roots of the span tree (a span whose parent is missing is a root)."""
    processes = trace.get("processes", {})
    spans: dict[str, Span] = {}
    for raw in trace["spans"]:
        tags = _tags(raw)
        parent = None
        links = []
        for reference in raw.get("references", []):
            if reference["refType"] == "CHILD_OF" and reference["traceID"] == raw["traceID"]:
                parent = reference["spanID"]
            else:
                links.append(f"{reference['traceID']}/{reference['spanID']}")
        code = tags.get("rpc.grpc.status_code", tags.get("http.status_code", ""))
        error = bool(tags.get("error")) or tags.get("otel.status_code") == "ERROR"
        spans[raw["spanID"]] = Span(
            span_id=raw["spanID"],
            parent_id=parent,
            service=processes.get(raw["processID"], {}).get("serviceName", "?"),
            name=raw["operationName"],
            start_us=int(raw["startTime"]),
            duration_us=int(raw["duration"]),
            error=error,
            status=("ERROR " if error else "OK ") + (str(code) if code != "" else ""),
            links=links,
        )
    roots: list[Span] = []
    for span in spans.values():
        parent = spans.get(span.parent_id) if span.parent_id else None
        (parent.children if parent else roots).append(span)
    for span in spans.values():
        span.children.sort(key=lambda child: child.start_us)
    return sorted(roots, key=lambda span: span.start_us)


def walk(roots: list[Span]) -> list[tuple[int, Span]]:
    """(depth, span) in tree order."""
    ordered: list[tuple[int, Span]] = []
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, span = stack.pop()
        ordered.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(span.children))
    return ordered


def render(trace_id: str, roots: list[Span]) -> Table:
    rows = walk(roots)
    start = min(span.start_us for _, span in rows)
    end = max(span.start_us + span.duration_us for _, span in rows)
    total = max(end - start, 1)
    table = Table(title=f"trace {trace_id} — {len(rows)} spans, {total / 1000:.1f} ms")
    for column in ("service", "span", "start", "duration", "status", "waterfall"):
        table.add_column(column, justify="right" if column in ("start", "duration") else "left")
    for depth, span in rows:
        offset = int((span.start_us - start) / total * BAR_WIDTH)
        width = max(1, int(span.duration_us / total * BAR_WIDTH))
        bar = Text(" " * offset + "█" * min(width, BAR_WIDTH - offset))
        bar.stylize("red" if span.error else "cyan")
        name = "  " * depth + span.name + "".join("  ↳ link" for _ in span.links)
        table.add_row(
            span.service,
            name,
            f"{(span.start_us - start) / 1000:.2f} ms",
            f"{span.duration_us / 1000:.2f} ms",
            Text(span.status.strip(), style="red" if span.error else "green"),
            bar,
        )
    return table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "trace", help="show one trace as a terminal waterfall, read from Jaeger's API"
    )
    parser.add_argument("trace_id", metavar="TRACE_ID", help="32 hex digits (log lines carry it)")
    parser.add_argument(
        "--jaeger",
        default=os.environ.get("STREAMMESH_JAEGER_URL", f"http://127.0.0.1:{QUERY_HTTP_PORT}"),
        help="Jaeger's query API",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        trace = fetch(args.jaeger, args.trace_id)
    except TraceUnavailable as err:
        console.print(f"[red]{err}[/]")
        return 1
    console.print(render(args.trace_id, spans_of(trace)))
    return 0
