"""``streammesh top`` and ``streammesh trace``: the mesh's monitoring in a terminal."""

from __future__ import annotations

from typing import Any

from devtools.observability import top, trace


def register(subparsers: Any) -> None:
    top.register(subparsers)
    trace.register(subparsers)
