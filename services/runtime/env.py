"""Reading a service's settings from the environment, the same way everywhere.

A setting ``X`` of service ``users`` is read from ``STREAMMESH_USERS_X``,
then ``STREAMMESH_X`` (shared by every service of a host), then the default.
Empty values count as unset. A value that does not parse raises ValueError
naming the variable, so a typo stops the process at start-up, not later.

This module is the naming rule and the parsers; services/runtime/settings.py
binds whole config dataclasses with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Literal, TypeVar

T = TypeVar("T")

PREFIX: Final = "STREAMMESH_"

# Which variable a value came from: the service's own, or the mesh-wide one.
Scope = Literal["service", "mesh"]


class ServiceEnv:
    """The environment as seen by one service (``None``: mesh-wide settings only)."""

    def __init__(self, service: str | None, environ: Mapping[str, str]) -> None:
        self.service = service
        self._scopes: tuple[tuple[Scope, str], ...] = (
            (("service", f"{PREFIX}{service.upper()}_"), ("mesh", PREFIX))
            if service
            else (("mesh", PREFIX),)
        )
        self._environ = environ

    def variables(self, name: str) -> tuple[str, ...]:
        """The variables setting ``name`` is read from, the one that wins first."""
        return tuple(prefix + name for _, prefix in self._scopes)

    def lookup(self, name: str) -> tuple[Scope, str, str] | None:
        """(scope, variable, raw value) of the first non-empty variable of ``name``."""
        for scope, prefix in self._scopes:
            variable = prefix + name
            raw = self._environ.get(variable)
            if raw:
                return scope, variable, raw
        return None

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        found = self.lookup(name)
        if found is None:
            return default
        _, variable, raw = found
        return parse_as(variable, raw, parse)


def parse_as(variable: str, raw: str, parse: Callable[[str], T]) -> T:
    """``parse(raw)``; a ValueError names the variable and the value."""
    try:
        return parse(raw)
    except ValueError as error:
        raise ValueError(f"{variable}={raw!r}: {error}") from None


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
