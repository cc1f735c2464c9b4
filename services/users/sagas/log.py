"""The durable saga log: the ``sagas`` and ``saga_log`` tables of the users database.

Every transition is one transaction, committed before the orchestrator sends
the next command, and fenced by the lease: a write names the orchestrator
that holds the saga and changes nothing (``LeaseLost``) when another one has
taken it over since. Claiming is where two orchestrators meet:

* MariaDB: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due sagas whose
  lease is free or expired, skipping the rows another claimer has locked
  this instant; the same transaction writes the new lease.
* SQLite: the write transaction starts with ``BEGIN IMMEDIATE`` (one writer
  at a time), so the select-then-lease is atomic without row locks; the
  lease column with its expiry does the rest.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.errors import FailedPrecondition, NotFound
from services.users.models import ProfileRow, SagaLogRow, SagaRow
from services.users.sagas.definitions import LIVE_STATES, SagaState
from services.users.stores.sql import _database_errors, for_writing

sagas = cast(sa.Table, SagaRow.__table__)
saga_log = cast(sa.Table, SagaLogRow.__table__)
profiles = cast(sa.Table, ProfileRow.__table__)

# `sagas list` shows at most this many rows.
LIST_LIMIT_MAX: Final = 1000


class LeaseLost(Exception):
    """Another orchestrator holds the saga now: stop driving it."""


@dataclass(frozen=True)
class Saga:
    saga_id: str
    saga_type: str
    subject_id: str
    account_id: int
    state: str
    step_index: int
    steps_done: int
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime
    payload: dict[str, Any]
    last_error: str
    error_code: int
    lease_owner: str
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LogLine:
    step: str
    action: str
    detail: str
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _saga(row: sa.Row[Any]) -> Saga:
    return Saga(
        saga_id=row.saga_id,
        saga_type=row.saga_type,
        subject_id=row.subject_id,
        account_id=int(row.account_id),
        state=row.state,
        step_index=int(row.step_index),
        steps_done=int(row.steps_done),
        attempts=int(row.attempts),
        failing_since=_aware(row.failing_since),
        next_attempt_at=cast(datetime, _aware(row.next_attempt_at)),
        payload=json.loads(row.payload),
        last_error=row.last_error,
        error_code=int(row.error_code),
        lease_owner=row.lease_owner or "",
        lease_expires_at=_aware(row.lease_expires_at),
        created_at=cast(datetime, _aware(row.created_at)),
        updated_at=cast(datetime, _aware(row.updated_at)),
    )


class SagaLog:
    """Reads and advances sagas in the users database (``engine``: the users store's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_engine = for_writing(engine)
        self._mariadb = engine.dialect.name in ("mysql", "mariadb")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with _database_errors:
            async with self._engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        with _database_errors:
            async with self._write_engine.begin() as connection:
                yield connection

    async def close(self) -> None:
        await self._engine.dispose()

    # -- reads ------------------------------------------------------------

    async def get(self, saga_id: str) -> Saga | None:
        async with self._read() as connection:
            row = (
                await connection.execute(sa.select(sagas).where(sagas.c.saga_id == saga_id))
            ).first()
        return None if row is None else _saga(row)

    async def history(self, saga_id: str) -> list[LogLine]:
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(saga_log).where(saga_log.c.saga_id == saga_id).order_by(saga_log.c.id)
            )
            return [
                LogLine(r.step, r.action, r.detail, cast(datetime, _aware(r.created_at)))
                for r in rows
            ]

    async def list_sagas(
        self, *, state: str = "", saga_type: str = "", limit: int = 50
    ) -> list[Saga]:
        query = (
            sa.select(sagas)
            .order_by(sagas.c.created_at.desc())
            .limit(min(max(limit, 1), LIST_LIMIT_MAX))
        )
        if state:
            query = query.where(sagas.c.state == state)
        if saga_type:
            query = query.where(sagas.c.saga_type == saga_type)
        async with self._read() as connection:
            return [_saga(row) for row in await connection.execute(query)]

    async def counts(self) -> dict[tuple[str, str], int]:
        """Sagas per (type, state): the metrics' counters."""
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(sagas.c.saga_type, sagas.c.state, sa.func.count()).group_by(
                    sagas.c.saga_type, sagas.c.state
                )
            )
            return {(row[0], row[1]): int(row[2]) for row in rows}

    async def live(self) -> list[Saga]:
        """Every saga still running or compensating (the metrics' gauges)."""
        async with self._read() as connection:
            rows = await connection.execute(sa.select(sagas).where(sagas.c.state.in_(LIVE_STATES)))
            return [_saga(row) for row in rows]

    # -- the lease --------------------------------------------------------

    async def claim(self, owner: str, *, lease_seconds: float, limit: int) -> list[Saga]:
        """Leases up to ``limit`` live sagas that are due and not held by anyone else."""
        now = _now()
        due = (
            sa.select(sagas.c.saga_id)
            .where(
                sagas.c.state.in_(LIVE_STATES),
                sagas.c.next_attempt_at <= now,
                sa.or_(
                    sagas.c.lease_owner.is_(None),
                    sagas.c.lease_owner == owner,
                    sagas.c.lease_expires_at < now,
                ),
            )
            .order_by(sagas.c.next_attempt_at)
            .limit(limit)
        )
        if self._mariadb:
            due = due.with_for_update(skip_locked=True)
        async with self._write() as connection:
            ids = [row.saga_id for row in await connection.execute(due)]
            if not ids:
                return []
            await connection.execute(
                sagas.update()
                .where(sagas.c.saga_id.in_(ids))
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
            )
            rows = await connection.execute(sa.select(sagas).where(sagas.c.saga_id.in_(ids)))
            return [_saga(row) for row in rows]

    async def renew(self, saga_id: str, owner: str, *, lease_seconds: float) -> None:
        async with self._write() as connection:
            await self._fenced(
                connection,
                saga_id,
                owner,
                lease_expires_at=_now() + timedelta(seconds=lease_seconds),
            )

    async def release(self, saga_id: str, owner: str) -> None:
        async with self._write() as connection:
            await connection.execute(
                sagas.update()
                .where(sagas.c.saga_id == saga_id, sagas.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    async def _fenced(
        self, connection: AsyncConnection, saga_id: str, owner: str, **values: Any
    ) -> None:
        result = await connection.execute(
            sagas.update()
            .where(sagas.c.saga_id == saga_id, sagas.c.lease_owner == owner)
            .values(**values)
        )
        if result.rowcount != 1:
            raise LeaseLost(saga_id)

    async def _log(
        self, connection: AsyncConnection, saga_id: str, step: str, action: str, detail: str
    ) -> None:
        await connection.execute(
            saga_log.insert().values(
                saga_id=saga_id, step=step, action=action, detail=detail, created_at=_now()
            )
        )

    # -- transitions (each committed before the next command) ------------

    async def step_done(
        self, saga: Saga, owner: str, step: str, *, next_index: int, steps_done: int, detail: str
    ) -> None:
        now = _now()
        async with self._write() as connection:
            await self._fenced(
                connection,
                saga.saga_id,
                owner,
                step_index=next_index,
                steps_done=steps_done,
                attempts=0,
                failing_since=None,
                next_attempt_at=now,
                last_error="" if saga.state == SagaState.RUNNING.value else saga.last_error,
                updated_at=now,
            )
            action = "step-done" if saga.state == SagaState.RUNNING.value else "step-compensated"
            await self._log(connection, saga.saga_id, step, action, detail)

    async def step_failed(
        self, saga: Saga, owner: str, step: str, *, error: str, code: int, retry_in: float
    ) -> None:
        """One failed attempt: retried at ``now + retry_in``; the lease is given up
        meanwhile so any orchestrator may take the retry."""
        now = _now()
        async with self._write() as connection:
            await self._fenced(
                connection,
                saga.saga_id,
                owner,
                attempts=saga.attempts + 1,
                failing_since=saga.failing_since.replace(tzinfo=None)
                if saga.failing_since
                else now,
                next_attempt_at=now + timedelta(seconds=retry_in),
                last_error=error if saga.state == SagaState.RUNNING.value else saga.last_error,
                error_code=code if saga.state == SagaState.RUNNING.value else saga.error_code,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            await self._log(connection, saga.saga_id, step, "step-failed", error)

    async def compensate(self, saga: Saga, owner: str, step: str, *, error: str, code: int) -> None:
        """A compensatable step failed for good: undo the steps done, last first."""
        now = _now()
        async with self._write() as connection:
            await self._fenced(
                connection,
                saga.saga_id,
                owner,
                state=SagaState.COMPENSATING.value,
                step_index=saga.step_index - 1,
                attempts=0,
                failing_since=None,
                next_attempt_at=now,
                last_error=error,
                error_code=code,
                updated_at=now,
            )
            await self._log(connection, saga.saga_id, step, "compensating", error)

    async def finish(
        self,
        saga: Saga,
        owner: str,
        state: SagaState,
        *,
        steps_done: int,
        restore_profile: dict[str, Any] | None = None,
    ) -> None:
        """The saga's last transition; with ``restore_profile`` the profile gets its
        previous settings back in the same transaction (the compensation of the
        step made in UpdateProfile's transaction)."""
        now = _now()
        async with self._write() as connection:
            await self._fenced(
                connection,
                saga.saga_id,
                owner,
                state=state.value,
                steps_done=steps_done,
                attempts=0,
                failing_since=None,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            if restore_profile is not None:
                await connection.execute(
                    profiles.update()
                    .where(profiles.c.id == int(saga.subject_id))
                    .values(
                        maturity_rating=restore_profile["maturity_rating"],
                        is_kids_profile=restore_profile["kids_profile"],
                        language_code=restore_profile["language_code"],
                        updated_at=now,
                    )
                )
            await self._log(connection, saga.saga_id, "", state.value.lower(), "")

    async def retry(self, saga_id: str) -> Saga:
        """Makes a live saga due now, its attempts counted afresh (``sagas retry``)."""
        now = _now()
        async with self._write() as connection:
            row = (
                await connection.execute(
                    sa.select(sagas).where(sagas.c.saga_id == saga_id).with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"saga {saga_id} does not exist", reason="SAGA_NOT_FOUND")
            if row.state not in LIVE_STATES:
                raise FailedPrecondition(
                    f"saga {saga_id} is {row.state}: only a running or compensating saga "
                    "can be retried",
                    reason="SAGA_FINISHED",
                )
            await connection.execute(
                sagas.update()
                .where(sagas.c.saga_id == saga_id)
                .values(attempts=0, next_attempt_at=now, updated_at=now)
            )
            await self._log(connection, saga_id, "", "retry-requested", "")
        saga = await self.get(saga_id)
        assert saga is not None
        return saga
