"""Settings of the echo service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime import settings
from services.runtime.config import ServerConfig
from services.runtime.settings import nested

SERVICE = "echo"


@dataclass(frozen=True)
class Config:
    """The echo service has no store; it can forward to another echo server."""

    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # Target of another EchoService that Echo forwards to (``host:port``), so a
    # two-hop call checks a whole path through the mesh; None answers locally.
    # Read from STREAMMESH_ECHO_FORWARD_TO (then STREAMMESH_FORWARD_TO).
    forward_to: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
