"""Where the events backbone finds Redis, and the stream key prefix.

``STREAMMESH_REDIS_URL`` names the Redis that holds the streams; without it,
``STREAMMESH_BACKENDS`` (``embedded``, the default of ``streammesh up``, or
``real``) picks the embedded redis-server on 6380 or the real one on 6379, as
every service does. ``STREAMMESH_EVENTS_PREFIX`` (empty by default) is put in
front of every stream name; tests use it to keep runs apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from services.events import streams

REAL_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
EMBEDDED_REDIS_URL: Final = "redis://127.0.0.1:6380/0"


@dataclass(frozen=True)
class EventsConfig:
    """redis_url: the Redis of the streams; stream_prefix: put before every stream name."""

    redis_url: str
    stream_prefix: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EventsConfig:
        backends = environ.get("STREAMMESH_BACKENDS", "embedded")
        if backends not in ("embedded", "real"):
            raise ValueError(f"STREAMMESH_BACKENDS={backends!r}: expected embedded or real")
        default = REAL_REDIS_URL if backends == "real" else EMBEDDED_REDIS_URL
        return cls(
            redis_url=environ.get("STREAMMESH_REDIS_URL", default),
            stream_prefix=environ.get("STREAMMESH_EVENTS_PREFIX", ""),
        )

    def stream(self, domain_or_stream: str) -> str:
        """``users`` or ``streammesh.users`` -> the prefixed stream name."""
        bare = domain_or_stream.removeprefix(self.stream_prefix)
        domain = bare.removeprefix("streammesh.")
        return streams.stream_name(domain, self.stream_prefix)


def stream_prefix_for(
    service_redis_prefix: str,
    *,
    default_redis_prefix: str = "streammesh:",
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The stream prefix of a producing service's relay.

    ``STREAMMESH_EVENTS_PREFIX`` when set; otherwise none for a service on
    the default Redis key prefix (streams are ``streammesh.users``), and the
    service's own prefix when it was given one (tests give each server its
    own, and its events then stay under it too).
    """
    if "STREAMMESH_EVENTS_PREFIX" in environ:
        return environ["STREAMMESH_EVENTS_PREFIX"]
    return "" if service_redis_prefix == default_redis_prefix else service_redis_prefix
