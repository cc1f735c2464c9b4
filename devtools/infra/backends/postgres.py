"""PostgreSQL from the Debian package, as our own postgres with its own cluster folder."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg

from devtools.infra import endpoints
from devtools.infra.backend import Backend
from devtools.infra.errors import InfraError

# PostgreSQL refuses to run as root; as root we use the account its package creates.
SERVICE_USER = "postgres"
_CONNECT_TIMEOUT_SECONDS = 3.0


def _server_bin() -> Path:
    """The bin folder of the newest installed server version."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise InfraError("no server under /usr/lib/postgresql; is `postgresql` installed?")
    return candidates[-1].parent


class Postgres(Backend):
    name = "postgres"
    title = "PostgreSQL"
    port = endpoints.POSTGRES_PORT
    apt_packages = ("postgresql",)
    # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
    stop_signal = signal.SIGINT
    stop_grace_seconds = 60.0
    ready_timeout_seconds = 60.0
    not_ready_errors = (asyncpg.PostgresError, asyncpg.InterfaceError)

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    def run_as(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def environment(self) -> Mapping[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    def prepare(self) -> None:
        for folder in (self.home, self.home / "logs", self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        user = self.run_as()
        if user is not None:
            account = pwd.getpwnam(user)
            for folder in (self.home, self.socket_dir):
                os.chown(folder, account.pw_uid, account.pw_gid)
        if (self.datadir / "PG_VERSION").exists():
            return
        password_file = self.home / "admin.pw"
        password_file.write_text(endpoints.POSTGRES_ADMIN_PASSWORD + "\n")
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(_server_bin() / "initdb"),
                    f"--pgdata={self.datadir}",
                    f"--username={endpoints.POSTGRES_ADMIN_USER}",
                    f"--pwfile={password_file}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                check=False,
                user=user,
                env=dict(self.environment()),
                cwd=self.home,
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            self.log_path.write_text(result.stdout + result.stderr)
            raise InfraError("initdb failed", self.log_path)

    def command(self) -> Sequence[str]:
        settings = {
            "listen_addresses": endpoints.HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
            "shared_buffers": "128MB",
            # Off for the sessions that do not ask (tests' scratch databases);
            # the analytics store asks for "on" on each of its connections,
            # since it acknowledges an event once its commit returns.
            "synchronous_commit": "off",
            "logging_collector": "off",
        }
        flags = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        return [str(_server_bin() / "postgres"), "-D", str(self.datadir), *flags]

    async def _admin(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(
            endpoints.postgres_admin_url(database, self.port), timeout=_CONNECT_TIMEOUT_SECONDS
        )

    async def probe(self) -> str:
        connection = await self._admin()
        try:
            version = await connection.fetchval("SHOW server_version")
        finally:
            await connection.close()
        return str(version).split()[0]

    async def provision(self) -> None:
        connection = await self._admin()
        try:
            for service in endpoints.POSTGRES_SERVICE_DATABASES:
                # Identifiers cannot be parameters; service names are our own constants.
                if not await connection.fetchval(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1", service
                ):
                    await connection.execute(
                        f"CREATE ROLE \"{service}\" LOGIN PASSWORD '{service}'"
                    )
                if not await connection.fetchval(
                    "SELECT 1 FROM pg_database WHERE datname = $1", service
                ):
                    await connection.execute(f'CREATE DATABASE "{service}" OWNER "{service}"')
        finally:
            await connection.close()
