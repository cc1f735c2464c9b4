"""Reading a service's settings from the environment, the same way everywhere.

A setting ``X`` of service ``users`` is read from ``STREAMMESH_USERS_X``,
then ``STREAMMESH_X`` (shared by every service of a host), then the default.
Empty values count as unset. A value that does not parse raises ValueError
naming the variable, so a typo stops the process at start-up, not later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


class ServiceEnv:
    """The environment as seen by one service."""

    def __init__(self, service: str, environ: Mapping[str, str]) -> None:
        self._prefixes = (f"STREAMMESH_{service.upper()}_", "STREAMMESH_")
        self._environ = environ

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        for prefix in self._prefixes:
            variable = prefix + name
            raw = self._environ.get(variable)
            if raw is None or raw == "":
                continue
            try:
                return parse(raw)
            except ValueError as error:
                raise ValueError(f"{variable}={raw!r}: {error}") from None
        return default


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def parse_list(value: str) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())
