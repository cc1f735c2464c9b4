"""The bounded buffer between request handlers and the log writer thread."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client import REGISTRY

from services.runtime import logs


def _dropped() -> float:
    return REGISTRY.get_sample_value("streammesh_log_records_dropped_total") or 0.0


def test_past_its_bound_the_buffer_drops_and_counts_but_keeps_control_items() -> None:
    buffer = logs._LogBuffer(bound=3)
    before = _dropped()
    for line in ("a", "b", "c", "d", "e"):
        buffer.add(line)
    marker = logs._Flushed()
    buffer.add_control(marker)  # a flush marker must get through a full buffer
    assert list(buffer.items) == ["a", "b", "c", marker]
    assert _dropped() == before + 2


def test_lines_reach_the_stream_in_the_order_they_were_logged() -> None:
    stream = io.StringIO()
    logs.configure_logging("ordering", stream=stream)
    try:
        logger = logging.getLogger("streammesh.test.ordering")
        for index in range(500):
            # Alternate the two paths into the buffer: finished lines and records.
            if index % 2:
                logger.info("record %d", index)
            else:
                assert logs.emit_line(logger, json.dumps({"msg": f"line {index}"}))
        logs.wait_written()
    finally:
        logs.unconfigure_logging()
    messages = [json.loads(line).get("msg", "") for line in stream.getvalue().splitlines()]
    expected = [f"{'record' if i % 2 else 'line'} {i}" for i in range(500)]
    assert [m for m in messages if m.split()[0] in ("record", "line")] == expected
