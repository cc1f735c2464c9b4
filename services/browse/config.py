"""Configuration of the browse service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_BROWSE_X``, then ``STREAMMESH_X``,
then the default below (services/runtime/settings.py); ``streammesh config
browse`` shows what is in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime import backends, settings
from services.runtime.config import ServerConfig
from services.runtime.settings import nested

DEFAULT_GENRES = ("International TV Shows", "Dramas", "Comedies", "Documentaries")


@dataclass(frozen=True)
class Config:
    """What GetHome composes and how long it may take.

    Environment: ``STREAMMESH_BROWSE_CARDS_PER_ROW``, ``STREAMMESH_BROWSE_GENRES``
    (comma-separated catalog genres, one row each), ``STREAMMESH_BROWSE_ROW_TIMEOUT_SECONDS``,
    ``STREAMMESH_BROWSE_PROFILE_TIMEOUT_SECONDS``,
    ``STREAMMESH_BROWSE_BECAUSE_YOU_WATCHED_ROWS``, plus the ``ServerConfig`` variables.
    """

    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(
        default_factory=lambda: ServerConfig(service="browse"), metadata=nested()
    )
    # Tiles per row when the request does not say.
    cards_per_row: int = 20
    # Genre rows, in screen order.
    genres: tuple[str, ...] = DEFAULT_GENRES
    # A row slower than this is dropped and reported, so one slow dependency
    # never holds the whole page; the caller's deadline bounds it further.
    row_timeout_seconds: float = 0.5
    # The profile lookup gates every row; it gets a little longer.
    profile_timeout_seconds: float = 1.0
    # "Because you watched <title>" rows at most: one per distinct watched title
    # behind the profile's top picks, in their order (0 turns them off).
    because_you_watched_rows: int = 2
    # The row cache (services/browse/rows.py), in the process's near cache:
    # how long a catalog row (new in, genres), the trending row and a
    # profile's own rows are reused. Catalog writes and the profile's views
    # drop them sooner; 0 turns that kind off.
    shared_rows_ttl_seconds: float = 60.0
    trending_row_ttl_seconds: float = 30.0
    profile_rows_ttl_seconds: float = 10.0
    # "embedded" or "real": which Redis carries the caches' invalidations and
    # the history's stream (STREAMMESH_BACKENDS by default).
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # May hold a password: secret. Empty: no row cache.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
    )
    # The mesh's key prefix: the catalog's invalidations and the history's stream are under it.
    redis_prefix: str = "streammesh:"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, "browse", environ)
