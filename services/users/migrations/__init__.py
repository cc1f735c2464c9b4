"""Alembic migrations of the users database, applied by ``streammesh migrate``.

The revisions run on MariaDB and SQLite alike. :func:`apply` upgrades to the
newest revision and is idempotent: Alembic's ``alembic_version`` table records
what has run, so a second call changes nothing.

For developers, the ``alembic`` command works too::

    alembic -c services/users/migrations/alembic.ini revision -m "add x"
    STREAMMESH_USERS_DATABASE_URL=... alembic -c services/users/migrations/alembic.ini upgrade head
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from services.users.stores.sql import create_engine, for_writing

if TYPE_CHECKING:
    from services.users.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str = "") -> AlembicConfig:
    """An Alembic configuration for these migrations, without an ini file."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation would read a '%' in a password as syntax.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the users migrations have no revision")
    return head


async def apply(config: Config) -> None:
    """Upgrades the database of ``config`` to the newest revision."""
    await apply_url(config.database_url)


async def apply_url(url: str) -> None:
    engine = create_engine(url)
    try:
        # Takes SQLite's write lock first, so processes starting together
        # migrate one after the other and the later ones find the work done.
        async with for_writing(engine).begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    # env.py runs the migrations on this connection instead of opening one.
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
