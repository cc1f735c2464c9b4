"""What every saga participant shares: who may send saga commands, and the step key.

The orchestrator (services/users/sagas) calls the participants' internal
RPCs with an access token of account 0, an id no account has, whose device
session it keeps in the users session store; the participants' auth
interceptors check that token like any other, and the handler checks with
:func:`require_orchestrator` that it is the orchestrator's, so a device's
token (of its own account) can never send a saga command.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from services import ratings
from services.runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.runtime.sqlite import SqliteStore, outage_guard

_saga_outage = outage_guard("the saga tables")

# The account id of the orchestrator's service token (see the module docstring).
ORCHESTRATOR_ACCOUNT_ID: Final = 0

_SAGA_ID: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_STEP: Final = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# A compensation's step name is its step's with this suffix.
COMPENSATION_SUFFIX: Final = ":compensate"


@dataclass(frozen=True)
class StepKey:
    """A saga command's idempotency key: a repeated command has one effect."""

    saga_id: str
    step: str

    @property
    def compensation(self) -> StepKey:
        """The key of this step's compensation (a late forward command finding it
        recorded must not take effect: the step was undone before it arrived)."""
        return StepKey(self.saga_id, f"{self.step}{COMPENSATION_SUFFIX}")

    @property
    def is_compensation(self) -> bool:
        return self.step.endswith(COMPENSATION_SUFFIX)

    @property
    def text(self) -> str:
        return f"{self.saga_id}/{self.step}"


def require_orchestrator(caller: str) -> None:
    """PermissionDenied unless ``caller`` (the token's account) is the orchestrator's."""
    if caller != str(ORCHESTRATOR_ACCOUNT_ID):
        raise PermissionDenied(
            "saga commands are sent by the saga orchestrator only", reason="NOT_ORCHESTRATOR"
        )


def step_key(saga_id: str, step: str) -> StepKey:
    """The request's key, checked (InvalidArgument names each bad field)."""
    violations = []
    if not _SAGA_ID.match(saga_id):
        violations.append(FieldViolation("saga_id", "must be 1-64 letters, digits or '-'"))
    if not _STEP.match(step):
        violations.append(FieldViolation("step", "must be a lower-case step name"))
    if violations:
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.description}" for v in violations),
            reason="INVALID_FIELD",
            violations=violations,
        )
    return StepKey(saga_id, step)


@dataclass(frozen=True)
class ProfileSettings:
    """A participant's copy of a profile's settings (the profile-update saga's)."""

    maturity_rating: str
    kids_profile: bool
    language_code: str = ""

    @property
    def limit(self) -> str:
        """The limit these settings allow (the default of the kind when unknown)."""
        if ratings.is_known(self.maturity_rating):
            return self.maturity_rating
        return ratings.KIDS_LIMIT if self.kids_profile else ratings.DEFAULT_LIMIT


def settings_of(message: Any) -> ProfileSettings:
    """A participant's ``ProfileSettings`` message (each package has its own) as a value."""
    return ProfileSettings(
        str(message.maturity_rating), bool(message.kids_profile), str(message.language_code)
    )


def stricter_limit(limit: str, copy: ProfileSettings | None) -> str:
    """The stricter of a profile's live limit and a participant's copy of its settings:
    while a saga runs one of them is already the new value, so the stricter is
    what every service may show (a lowered limit holds from the first step)."""
    if copy is None:
        return limit
    return copy.limit if ratings.rank(copy.limit) < ratings.rank(limit) else limit


# The command ledger of a participant's SQLite store, created on first use:
# one row per applied (saga_id, step), written in the transaction of its effect.
SQLITE_LEDGER_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS saga_commands (
  saga_id TEXT NOT NULL,
  step TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (saga_id, step)
) WITHOUT ROWID;
"""


async def sqlite_already_applied(db: Any, key: StepKey) -> bool:
    """In the caller's write transaction: whether ``key`` was applied, or (for a
    forward step) undone before it arrived, so it must not take effect now."""
    keys = [key.step] if key.is_compensation else [key.step, key.compensation.step]
    marks = ",".join("?" for _ in keys)
    async with db.execute(
        f"SELECT 1 FROM saga_commands WHERE saga_id = ? AND step IN ({marks})",
        (key.saga_id, *keys),
    ) as cursor:
        return await cursor.fetchone() is not None


async def sqlite_record_applied(db: Any, key: StepKey, now_ms: int) -> None:
    """In the caller's write transaction, with the effect: ``key`` is applied."""
    await db.execute(
        "INSERT OR IGNORE INTO saga_commands (saga_id, step, applied_at) VALUES (?, ?, ?)",
        (key.saga_id, key.step, now_ms),
    )


async def sqlite_ensure(db: Any, schema: str) -> None:
    """Runs ``schema``'s idempotent statements in the caller's transaction (a file
    made before the saga tables existed gets them on first use)."""
    for statement in schema.split(";"):
        if statement.strip():
            await db.execute(statement)


# The command ledger of a participant's Cassandra keyspace (each service's
# migrations create it: NNNN_saga_tables.cql):
#   CREATE TABLE saga_commands (saga_id text, step text, applied_at timestamp,
#     PRIMARY KEY ((saga_id), step))
# Cassandra has no transaction spanning the effect and its ledger row, so a
# participant checks the ledger, applies an effect that is idempotent by
# construction (a delete, an overwrite with the same values), then records the
# key: a command repeated before its key was recorded applies the same effect
# again, which changes nothing.
class CassandraLedger:
    def __init__(self, session: Any) -> None:
        self._session = session
        self._select: Any = None
        self._insert: Any = None

    async def prepare(self) -> CassandraLedger:
        self._select = await self._session.prepare(
            "SELECT step FROM {ks}.saga_commands WHERE saga_id = ?"
        )
        self._insert = await self._session.prepare(
            "INSERT INTO {ks}.saga_commands (saga_id, step, applied_at) VALUES (?, ?, ?)"
        )
        return self

    async def already_applied(self, key: StepKey) -> bool:
        """Whether ``key`` was applied, or (a forward step) undone before it arrived."""
        rows = await self._session.execute(self._select, (key.saga_id,))
        steps = {row.step for row in rows}
        return key.step in steps or (not key.is_compensation and key.compensation.step in steps)

    async def record(self, key: StepKey, now_ms: int) -> None:
        await self._session.execute(self._insert, (key.saga_id, key.step, now_ms))


# A participant's SQLite copy of profile settings, beside the ledger.
SQLITE_SETTINGS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS profile_settings (
  profile_id TEXT PRIMARY KEY,
  maturity_rating TEXT NOT NULL,
  kids_profile INTEGER NOT NULL,
  language_code TEXT NOT NULL
) WITHOUT ROWID;
"""


class SqliteParticipant(SqliteStore):
    """A participant's :class:`services.runtime.sqlite.SqliteStore` with its saga
    side: the ledger, the profile settings copy, and purges, each command in one
    transaction with its ledger row."""

    SAGA_SCHEMA: ClassVar[str] = SQLITE_LEDGER_SCHEMA + SQLITE_SETTINGS_SCHEMA
    _saga_tables_ready: bool = False

    async def _saga_tables(self) -> None:
        if not self._saga_tables_ready:
            async with self._transaction() as db:
                await sqlite_ensure(db, self.SAGA_SCHEMA)
            self._saga_tables_ready = True

    @_saga_outage
    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> bool:
        await self._saga_tables()
        async with self._transaction() as db:
            if await sqlite_already_applied(db, key):
                return True
            await db.execute(
                "INSERT OR REPLACE INTO profile_settings (profile_id, maturity_rating, "
                "kids_profile, language_code) VALUES (?, ?, ?, ?)",
                (
                    profile_id,
                    settings.maturity_rating,
                    int(settings.kids_profile),
                    settings.language_code,
                ),
            )
            await sqlite_record_applied(db, key, _now_ms())
        return False

    @_saga_outage
    async def profile_settings(self, profile_id: str) -> ProfileSettings | None:
        await self._saga_tables()
        row = await self._reader.fetch_one(
            "SELECT maturity_rating, kids_profile, language_code FROM profile_settings "
            "WHERE profile_id = ?",
            (profile_id,),
        )
        return None if row is None else ProfileSettings(row[0], bool(row[1]), row[2])

    @_saga_outage
    async def purge_profile_rows(
        self,
        key: StepKey,
        profile_ids: Sequence[str],
        tables: Sequence[str],
        *,
        counted: str,
    ) -> tuple[int, bool]:
        """Deletes the profiles' rows of ``tables`` (each with a ``profile_id``
        column); (rows of ``counted`` deleted, replayed)."""
        await self._saga_tables()
        deleted = 0
        async with self._transaction() as db:
            if await sqlite_already_applied(db, key):
                return 0, True
            for profile_id in profile_ids:
                for table in tables:
                    cursor = await db.execute(
                        f"DELETE FROM {table} WHERE profile_id = ?", (profile_id,)
                    )
                    if table == counted:
                        deleted += max(cursor.rowcount, 0)
            await sqlite_record_applied(db, key, _now_ms())
        return deleted, False


def _now_ms() -> int:
    return int(time.time() * 1000)
