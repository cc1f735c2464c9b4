"""Cassandra for every service that keeps a keyspace: one session bridge, one migration runner.

Bridging: every statement goes through ``Session.execute_async``; the driver's
callbacks (on its I/O thread) complete an asyncio future with
``call_soon_threadsafe``, so the event loop never waits on the driver. At
most ``max_in_flight`` requests are in flight per session (a semaphore), so a
slow node queues callers in this process instead of piling up requests on it.

Outages: a node that cannot be reached, a timeout, too few replicas alive or
an overloaded coordinator is :class:`~services.runtime.errors.Unavailable`,
so the error layer answers UNAVAILABLE and callers' retry policy covers it.
Everything else the driver raises (a CQL syntax error, an invalid request) is
a bug and stays what it is.

Migrations: a service keeps ``NNNN_<name>.cql`` files in a folder of its own;
:class:`CqlMigrations` runs the pending ones in order, each once, recording
each version with a checksum in the keyspace's ``schema_migrations`` table.
A recorded file whose text has changed stops the run: write a new migration
instead of editing an applied one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cassandra
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.cluster import Session as DriverSession
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy, TokenAwarePolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import BatchStatement, PreparedStatement

from services.runtime import store_metrics
from services.runtime.settings import Setting, nested
from services.runtime.stores import Outage, unavailable_on

CONSISTENCY_LEVELS: Final = ("ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL")
# Per request, so a stuck node fails the call instead of holding it.
REQUEST_TIMEOUT_SECONDS: Final = 10.0
# Opening a connection, and each query of the driver's control connection (the
# schema and topology it reads when it connects). The driver's defaults (5 s and
# 2 s) leave little room on a loaded 2-core machine whose node holds many
# keyspaces, where a fresh session in a CI run answered Unavailable; a bound
# that fails a healthy node's connect reports an outage that is not there.
CONNECT_TIMEOUT_SECONDS: Final = 10.0
CONTROL_CONNECTION_TIMEOUT_SECONDS: Final = 10.0
# A new storage-attached index on a table that holds rows builds in the
# background; queries that need it fail until then.
INDEX_BUILD_TIMEOUT_SECONDS: Final = 120.0
INDEX_POLL_SECONDS: Final = 0.5

# What the driver raises when the cluster, not the statement, is the problem.
# FunctionFailure (a UDF threw) and the RequestValidationException family
# (syntax, invalid query, unauthorized) are not outages and are not here.
OUTAGES: Final[tuple[type[BaseException], ...]] = (
    NoHostAvailable,
    cassandra.OperationTimedOut,
    cassandra.Unavailable,
    cassandra.Timeout,
    cassandra.CoordinationFailure,
    ConnectionException,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)

_FILE_NAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.cql$")
_KEYSPACE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclass(frozen=True)
class CassandraSettings:
    """Where a service's keyspace lives and how its statements are sent."""

    keyspace: str
    contact_points: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    # ONE on a single node; LOCAL_QUORUM in a cluster (reads and writes both,
    # so a read always overlaps the last acknowledged write).
    consistency: str = "ONE"
    # Used only when the migrations create the keyspace: SimpleStrategy, or
    # NetworkTopologyStrategy with this many replicas in ``datacenter``.
    replication_factor: int = 1
    # A cluster's datacenter (its nodes' CASSANDRA_DC): the keyspace is created
    # with NetworkTopologyStrategy there, and the driver prefers its nodes.
    # Empty: SimpleStrategy, and the driver's local DC is the first it meets.
    datacenter: str = ""
    # Driver requests in flight per process beyond which calls wait.
    max_in_flight: int = 256

    def __post_init__(self) -> None:
        if self.consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"consistency {self.consistency!r}: expected one of {', '.join(CONSISTENCY_LEVELS)}"
            )
        if not _KEYSPACE_NAME.match(self.keyspace):
            raise ValueError(
                f"keyspace {self.keyspace!r}: lowercase letters, digits and _, "
                "starting with a letter, at most 48 characters"
            )


# Attempts after the first for one statement that timed out or found too few
# replicas: losing one node of three needs one more attempt, at another
# coordinator; three bound a cluster that keeps flapping.
MAX_STATEMENT_RETRIES = 3


class NextCoordinatorRetryPolicy(RetryPolicy):
    """The driver's policy, except that a statement that timed out or found too
    few live replicas is tried again at the NEXT coordinator, up to
    :data:`MAX_STATEMENT_RETRIES` times, and an idempotent write that timed out
    is retried too (the driver's policy retries only batch-log writes).

    Why: a node killed mid-request leaves its coordinator waiting for a replica
    that will not answer, until the write or read timeout; the same statement
    at another coordinator succeeds as soon as a quorum answers there. Writes
    are retried only when the statement says it is idempotent (a retried
    counter update or list append would apply twice).
    """

    def on_read_timeout(
        self,
        query: Any,
        consistency: int,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, int | None]:
        if retry_num < MAX_STATEMENT_RETRIES:
            return self.RETRY_NEXT_HOST, consistency
        return self.RETHROW, None

    def on_write_timeout(
        self,
        query: Any,
        consistency: int,
        write_type: str,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> tuple[int, int | None]:
        if retry_num < MAX_STATEMENT_RETRIES and getattr(query, "is_idempotent", False):
            return self.RETRY_NEXT_HOST, consistency
        decision: tuple[int, int | None] = super().on_write_timeout(
            query, consistency, write_type, required_responses, received_responses, retry_num
        )
        return decision

    def on_unavailable(
        self,
        query: Any,
        consistency: int,
        required_replicas: int,
        alive_replicas: int,
        retry_num: int,
    ) -> tuple[int, int | None]:
        if retry_num < MAX_STATEMENT_RETRIES:
            return self.RETRY_NEXT_HOST, consistency
        return self.RETHROW, None


class CassandraSession:
    """A connected cluster and its session, with the asyncio bridge and the outage mapping.

    ``{ks}`` in a prepared statement's text is replaced by the keyspace, so
    tests can point a service at a keyspace of their own.
    """

    def __init__(
        self, settings: CassandraSettings, cluster: Cluster | None, session: DriverSession
    ) -> None:
        self.settings = settings
        self._cluster = cluster
        self.driver_session = session
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._outage = _outage_of(settings)
        store_metrics.watch_cassandra_session(session, settings.keyspace)

    @property
    def keyspace(self) -> str:
        return self.settings.keyspace

    @classmethod
    async def connect(cls, settings: CassandraSettings) -> CassandraSession:
        """Connects to the cluster (keyspace-less: migrations may create the keyspace).

        Raises Unavailable when no contact point answers.
        """
        profile = ExecutionProfile(
            consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
            request_timeout=REQUEST_TIMEOUT_SECONDS,
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=settings.datacenter)
            ),
            retry_policy=NextCoordinatorRetryPolicy(),
        )
        cluster = Cluster(
            list(settings.contact_points),
            port=settings.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            # Cassandra 4+ speaks v5; naming it skips the downgrade dance and its warnings.
            protocol_version=5,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            control_connection_timeout=CONTROL_CONNECTION_TIMEOUT_SECONDS,
            # The driver leaves Nagle's algorithm on: a large batch then waits on
            # the delayed ACK (measured: a 51-statement logged batch took ~44 ms,
            # 2.9 ms with TCP_NODELAY; bench/history_bench.py's rollup backlog
            # drained ~5x faster).
            sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        try:
            with _outage_of(settings):
                # connect() blocks while it discovers the cluster: keep it off the loop.
                session = await asyncio.to_thread(cluster.connect)
        except BaseException:
            await asyncio.to_thread(cluster.shutdown)
            raise
        return cls(settings, cluster, session)

    async def close(self) -> None:
        store_metrics.unwatch_pool(self.driver_session)
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)

    async def prepare(self, cql: str) -> PreparedStatement:
        """Prepares ``cql`` (``{ks}`` filled in) once; statements on a hot path are prepared
        when the store opens."""
        with self._outage:
            # prepare() waits on the network: run it beside the loop.
            return await asyncio.to_thread(
                self.driver_session.prepare, cql.format(ks=self.keyspace)
            )

    async def execute(self, statement: Any, parameters: Any = None) -> list[Any]:
        """Runs one statement (CQL text, a prepared or a batch statement) within the
        in-flight bound; returns its rows. Timed as one store operation, the wait
        for a slot included (store_metrics: the keyspace, the statement's verb and table)."""
        with (
            store_metrics.timed(self.keyspace, cql_operation(statement), self._outage.is_outage),
            self._outage,
        ):
            async with self._slots:
                return await execute(self.driver_session, statement, parameters)


def cql_operation(statement: Any) -> str:
    """The operation label of a CQL statement: text, simple, prepared, bound or batch."""
    if isinstance(statement, BatchStatement):
        return "batch"
    bound_to = getattr(statement, "prepared_statement", None)
    text = getattr(bound_to or statement, "query_string", statement)
    return store_metrics.statement_operation(text) if isinstance(text, str) else "other"


def _outage_of(settings: CassandraSettings) -> Outage:
    return unavailable_on(*OUTAGES, what=f"the {settings.keyspace} store")


async def execute(session: DriverSession, statement: Any, parameters: Any = None) -> list[Any]:
    """Runs one statement through ``execute_async``; awaits its rows (driver errors as raised)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[Any]] = loop.create_future()

    def done(rows: Any) -> None:
        loop.call_soon_threadsafe(_resolve, future, list(rows or ()))

    def failed(error: BaseException) -> None:
        loop.call_soon_threadsafe(_fail, future, error)

    response = session.execute_async(statement, parameters)
    response.add_callbacks(done, failed)
    return await future


def _resolve(future: asyncio.Future[list[Any]], rows: list[Any]) -> None:
    if not future.done():
        future.set_result(rows)


def _fail(future: asyncio.Future[list[Any]], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


# ---------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(text: str) -> tuple[str, ...]:
    """Statements end with ``;`` at the end of a line; ``--`` lines are comments."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return tuple(s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";"))


class CqlMigrations:
    """The versioned CQL files of one service's keyspace, in ``directory``.

    Statements use unqualified table names: they run in the keyspace, which
    :meth:`apply` creates when missing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def migrations(self) -> list[Migration]:
        """Every migration file, in version order."""
        found = []
        for path in sorted(self.directory.glob("*.cql")):
            match = _FILE_NAME.match(path.name)
            if match is None:
                raise RuntimeError(f"{path.name}: migration files are named NNNN_name.cql")
            text = path.read_text(encoding="utf-8")
            found.append(
                Migration(
                    version=match[1],
                    name=path.stem,
                    statements=split_statements(text),
                    checksum=hashlib.sha256(text.encode()).hexdigest(),
                )
            )
        versions = [m.version for m in found]
        if len(set(versions)) != len(versions):
            raise RuntimeError(f"two migrations share a version: {versions}")
        return found

    async def apply(self, session: CassandraSession) -> list[str]:
        """Applies the pending migrations to the session's keyspace; returns their names."""
        keyspace = session.keyspace
        replication = keyspace_replication(session.settings)
        # CQL's map literal is Python's repr of a dict of str and int.
        await session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication!r}"
        )
        await session.execute(
            f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations ("
            "version text PRIMARY KEY, name text, checksum text, applied_at timestamp)"
        )
        rows = await session.execute(f"SELECT version, checksum FROM {keyspace}.schema_migrations")
        recorded = {row.version: row.checksum for row in rows}
        applied = []
        for migration in self.migrations():
            if migration.version in recorded:
                if recorded[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.name} changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            await session.execute(f"USE {keyspace}")
            for statement in migration.statements:
                await session.execute(statement)
            await session.execute(
                f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
                "VALUES (%s, %s, %s, toTimestamp(now()))",
                (migration.version, migration.name, migration.checksum),
            )
            applied.append(migration.name)
        await wait_for_indexes(session)
        return applied


async def wait_for_indexes(session: CassandraSession) -> None:
    """Waits until every storage-attached index of the keyspace answers queries.

    Bounded by INDEX_BUILD_TIMEOUT_SECONDS.
    """
    deadline = time.monotonic() + INDEX_BUILD_TIMEOUT_SECONDS
    while True:
        rows = await session.execute(
            "SELECT index_name, is_queryable FROM system_views.sai_column_indexes "
            "WHERE keyspace_name = %s",
            (session.keyspace,),
        )
        building = sorted(row.index_name for row in rows if not row.is_queryable)
        if not building:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"indexes {building} of {session.keyspace} still building after "
                f"{INDEX_BUILD_TIMEOUT_SECONDS:.0f} s"
            )
        await asyncio.sleep(INDEX_POLL_SECONDS)


async def open_migrated(
    settings: CassandraSettings, migrations: CqlMigrations, *, migrate: bool
) -> CassandraSession:
    """A session on ``settings``' keyspace, its schema brought up to date first when ``migrate``."""
    session = await CassandraSession.connect(settings)
    try:
        if migrate:
            await migrations.apply(session)
    except BaseException:
        await session.close()
        raise
    return session


def keyspace_replication(settings: CassandraSettings) -> dict[str, str | int]:
    """The replication map a migration creates the keyspace with."""
    factor = int(settings.replication_factor)
    if settings.datacenter:
        return {"class": "NetworkTopologyStrategy", settings.datacenter: factor}
    return {"class": "SimpleStrategy", "replication_factor": factor}


def parse_consistency(raw: str) -> str:
    """A consistency level's name, any case (a config variable's parser)."""
    level = raw.strip().upper()
    if level not in CONSISTENCY_LEVELS:
        raise ValueError(f"expected one of {', '.join(CONSISTENCY_LEVELS)}")
    return level


def keyspace_settings(tables: str) -> dict[str, Any]:
    """Metadata of a config's ``cassandra`` field: :class:`CassandraSettings` bound under
    ``CASSANDRA_`` (``STREAMMESH_[<SVC>_]CASSANDRA_<FIELD>``); ``tables`` words the
    keyspace's doc ("the catalog's tables")."""
    return nested(
        "CASSANDRA_",
        fields={
            "keyspace": Setting(doc=f"Keyspace of {tables}."),
            "contact_points": Setting(doc="Cassandra nodes to reach the cluster by."),
            "port": Setting(doc="Their CQL native transport port."),
            # Any case; a name Cassandra does not know names its variable.
            "consistency": Setting(parse=parse_consistency),
        },
    )
