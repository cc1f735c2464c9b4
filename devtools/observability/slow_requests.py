"""The last slow device request, read from the edge's access log: its trace id, to open.

Envoy writes one JSON line per request (services/edge/render.py's access
log: ``duration_ms``, ``path``, ``status``, ``trace_id``). ``streammesh up``
keeps a :class:`SlowRequestWatch` on that log and prints each new slow
request's trace id with the command that opens it, so the slowest thing a
person just did in the app is one copy-paste away from its waterfall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The services' p99 SLO (monitoring/rules/mesh.yml): slower than this is slow.
SLOW_REQUEST_MS: Final = 500
# Bytes read per poll at most, so a flood of lines never stalls the caller.
MAX_READ_BYTES: Final = 1 << 20
# A trace id of all zeroes is Envoy's "not traced".
_NO_TRACE: Final = frozenset({"", "-", "0" * 32})


@dataclass(frozen=True)
class SlowRequest:
    path: str
    status: str
    duration_ms: int
    trace_id: str

    def line(self) -> str:
        """What ``streammesh up`` prints."""
        return (
            f"slow request: {self.path} {self.status} in {self.duration_ms} ms, "
            f"trace {self.trace_id}: streammesh trace {self.trace_id}"
        )


def parse(line: str, threshold_ms: int = SLOW_REQUEST_MS) -> SlowRequest | None:
    """The request of one access-log line if it was slow and traced, else None."""
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
        duration = int(entry.get("duration_ms", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    trace_id = str(entry.get("trace_id") or "")
    if entry.get("logger") != "edge.access" or duration < threshold_ms or trace_id in _NO_TRACE:
        return None
    return SlowRequest(str(entry.get("path", "")), str(entry.get("status", "")), duration, trace_id)


class SlowRequestWatch:
    """Reads what the access log gained since the last :meth:`poll` (from its end at start)."""

    def __init__(self, log: Path, threshold_ms: int = SLOW_REQUEST_MS) -> None:
        self._log = log
        self._threshold_ms = threshold_ms
        self._offset = log.stat().st_size if log.exists() else 0
        self._partial = b""

    def poll(self) -> SlowRequest | None:
        """The last slow request among the new lines, or None."""
        try:
            with self._log.open("rb") as log:
                size = log.seek(0, 2)
                if size < self._offset:  # the log was replaced
                    self._offset, self._partial = 0, b""
                log.seek(self._offset)
                chunk = log.read(MAX_READ_BYTES)
        except OSError:
            return None
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        last = None
        for raw in lines:
            found = parse(raw.decode("utf-8", "replace").strip(), self._threshold_ms)
            if found is not None:
                last = found
        return last
