"""The embedded stores' SQLite file: one writer, one reader, WAL, versioned schema, outage guard.

Every embedded store (catalog, history) opens its file the same way:

- two aiosqlite connections (each a thread of its own): a writer whose
  transactions are ``BEGIN IMMEDIATE`` (the write lock up front, so two
  writers never deadlock upgrading a read lock), one at a time in this
  process behind an asyncio lock; and a reader that WAL lets read while the
  writer writes, shared by every query outside a snapshot through
  :class:`Reader`, which runs each query to its last row in one job (see
  there why a half-read cursor on a shared connection reads old data);
- ``busy_timeout`` bounds a statement's wait for a lock another process
  holds (the relay's engine, ``streammesh`` commands); past it the
  operation is Unavailable;
- the schema's version is SQLite's ``user_version``: a file from a newer
  build is refused rather than misread;
- :func:`outage_guard` names which driver errors are the file failing (locked,
  disk I/O, not a database) as opposed to a bug, once for every store.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final, Self

import aiosqlite

from services.runtime import store_metrics
from services.runtime.stores import Outage, unavailable_on

log = logging.getLogger(__name__)

# How long a statement waits for the file lock held by another process.
BUSY_TIMEOUT_MS: Final = 5_000

# A producer's outbox in its store file: the shape of
# services/events/outbox.py's define_outbox_table, so the relay's
# SqlOutboxSource reads it as it is (created_at in SQLAlchemy's SQLite format).
# Append it to a store's schema; write rows with :func:`insert_outbox_row`.
OUTBOX_DDL: Final = """
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id VARCHAR(36) NOT NULL UNIQUE,
  aggregate_type VARCHAR(64) NOT NULL,
  aggregate_id VARCHAR(64) NOT NULL,
  event_type VARCHAR(128) NOT NULL,
  payload BLOB,
  created_at DATETIME NOT NULL,
  published_at DATETIME
);
CREATE INDEX IF NOT EXISTS ix_outbox_unpublished ON outbox (published_at, seq);
"""
# How SQLAlchemy's DateTime stores values in SQLite.
_SQLALCHEMY_DATETIME: Final = "%Y-%m-%d %H:%M:%S.%f"


def outage_guard(what: str) -> Outage:
    """The driver errors that mean the file, not the statement, failed: sqlite3's
    OperationalError (locked, disk I/O error, unable to open) and DatabaseError itself
    (not a database, malformed), none of its other subclasses."""
    return unavailable_on(
        sqlite3.DatabaseError,
        what=what,
        unless=(
            sqlite3.IntegrityError,
            sqlite3.ProgrammingError,
            sqlite3.DataError,
            sqlite3.NotSupportedError,
            sqlite3.InternalError,
        ),
    )


Row = sqlite3.Row | tuple[Any, ...]
# A query run to its end: Reader.fetch_all, or a connection's execute_fetchall
# inside a transaction or a snapshot.
Parameters = Sequence[Any] | Mapping[str, Any]
FetchAll = Callable[[str, Parameters], Awaitable[Iterable[Row]]]


class Reader:
    """The queries outside a snapshot, on the file's shared reader connection; each runs
    to its last row in one job on the connection's thread.

    Why not the connection's cursors: a SELECT that has returned its first row
    but not its last holds its read transaction open, and every other statement
    on the connection runs inside it. Coroutines that step their cursors in
    turn therefore read the file as it was when the first of them began, and
    while queries keep overlapping (a loaded service) that snapshot never
    advances. The history rollup read a play log without the view it was
    rolling up that way, and saved an empty top of the day for good.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def fetch_all(self, sql: str, parameters: Parameters = ()) -> list[Row]:
        return list(await self._connection.execute_fetchall(sql, parameters))

    async def fetch_one(self, sql: str, parameters: Parameters = ()) -> Row | None:
        """The first row (the query should select one), or None."""
        rows = await self.fetch_all(sql, parameters)
        return rows[0] if rows else None


class SqliteFile:
    """An opened store file: ``reader`` for queries, ``snapshot()`` for a read
    transaction on one of ``readers`` connections, ``transaction()`` for writes."""

    def __init__(
        self, name: str, writer: aiosqlite.Connection, readers: Sequence[aiosqlite.Connection]
    ):
        self.name = name
        self.reader = Reader(readers[0])
        self._readers = tuple(readers)
        # A snapshot's BEGIN would take in the plain queries that share its
        # connection, so snapshots use the other readers when there are others.
        self._snapshot_readers = self._readers[1:] or self._readers
        self._idle_readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in self._snapshot_readers:
            self._idle_readers.put_nowait(reader)
        self._writer = writer
        self._write_lock = asyncio.Lock()
        # The writer counts as in use while a transaction holds it.
        store_metrics.watch_pool(
            name,
            self,
            in_use=lambda file: file.connections_in_use(),
            idle=lambda file: len(file._readers) + 1 - file.connections_in_use(),
        )

    def connections_in_use(self) -> int:
        """Readers inside a snapshot, and the writer inside a transaction."""
        in_snapshots = len(self._snapshot_readers) - self._idle_readers.qsize()
        return in_snapshots + (1 if self._write_lock.locked() else 0)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        name: str,
        schema: str,
        schema_version: int,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        readers: int = 1,
    ) -> SqliteFile:
        """Opens ``path`` (created with its folder when missing) and brings its schema to
        ``schema_version``; ``name`` ("catalog") words errors and logs. ``readers``
        connections serve reads: each has a thread of its own, and SQLite runs a
        query without the GIL, so more than one lets read transactions that take a
        while (a search's) use more than one core."""
        if readers < 1:
            raise ValueError(f"readers must be at least 1, not {readers}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        opened: list[aiosqlite.Connection] = []
        try:
            writer = await aiosqlite.connect(path, isolation_level=None)
            opened.append(writer)
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await _migrate(writer, name, schema, schema_version)
            for _ in range(readers):
                reader = await aiosqlite.connect(path, isolation_level=None)
                opened.append(reader)
                await reader.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        except BaseException:
            # Each connection owns a thread: none may outlive a failed open.
            for connection in opened:
                await connection.close()
            raise
        return cls(name, writer, opened[1:])

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """An idle reader inside one read transaction (every statement sees one
        snapshot of the file), for as long as the block runs; waits while every
        reader is taken."""
        reader = await self._idle_readers.get()
        try:
            await reader.execute("BEGIN")
            try:
                yield reader
            finally:
                await reader.execute("COMMIT")
        finally:
            self._idle_readers.put_nowait(reader)

    def transaction(self) -> Transaction:
        return Transaction(self._writer, self._write_lock, self.name)

    async def close(self) -> None:
        store_metrics.unwatch_pool(self)
        for reader in self._readers:
            await reader.close()
        await self._writer.close()


async def _migrate(db: aiosqlite.Connection, name: str, schema: str, schema_version: int) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > schema_version:
        raise RuntimeError(
            f"{name} database schema {version} is newer than this build's {schema_version}"
        )
    if version < 1:
        # executescript commits first and runs the script as it is; the
        # statements are idempotent, so a crash here is repaired by a rerun.
        await db.executescript(schema)
        await db.execute(f"PRAGMA user_version = {int(schema_version)}")


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT on the writer, one at a time; ROLLBACK on any error."""

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock, name: str) -> None:
        self._db = db
        self._lock = lock
        self._name = name

    async def __aenter__(self) -> aiosqlite.Connection:
        await self._lock.acquire()
        try:
            await self._rollback()  # a transaction a failed ROLLBACK left open
            await self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                try:
                    await self._db.execute("COMMIT")
                except sqlite3.Error:
                    await self._rollback()
                    raise
            else:
                await self._rollback()
        finally:
            self._lock.release()

    async def _rollback(self) -> None:
        """Ends the transaction if SQLite has not already (it does on some I/O errors),
        so the next one can begin; a failure here leaves the error that caused it."""
        if not self._db.in_transaction:
            return
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.Error as error:
            log.warning("%s store: rollback failed: %s", self._name, type(error).__name__)


async def insert_outbox_row(
    db: aiosqlite.Connection,
    *,
    event_id: str,
    aggregate_type: str,
    aggregate_id: str,
    event_type: str,
    payload: bytes,
    created_at: datetime,
) -> None:
    """Inserts an event into the file's outbox, inside the caller's transaction."""
    await db.execute(
        "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            event_id,
            aggregate_type,
            aggregate_id,
            event_type,
            payload,
            created_at.astimezone(UTC).replace(tzinfo=None).strftime(_SQLALCHEMY_DATETIME),
        ),
    )


class SqliteStore:
    """Base of an embedded store: a subclass names its file's ``NAME`` ("catalog"),
    ``SCHEMA`` and ``SCHEMA_VERSION``, queries ``self._reader`` and writes in
    ``self._transaction()``."""

    NAME: ClassVar[str]
    SCHEMA: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int]

    def __init__(self, file: SqliteFile) -> None:
        self._file = file
        self._reader = file.reader

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, readers: int = 1
    ) -> Self:
        """The store on ``path``, its schema created or brought up to date.

        ``busy_timeout_ms`` bounds each statement's wait for a lock another
        process holds; past it the operation is Unavailable. ``readers``: the
        reader connections of :meth:`SqliteFile.snapshot`.
        """
        with outage_guard(f"the {cls.NAME} store"):
            file = await SqliteFile.open(
                path,
                name=cls.NAME,
                schema=cls.SCHEMA,
                schema_version=cls.SCHEMA_VERSION,
                busy_timeout_ms=busy_timeout_ms,
                readers=readers,
            )
        return cls(file)

    def _transaction(self) -> Transaction:
        return self._file.transaction()

    async def close(self) -> None:
        await self._file.close()
