"""The edge access log's slow requests, as ``streammesh up`` reports them.

Envoy's real lines are read in test_gethome_trace.py; here, what is not a
slow traced request is skipped, and the watch reads each line once.
"""

from __future__ import annotations

import json
from pathlib import Path

from devtools.observability.slow_requests import SlowRequestWatch, parse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _line(duration_ms: int | str, trace_id: str = TRACE, path: str = "/v1/titles") -> str:
    return json.dumps(
        {
            "logger": "edge.access",
            "path": path,
            "status": "200",
            "duration_ms": duration_ms,
            "trace_id": trace_id,
        }
    )


def test_what_is_not_a_slow_traced_request_is_skipped() -> None:
    assert parse("") is None
    assert parse("[2026-12-01 13:00:00.000][1][info] starting main dispatch loop") is None
    assert parse("{not json") is None
    assert parse(_line("-")) is None  # Envoy's duration of a request it never finished
    assert parse(_line(499)) is None
    assert parse(_line(900, trace_id="-")) is None
    assert parse(_line(900, trace_id="0" * 32)) is None
    assert (
        parse(json.dumps({"logger": "edge.admin", "duration_ms": 900, "trace_id": TRACE})) is None
    )


def test_a_slow_traced_request_names_its_trace_and_the_command_to_open_it() -> None:
    request = parse(_line(812, path="/v1/profiles/7/home"))
    assert request is not None
    assert request.duration_ms == 812
    assert request.line() == (
        f"slow request: /v1/profiles/7/home 200 in 812 ms, trace {TRACE}: streammesh trace {TRACE}"
    )


def test_the_watch_reads_new_lines_once_and_waits_for_a_line_to_end(tmp_path: Path) -> None:
    log = tmp_path / "edge.log"
    log.write_text(_line(3000, trace_id="1" * 32) + "\n")
    watch = SlowRequestWatch(log)
    assert watch.poll() is None  # what was there before up started is old news
    with log.open("a") as out:
        out.write(_line(700, trace_id="2" * 32) + "\n" + _line(20) + "\n")
        out.write(_line(900)[:30])
    request = watch.poll()
    assert request is not None
    assert request.trace_id == "2" * 32
    assert watch.poll() is None
    with log.open("a") as out:
        out.write(_line(900)[30:] + "\n")
    request = watch.poll()
    assert request is not None
    assert request.trace_id == TRACE


def test_a_missing_log_is_no_slow_request(tmp_path: Path) -> None:
    assert SlowRequestWatch(tmp_path / "absent.log").poll() is None
