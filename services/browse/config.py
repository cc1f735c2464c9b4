"""Configuration of the browse service, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime.config import ServerConfig

DEFAULT_GENRES = ("International TV Shows", "Dramas", "Comedies", "Documentaries")


@dataclass(frozen=True)
class Config:
    """What GetHome composes and how long it may take.

    Environment: ``STREAMMESH_BROWSE_CARDS_PER_ROW``, ``STREAMMESH_BROWSE_GENRES``
    (comma-separated catalog genres, one row each), ``STREAMMESH_BROWSE_ROW_TIMEOUT_SECONDS``,
    plus the ``ServerConfig`` variables.
    """

    server: ServerConfig = field(default_factory=lambda: ServerConfig(service="browse"))
    # Tiles per row when the request does not say.
    cards_per_row: int = 20
    # Genre rows, in screen order.
    genres: tuple[str, ...] = DEFAULT_GENRES
    # A row slower than this is dropped and reported, so one slow dependency
    # never holds the whole page; the caller's deadline bounds it further.
    row_timeout_seconds: float = 0.5
    # The profile lookup gates every row; it gets a little longer.
    profile_timeout_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        genres = environ.get("STREAMMESH_BROWSE_GENRES")
        return cls(
            server=ServerConfig.from_env("browse", environ),
            cards_per_row=int(environ.get("STREAMMESH_BROWSE_CARDS_PER_ROW", cls.cards_per_row)),
            genres=tuple(g.strip() for g in genres.split(",") if g.strip())
            if genres
            else DEFAULT_GENRES,
            row_timeout_seconds=float(
                environ.get("STREAMMESH_BROWSE_ROW_TIMEOUT_SECONDS", cls.row_timeout_seconds)
            ),
            profile_timeout_seconds=float(
                environ.get(
                    "STREAMMESH_BROWSE_PROFILE_TIMEOUT_SECONDS", cls.profile_timeout_seconds
                )
            ),
        )
