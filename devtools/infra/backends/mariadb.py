"""MariaDB from the Debian package, as our own mariadbd with its own datadir."""

from __future__ import annotations

import getpass
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

import aiomysql

from devtools.infra import endpoints
from devtools.infra.backend import Backend
from devtools.infra.errors import InfraError

# Bounds on one readiness or provisioning query.
_CONNECT_TIMEOUT_SECONDS = 3
# The Debian package's programs by absolute path, whatever PATH says.
MARIADBD = "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = "/usr/bin/mariadb-install-db"


class MariaDB(Backend):
    name = "mariadb"
    title = "MariaDB"
    port = endpoints.MARIADB_PORT
    apt_packages = ("mariadb-server",)
    stop_grace_seconds = 60.0
    ready_timeout_seconds = 60.0
    not_ready_errors = (aiomysql.OperationalError, aiomysql.InternalError)

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket(self) -> Path:
        return self.home / "run" / "mysqld.sock"

    @property
    def config_path(self) -> Path:
        return self.home / "my.cnf"

    @property
    def error_log(self) -> Path:
        return self.home / "logs" / "error.log"

    def failure_logs(self) -> Sequence[Path]:
        return (self.error_log, self.log_path)

    def prepare(self) -> None:
        for folder in ("data", "run", "logs", "tmp"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[mysqld]\n"
            f"user = {getpass.getuser()}\n"
            f"datadir = {self.datadir}\n"
            f"socket = {self.socket}\n"
            f"pid-file = {self.home / 'run' / 'mysqld.pid'}\n"
            f"log-error = {self.error_log}\n"
            f"tmpdir = {self.home / 'tmp'}\n"
            f"bind-address = {endpoints.HOST}\n"
            f"port = {self.port}\n"
            "skip-name-resolve\n"
            "character-set-server = utf8mb4\n"
            "collation-server = utf8mb4_unicode_ci\n"
            # Sized for a shared 2-core development box, not for throughput.
            "innodb_buffer_pool_size = 128M\n"
            "innodb_log_file_size = 48M\n"
            # Flush the redo log once a second: a crash of the server loses
            # nothing, a crash of the machine at most a second of test data.
            "innodb_flush_log_at_trx_commit = 2\n"
            "max_connections = 300\n"
            # Slow_queries counts statements over 1 s: the case study's latency alert.
            "long_query_time = 1\n"
            "[client]\n"
            f"socket = {self.socket}\n"
        )
        if (self.datadir / "mysql").is_dir():
            return
        result = subprocess.run(
            [
                MARIADB_INSTALL_DB,
                f"--defaults-file={self.config_path}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text(result.stdout + result.stderr)
            raise InfraError("mariadb-install-db failed", self.log_path)

    def command(self) -> Sequence[str]:
        return [MARIADBD, f"--defaults-file={self.config_path}"]

    async def _root(self) -> aiomysql.Connection:
        # root@localhost has no password but is reachable only through the
        # socket in our own state folder.
        return await aiomysql.connect(
            unix_socket=str(self.socket),
            user="root",
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            autocommit=True,
        )

    async def _admin(self) -> aiomysql.Connection:
        return await aiomysql.connect(
            host=endpoints.HOST,
            port=self.port,
            user=endpoints.MARIADB_ADMIN_USER,
            password=endpoints.MARIADB_ADMIN_PASSWORD,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        )

    async def probe(self) -> str:
        # Our own server answers on its socket even before the admin account
        # exists; a server of another checkout only over TCP, as the admin.
        connection = await (self._root() if self.socket.exists() else self._admin())
        try:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT VERSION()")
                row = await cursor.fetchone()
        finally:
            connection.close()
        return str(row[0]).split("-")[0]

    async def provision(self) -> None:
        admin, admin_password = endpoints.MARIADB_ADMIN_USER, endpoints.MARIADB_ADMIN_PASSWORD
        statements: list[tuple[str, tuple[str, ...]]] = [
            ("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (admin, admin_password)),
            ("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (admin,)),
        ]
        for service in endpoints.MARIADB_SERVICE_DATABASES:
            # Identifiers cannot be parameters; service names are our own constants.
            statements += [
                (f"CREATE DATABASE IF NOT EXISTS `{service}`", ()),
                ("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (service, service)),
                (f"GRANT ALL PRIVILEGES ON `{service}`.* TO %s@'%%'", (service,)),
            ]
        connection = await self._root()
        try:
            async with connection.cursor() as cursor:
                # On a second `up` every IF NOT EXISTS is a server note, not news.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", aiomysql.Warning)
                    for statement, parameters in statements:
                        await cursor.execute(statement, parameters)
        finally:
            connection.close()
