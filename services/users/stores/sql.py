"""The users store on SQLAlchemy 2 async: MariaDB/MySQL (aiomysql) and SQLite (aiosqlite).

One adapter serves both dialects because the differences are small and sit
in two places: the column types (``models.py``) and how a write transaction
excludes concurrent writers:

* MariaDB runs at READ COMMITTED and locks the rows an invariant depends on
  with ``SELECT ... FOR UPDATE`` (the account row before counting its
  profiles, the profile row before changing it).
* SQLite ignores ``FOR UPDATE``; write transactions start with ``BEGIN
  IMMEDIATE`` instead, which takes the database's write lock up front, so two
  writers never interleave and a reader never has to upgrade its lock (the
  cause of "database is locked" under concurrency). Waiting for that lock is
  bounded by ``busy_timeout``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_asyncio
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from services.runtime.stores import unavailable_on
from services.users.models import (
    BillingRecordRow,
    OutboxRow,
    PlanPriceRow,
    PlanRow,
    PreferenceRow,
    ProfileRow,
    SagaLogRow,
    SagaRow,
    SubscriptionRow,
    UserRow,
)
from services.users.store import (
    AccountCreatedEventFactory,
    AccountRecord,
    BillingRecord,
    NewAccount,
    NewSaga,
    OutboxEvent,
    PlanRecord,
    PreferenceEventFactory,
    PreferenceRecord,
    Price,
    ProfileEventFactory,
    ProfileFields,
    ProfileGuard,
    ProfileRecord,
    ProfileUpdate,
    SagaStart,
    SubscriptionDecision,
    SubscriptionEventFactory,
    SubscriptionRecord,
)

users = cast(sa.Table, UserRow.__table__)
profiles = cast(sa.Table, ProfileRow.__table__)
preferences = cast(sa.Table, PreferenceRow.__table__)
outbox = cast(sa.Table, OutboxRow.__table__)
plans = cast(sa.Table, PlanRow.__table__)
plan_prices = cast(sa.Table, PlanPriceRow.__table__)
subscriptions = cast(sa.Table, SubscriptionRow.__table__)
billing_records = cast(sa.Table, BillingRecordRow.__table__)
sagas = cast(sa.Table, SagaRow.__table__)
saga_log = cast(sa.Table, SagaLogRow.__table__)

# Saga states (services/users/sagas/definitions.py): the two that still run.
RUNNING_SAGA_STATES: Final = ("RUNNING", "COMPENSATING")

# The price row of every country without one of its own.
ELSEWHERE: Final = "ZZ"
ACTIVE: Final = "ACTIVE"
STARTED: Final = "STARTED"

# Connection pool bounds (per process): callers beyond pool + overflow wait up
# to POOL_TIMEOUT for a connection, then get UNAVAILABLE.
POOL_SIZE: Final = 10
POOL_MAX_OVERFLOW: Final = 5
POOL_TIMEOUT_SECONDS: Final = 5.0
# MariaDB closes idle connections after wait_timeout (8 h by default); recycle
# well before, and ping on checkout so a restarted server costs one retry-free
# reconnect instead of a failed call.
POOL_RECYCLE_SECONDS: Final = 3600
MYSQL_CONNECT_TIMEOUT_SECONDS: Final = 5
# How long a SQLite writer waits for another writer's lock.
SQLITE_BUSY_TIMEOUT_MS: Final = 5000

_WRITE_OPTION: Final = "streammesh_write"


def for_writing(engine: AsyncEngine) -> AsyncEngine:
    """The engine whose transactions take the write lock up front (SQLite's BEGIN IMMEDIATE)."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` with the bounds above.

    ``sqlite+aiosqlite:///path`` creates the file's directory; the database
    itself must be migrated (``streammesh migrate``) before use.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Looked up at call time, so OpenTelemetry's SQLAlchemy instrumentation
        # (services/runtime/telemetry.py) sees the engine being created.
        engine = sa_asyncio.create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=POOL_SIZE,
            max_overflow=POOL_MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
        )
        _configure_sqlite(engine)
        return engine
    return sa_asyncio.create_async_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_size=POOL_SIZE,
        max_overflow=POOL_MAX_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_pre_ping=True,
        connect_args={"connect_timeout": MYSQL_CONNECT_TIMEOUT_SECONDS, "charset": "utf8mb4"},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @sa_event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Leave BEGIN to on_begin: the driver's own implicit BEGIN is deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Cascades (profiles -> preferences) need foreign keys, off by default.
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets readers run while one writer commits; NORMAL sync in WAL
        # mode survives a killed process (not a power cut) without an fsync
        # per commit.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa_event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


# "The database cannot be reached / is busy / is not a database" becomes
# UNAVAILABLE. SQLAlchemy wraps the driver's errors: aiosqlite's "database is
# locked", "disk I/O error" and "unable to open database file" arrive as
# OperationalError, "file is not a database" as plain DatabaseError. The
# other DatabaseErrors are not outages: IntegrityError is handled where it
# means a domain error (create_account), and programming errors are bugs
# that surface as INTERNAL through the error interceptor.
_database_errors = unavailable_on(
    sa_exc.DatabaseError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    what="the users database",
    unless=(
        sa_exc.IntegrityError,
        sa_exc.ProgrammingError,
        sa_exc.DataError,
        sa_exc.NotSupportedError,
        sa_exc.InternalError,
    ),
)


def _now() -> datetime:
    # Microsecond precision is what both dialects store.
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _account(row: sa.Row[Any]) -> AccountRecord:
    return AccountRecord(
        account_id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        first_name=row.first_name,
        last_name=row.last_name,
        country_code=row.country_code,
        language_code=row.language_code,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        deletion_saga_id=row.deletion_saga_id or "",
    )


def _profile(row: sa.Row[Any]) -> ProfileRecord:
    return ProfileRecord(
        profile_id=row.id,
        account_id=row.user_id,
        profile_name=row.profile_name,
        avatar_url=row.avatar_url,
        maturity_rating=row.maturity_rating,
        kids_profile=bool(row.is_kids_profile),
        primary=bool(row.is_primary),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        language_code=row.language_code,
        settings_saga_id=row.settings_saga_id or "",
    )


def _preference(row: sa.Row[Any]) -> PreferenceRecord:
    return PreferenceRecord(
        profile_id=row.profile_id,
        account_id=row.user_id,
        key=row.preference_key,
        value=row.preference_value,
        updated_at=_aware(row.updated_at),
    )


def _profile_values(fields: ProfileFields) -> dict[str, Any]:
    return {
        "profile_name": fields.profile_name,
        "avatar_url": fields.avatar_url,
        "maturity_rating": fields.maturity_rating,
        "is_kids_profile": fields.kids_profile,
        "language_code": fields.language_code,
    }


class SqlUserStore:
    """:class:`services.users.store.UserStore` on MariaDB/MySQL or SQLite."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_engine = for_writing(engine)

    @classmethod
    def from_url(cls, url: str) -> SqlUserStore:
        return cls(create_engine(url))

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def close(self) -> None:
        await self._engine.dispose()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with _database_errors:
            async with self._engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with _database_errors:
            async with self._write_engine.begin() as connection:
                yield connection

    async def _insert_event(self, connection: AsyncConnection, event: OutboxEvent) -> None:
        await connection.execute(
            outbox.insert().values(
                event_id=event.event_id,
                aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id,
                event_type=event.event_type,
                payload=event.payload,
                created_at=event.created_at.astimezone(UTC).replace(tzinfo=None),
                published_at=None,
            )
        )

    # -- accounts ---------------------------------------------------------

    async def create_account(
        self,
        account: NewAccount,
        primary_profile: ProfileFields,
        event: AccountCreatedEventFactory,
        *,
        plan_id: str = "basic",
        payment_reference: str = "not-collected",
    ) -> tuple[AccountRecord, ProfileRecord]:
        try:
            async with self._write() as connection:
                taken = await connection.scalar(
                    sa.select(users.c.id).where(users.c.email == account.email)
                )
                if taken is not None:
                    raise _email_taken()
                now = _now()
                result = await connection.execute(
                    users.insert().values(
                        email=account.email,
                        password_hash=account.password_hash,
                        first_name=account.first_name,
                        last_name=account.last_name,
                        country_code=account.country_code,
                        language_code=account.language_code,
                        created_at=now,
                        updated_at=now,
                    )
                )
                account_id = _inserted_id(result)
                result = await connection.execute(
                    profiles.insert().values(
                        user_id=account_id,
                        is_primary=True,
                        created_at=now,
                        updated_at=now,
                        **_profile_values(primary_profile),
                    )
                )
                profile_id = _inserted_id(result)
                plan = await _priced_plans(connection, account.country_code, plan_id)
                if not plan:
                    raise NotFound(f"plan {plan_id} does not exist", reason="PLAN_NOT_FOUND")
                await connection.execute(
                    subscriptions.insert().values(
                        user_id=account_id,
                        plan_id=plan_id,
                        status=ACTIVE,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await _insert_billing(
                    connection, account_id, STARTED, plan[0], ACTIVE, payment_reference, now
                )
                created = AccountRecord(
                    account_id=account_id,
                    created_at=_aware(now),
                    updated_at=_aware(now),
                    email=account.email,
                    password_hash=account.password_hash,
                    first_name=account.first_name,
                    last_name=account.last_name,
                    country_code=account.country_code,
                    language_code=account.language_code,
                )
                primary = ProfileRecord(
                    profile_id=profile_id,
                    account_id=account_id,
                    primary=True,
                    created_at=_aware(now),
                    updated_at=_aware(now),
                    profile_name=primary_profile.profile_name,
                    avatar_url=primary_profile.avatar_url,
                    maturity_rating=primary_profile.maturity_rating,
                    kids_profile=primary_profile.kids_profile,
                )
                await self._insert_event(connection, event(created, primary))
        except sa_exc.IntegrityError as err:
            # The only unique key of `users` is the e-mail: a concurrent
            # sign-up with the same address committed first.
            raise _email_taken() from err
        return created, primary

    async def get_account(self, account_id: int) -> AccountRecord | None:
        async with self._read() as connection:
            row = (
                await connection.execute(sa.select(users).where(users.c.id == account_id))
            ).first()
        return None if row is None else _account(row)

    async def find_account_by_email(self, email: str) -> AccountRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(users).where(users.c.email == email))).first()
        return None if row is None else _account(row)

    # -- profiles ---------------------------------------------------------

    async def list_profiles(self, account_id: int) -> list[ProfileRecord]:
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(profiles)
                .where(profiles.c.user_id == account_id)
                .order_by(profiles.c.is_primary.desc(), profiles.c.id)
            )
            return [_profile(row) for row in rows]

    async def get_profile(self, profile_id: int) -> ProfileRecord | None:
        async with self._read() as connection:
            row = (
                await connection.execute(sa.select(profiles).where(profiles.c.id == profile_id))
            ).first()
        return None if row is None else _profile(row)

    async def create_profile(
        self,
        account_id: int,
        fields: ProfileFields,
        *,
        max_profiles: int,
        event: ProfileEventFactory,
    ) -> ProfileRecord:
        async with self._write() as connection:
            # Locking the account serialises profile creation per account, so
            # two concurrent creations cannot both see room for one more.
            owner = (
                await connection.execute(
                    sa.select(users.c.id, users.c.deletion_saga_id)
                    .where(users.c.id == account_id)
                    .with_for_update()
                )
            ).first()
            if owner is None:
                raise NotFound(f"account {account_id} does not exist", reason="ACCOUNT_NOT_FOUND")
            if owner.deletion_saga_id:
                raise FailedPrecondition(
                    "the account is being deleted", reason="ACCOUNT_BEING_DELETED"
                )
            count = await connection.scalar(
                sa.select(sa.func.count()).where(profiles.c.user_id == account_id)
            )
            if int(count or 0) >= max_profiles:
                raise FailedPrecondition(
                    f"an account has at most {max_profiles} profiles",
                    reason="PROFILE_LIMIT_REACHED",
                )
            now = _now()
            result = await connection.execute(
                profiles.insert().values(
                    user_id=account_id,
                    is_primary=False,
                    created_at=now,
                    updated_at=now,
                    **_profile_values(fields),
                )
            )
            created = ProfileRecord(
                profile_id=_inserted_id(result),
                account_id=account_id,
                primary=False,
                created_at=_aware(now),
                updated_at=_aware(now),
                profile_name=fields.profile_name,
                avatar_url=fields.avatar_url,
                maturity_rating=fields.maturity_rating,
                kids_profile=fields.kids_profile,
            )
            await self._insert_event(connection, event(created))
        return created

    async def _lock_profile(self, connection: AsyncConnection, profile_id: int) -> ProfileRecord:
        """Locks the profile's account, then the profile, for the rest of the transaction.

        Every write of an account's data locks the account row first (always
        in this order, so writers cannot deadlock). That serialises the
        account's writes, so its outbox events are created in commit order:
        the relay can then deliver one account's events in order.
        """
        account_id = await connection.scalar(
            sa.select(profiles.c.user_id).where(profiles.c.id == profile_id)
        )
        if account_id is not None:
            await connection.execute(
                sa.select(users.c.id).where(users.c.id == account_id).with_for_update()
            )
        row = (
            await connection.execute(
                sa.select(profiles).where(profiles.c.id == profile_id).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound(f"profile {profile_id} does not exist", reason="PROFILE_NOT_FOUND")
        return _profile(row)

    async def update_profile(
        self,
        profile_id: int,
        update: ProfileUpdate,
        event: ProfileEventFactory,
        *,
        saga: SagaStart | None = None,
    ) -> ProfileRecord:
        async with self._write() as connection:
            current = await self._lock_profile(connection, profile_id)
            fields = update(current)
            now = _now()
            started = None if saga is None else saga(current, fields)
            saga_values: dict[str, Any] = {}
            if started is not None:
                # The profile row is locked: two updates of one profile cannot
                # both find no saga running and both start one.
                await _refuse_if_running(connection, current.settings_saga_id)
                await insert_saga(connection, started, now)
                saga_values["settings_saga_id"] = started.saga_id
            await connection.execute(
                profiles.update()
                .where(profiles.c.id == profile_id)
                .values(updated_at=now, **_profile_values(fields), **saga_values)
            )
            updated = ProfileRecord(
                profile_id=current.profile_id,
                account_id=current.account_id,
                primary=current.primary,
                created_at=current.created_at,
                updated_at=_aware(now),
                profile_name=fields.profile_name,
                avatar_url=fields.avatar_url,
                maturity_rating=fields.maturity_rating,
                kids_profile=fields.kids_profile,
                language_code=fields.language_code,
                settings_saga_id=saga_values.get("settings_saga_id", current.settings_saga_id),
            )
            await self._insert_event(connection, event(updated))
        return updated

    async def start_account_deletion(
        self, account_id: int, saga: Callable[[list[int]], NewSaga], event: OutboxEvent
    ) -> str:
        async with self._write() as connection:
            row = (
                await connection.execute(
                    sa.select(users.c.id, users.c.deletion_saga_id)
                    .where(users.c.id == account_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"account {account_id} does not exist", reason="ACCOUNT_NOT_FOUND")
            if row.deletion_saga_id:
                return str(row.deletion_saga_id)
            profile_ids = list(
                await connection.scalars(
                    sa.select(profiles.c.id)
                    .where(profiles.c.user_id == account_id)
                    .order_by(profiles.c.id)
                )
            )
            started = saga(profile_ids)
            now = _now()
            await insert_saga(connection, started, now)
            await connection.execute(
                users.update()
                .where(users.c.id == account_id)
                .values(deletion_saga_id=started.saga_id, updated_at=now)
            )
            await self._insert_event(connection, event)
        return started.saga_id

    async def delete_account(self, account_id: int, event: OutboxEvent) -> bool:
        async with self._write() as connection:
            owner = await connection.scalar(
                sa.select(users.c.id).where(users.c.id == account_id).with_for_update()
            )
            if owner is None:
                return False
            # Children first: SQLite honours the cascades only with foreign
            # keys on, and billing records may not cascade on every dialect.
            for table in (preferences, billing_records, subscriptions, profiles):
                await connection.execute(table.delete().where(table.c.user_id == account_id))
            await connection.execute(users.delete().where(users.c.id == account_id))
            await self._insert_event(connection, event)
        return True

    async def delete_profile(
        self, profile_id: int, guard: ProfileGuard, event: ProfileEventFactory
    ) -> ProfileRecord:
        async with self._write() as connection:
            current = await self._lock_profile(connection, profile_id)
            guard(current)
            if current.primary:
                raise FailedPrecondition(
                    "the primary profile cannot be deleted", reason="PRIMARY_PROFILE"
                )
            # Explicit rather than relying on the cascade, which SQLite only
            # honours with foreign keys switched on.
            await connection.execute(
                preferences.delete().where(preferences.c.profile_id == profile_id)
            )
            await connection.execute(profiles.delete().where(profiles.c.id == profile_id))
            await self._insert_event(connection, event(current))
        return current

    # -- preferences ------------------------------------------------------

    async def list_preferences(
        self, profile_id: int, *, after_key: str, limit: int
    ) -> list[PreferenceRecord]:
        async with self._read() as connection:
            rows = await connection.execute(
                sa.select(preferences)
                .where(
                    preferences.c.profile_id == profile_id,
                    preferences.c.preference_key > after_key,
                )
                .order_by(preferences.c.preference_key)
                .limit(limit)
            )
            return [_preference(row) for row in rows]

    async def set_preference(
        self,
        profile_id: int,
        key: str,
        value: str,
        guard: ProfileGuard,
        event: PreferenceEventFactory,
    ) -> PreferenceRecord:
        async with self._write() as connection:
            # The profile lock also serialises writers of the same key, so the
            # read-then-write below is an upsert on both dialects.
            profile = await self._lock_profile(connection, profile_id)
            guard(profile)
            now = _now()
            existing = await connection.scalar(
                sa.select(preferences.c.id).where(
                    preferences.c.profile_id == profile_id, preferences.c.preference_key == key
                )
            )
            if existing is None:
                await connection.execute(
                    preferences.insert().values(
                        user_id=profile.account_id,
                        profile_id=profile_id,
                        preference_key=key,
                        preference_value=value,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                await connection.execute(
                    preferences.update()
                    .where(preferences.c.id == existing)
                    .values(preference_value=value, updated_at=now)
                )
            stored = PreferenceRecord(
                profile_id=profile_id,
                account_id=profile.account_id,
                key=key,
                value=value,
                updated_at=_aware(now),
            )
            await self._insert_event(connection, event(stored))
        return stored

    # -- plans and subscriptions -------------------------------------------

    async def list_plans(self, country_code: str) -> list[PlanRecord]:
        async with self._read() as connection:
            return await _priced_plans(connection, country_code)

    async def get_plan(self, plan_id: str, country_code: str) -> PlanRecord | None:
        async with self._read() as connection:
            found = await _priced_plans(connection, country_code, plan_id)
        return found[0] if found else None

    async def _subscription(
        self, connection: AsyncConnection, account_id: int, *, lock: bool = False
    ) -> SubscriptionRecord | None:
        account = sa.select(users.c.country_code).where(users.c.id == account_id)
        country = await connection.scalar(account.with_for_update() if lock else account)
        if country is None:
            return None
        row = (
            await connection.execute(
                sa.select(subscriptions).where(subscriptions.c.user_id == account_id)
            )
        ).first()
        if row is None:
            return None
        plan = await _priced_plans(connection, country, row.plan_id)
        return SubscriptionRecord(
            account_id=account_id,
            plan=plan[0],
            status=row.status,
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
        )

    async def get_subscription(self, account_id: int) -> SubscriptionRecord | None:
        async with self._read() as connection:
            return await self._subscription(connection, account_id)

    async def change_subscription(
        self,
        account_id: int,
        decide: SubscriptionDecision,
        event: SubscriptionEventFactory,
    ) -> SubscriptionRecord:
        async with self._write() as connection:
            # The account row's lock, as every write of the account takes it
            # first: its events keep commit order.
            current = await self._subscription(connection, account_id, lock=True)
            if current is None:
                raise NotFound(f"account {account_id} does not exist", reason="ACCOUNT_NOT_FOUND")
            change = decide(current)
            if change is None:
                return current
            country = await connection.scalar(
                sa.select(users.c.country_code).where(users.c.id == account_id)
            )
            plan = await _priced_plans(connection, str(country), change.plan_id)
            if not plan:
                raise NotFound(f"plan {change.plan_id} does not exist", reason="PLAN_NOT_FOUND")
            now = _now()
            await connection.execute(
                subscriptions.update()
                .where(subscriptions.c.user_id == account_id)
                .values(plan_id=change.plan_id, status=change.status, updated_at=now)
            )
            await _insert_billing(
                connection,
                account_id,
                change.kind,
                plan[0],
                change.status,
                change.payment_reference,
                now,
            )
            changed = SubscriptionRecord(
                account_id=account_id,
                plan=plan[0],
                status=change.status,
                created_at=current.created_at,
                updated_at=_aware(now),
            )
            await self._insert_event(connection, event(current, changed))
        return changed

    async def list_billing_records(
        self, account_id: int, *, before_id: int, limit: int
    ) -> list[BillingRecord]:
        query = sa.select(billing_records).where(billing_records.c.user_id == account_id)
        if before_id > 0:
            query = query.where(billing_records.c.id < before_id)
        async with self._read() as connection:
            rows = await connection.execute(
                query.order_by(billing_records.c.id.desc()).limit(limit)
            )
            return [_billing(row) for row in rows]


async def _priced_plans(
    connection: AsyncConnection, country_code: str, plan_id: str | None = None
) -> list[PlanRecord]:
    """Plans (one, or all) cheapest first, priced in the country, else in ELSEWHERE."""
    query = (
        sa.select(plans, plan_prices.c.country_code, plan_prices.c.currency_code)
        .add_columns(plan_prices.c.amount_minor)
        .join(plan_prices, plan_prices.c.plan_id == plans.c.id)
        .where(plan_prices.c.country_code.in_((country_code, ELSEWHERE)))
        .order_by(plans.c.rank, plans.c.id)
    )
    if plan_id is not None:
        query = query.where(plans.c.id == plan_id)
    chosen: dict[str, PlanRecord] = {}
    exact: set[str] = set()
    for row in await connection.execute(query):
        if row.id in exact:
            continue
        chosen[row.id] = PlanRecord(
            plan_id=row.id,
            display_name=row.display_name,
            max_streams=row.max_streams,
            max_quality=row.max_quality,
            price=Price(row.currency_code, int(row.amount_minor)),
        )
        if row.country_code == country_code:
            exact.add(row.id)
    return list(chosen.values())


async def _insert_billing(
    connection: AsyncConnection,
    account_id: int,
    kind: str,
    plan: PlanRecord,
    status: str,
    payment_reference: str,
    now: datetime,
) -> None:
    await connection.execute(
        billing_records.insert().values(
            user_id=account_id,
            kind=kind,
            plan_id=plan.plan_id,
            status=status,
            currency_code=plan.price.currency_code,
            amount_minor=plan.price.amount_minor,
            payment_reference=payment_reference,
            created_at=now,
        )
    )


def _billing(row: sa.Row[Any]) -> BillingRecord:
    return BillingRecord(
        billing_record_id=row.id,
        account_id=row.user_id,
        kind=row.kind,
        plan_id=row.plan_id,
        status=row.status,
        price=Price(row.currency_code, int(row.amount_minor)),
        payment_reference=row.payment_reference,
        created_at=_aware(row.created_at),
    )


def _email_taken() -> AlreadyExists:
    # The message does not repeat the address: errors end up in logs.
    return AlreadyExists("an account with this e-mail address already exists", reason="EMAIL_TAKEN")


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for an inserted row")
    return int(key[0])


async def insert_saga(connection: AsyncConnection, saga: NewSaga, now: datetime) -> None:
    """The saga's first record and its first log line, in the caller's transaction."""
    await connection.execute(
        sagas.insert().values(
            saga_id=saga.saga_id,
            saga_type=saga.saga_type,
            subject_id=saga.subject_id,
            account_id=saga.account_id,
            state="RUNNING",
            step_index=saga.done_at_start,
            steps_done=saga.done_at_start,
            attempts=0,
            failing_since=None,
            next_attempt_at=now,
            payload=saga.payload,
            last_error="",
            error_code=0,
            lease_owner=None,
            lease_expires_at=None,
            created_at=now,
            updated_at=now,
        )
    )
    await connection.execute(
        saga_log.insert().values(
            saga_id=saga.saga_id, step="", action="started", detail=saga.payload, created_at=now
        )
    )


async def _refuse_if_running(connection: AsyncConnection, saga_id: str) -> None:
    if not saga_id:
        return
    state = await connection.scalar(sa.select(sagas.c.state).where(sagas.c.saga_id == saga_id))
    if state in RUNNING_SAGA_STATES:
        raise FailedPrecondition(
            f"the profile's settings change {saga_id} is still being applied; "
            "retry when the profile's settings_change is no longer RUNNING or COMPENSATING",
            reason="PROFILE_SAGA_IN_PROGRESS",
            metadata={"saga_id": saga_id},
        )
