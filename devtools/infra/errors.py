"""The one error ``streammesh infra`` reports to its user."""

from __future__ import annotations

from pathlib import Path


class InfraError(Exception):
    """A backend could not be installed, started or stopped.

    log_path names the log whose tail explains it, when there is one.
    """

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path
