"""The stores' one outage guard, with real SQLite errors, and the users store behind it."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from services.runtime.errors import NotFound, Unavailable
from services.runtime.stores import STORE_UNAVAILABLE, unavailable_on
from services.users import events, migrations
from services.users.store import NewAccount, ProfileFields
from services.users.stores.sql import SqlUserStore

guard = unavailable_on(
    sqlite3.DatabaseError, what="the test store", unless=(sqlite3.IntegrityError,)
)


def locked_database(path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """A database whose write lock one connection holds, and a second connection that waits
    for it only 10 ms."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    return holder, sqlite3.connect(path, isolation_level=None, timeout=0.01)


async def test_a_locked_database_is_unavailable_and_the_driver_error_its_cause(
    tmp_path: Path,
) -> None:
    holder, waiter = locked_database(tmp_path / "db.sqlite")
    with closing(holder), closing(waiter):

        @guard
        async def write() -> str:
            waiter.execute("INSERT INTO t VALUES ('a')")
            return "written"

        with pytest.raises(Unavailable) as raised:
            await write()
        assert raised.value.message == "the test store is unavailable; retry later"
        assert raised.value.reason == STORE_UNAVAILABLE
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        holder.execute("ROLLBACK")
        assert await write() == "written"


async def test_the_guard_is_also_a_context_manager_sync_and_async(tmp_path: Path) -> None:
    holder, waiter = locked_database(tmp_path / "db.sqlite")
    with closing(holder), closing(waiter):
        with pytest.raises(Unavailable), guard:
            waiter.execute("INSERT INTO t VALUES ('a')")
        with pytest.raises(Unavailable):
            async with guard:
                waiter.execute("INSERT INTO t VALUES ('a')")


async def test_a_constraint_or_a_domain_error_is_not_an_outage(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)) as db:
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        db.execute("INSERT INTO t VALUES ('a')")
        with pytest.raises(sqlite3.IntegrityError), guard:
            db.execute("INSERT INTO t VALUES ('a')")
        with pytest.raises(NotFound), guard:
            raise NotFound("no such title", reason="TITLE_NOT_FOUND")


async def test_a_users_database_that_is_not_a_database_is_unavailable_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # SQLAlchemy reports sqlite's "file is not a database" as plain DatabaseError,
    # not OperationalError: the users store maps it as an outage too.
    path = tmp_path / "users.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrations.apply_url(url)
    store = SqlUserStore.from_url(url)
    account, _ = await store.create_account(
        NewAccount(
            email=f"outage.{secrets.token_hex(4)}@example.com",
            password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
            first_name="Ada",
            last_name="Lovelace",
            country_code="GB",
            language_code="en-GB",
        ),
        ProfileFields(profile_name="Ada", avatar_url="", maturity_rating="PG", kids_profile=False),
        events.account_created,
    )
    await store.close()
    good = path.read_bytes()
    path.write_bytes(b"\x00garbage" * (len(good) // 8 + 1))
    store = SqlUserStore.from_url(url)
    try:
        with pytest.raises(Unavailable) as raised:
            await store.get_account(account.account_id)
        assert raised.value.message == "the users database is unavailable; retry later"
    finally:
        await store.close()
    path.write_bytes(good)
    store = SqlUserStore.from_url(url)
    try:
        assert await store.get_account(account.account_id) == account
    finally:
        await store.close()
