"""Alembic environment: runs the users migrations on a given or a new async connection."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from services.users.models import Base
from services.users.stores.sql import create_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_new_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        # services.users.migrations.apply: already inside the event loop.
        _run(connection)
        return
    # The `alembic` command line.
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "STREAMMESH_USERS_DATABASE_URL", ""
    )
    if not url:
        from services.users.config import Config

        url = Config.from_env().database_url
    asyncio.run(_run_on_new_engine(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
_main()
