"""Where the events backbone finds Redis, and the stream key prefix.

These are settings of the mesh, not of one service: ``STREAMMESH_REDIS_URL``
names the Redis that holds the streams; without it, ``STREAMMESH_BACKENDS``
(``embedded``, the default of ``streammesh up``, or ``real``) picks the
embedded redis-server or the real one, as every service does
(services/runtime/backends.py). ``STREAMMESH_EVENTS_PREFIX`` (empty by
default) is put in front of every stream name; tests use it to keep runs apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.events import streams
from services.runtime import backends, settings
from services.runtime.settings import setting


@dataclass(frozen=True)
class EventsConfig:
    """Bound with no service: only the mesh-wide ``STREAMMESH_<X>`` variables."""

    # The Redis of the streams; may hold a password: secret. Defaults to the backends' Redis.
    redis_url: str = field(metadata=setting(secret=True, default_from=backends.redis_url))
    # Put before every stream name (STREAMMESH_EVENTS_PREFIX).
    stream_prefix: str = field(default="", metadata=setting("EVENTS_PREFIX"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EventsConfig:
        return settings.from_env(cls, None, environ)

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
