"""The outbox of each producing service, opened by name for ``streammesh events relay``.

A producing service registers here how to reach its outbox from its own
config; the relay command, ``streammesh up`` and tests then need only the
name. Any other SQL outbox is reachable by URL and table name (the table is
reflected, so it only needs the standard columns).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from services.events.outbox import OutboxSource, SqlOutboxSource


@contextlib.asynccontextmanager
async def sql_source(url: str, table_name: str, name: str) -> AsyncIterator[OutboxSource]:
    """An outbox table reached by URL; the engine is closed on exit."""
    # The relay needs one connection at a time; pre-ping survives a database restart.
    engine = create_async_engine(url, pool_pre_ping=True)
    try:
        async with engine.connect() as conn:
            table = await conn.run_sync(
                lambda sync: sa.Table(table_name, sa.MetaData(), autoload_with=sync)
            )
        yield SqlOutboxSource(engine, table, name=name)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _users() -> AsyncIterator[OutboxSource]:
    from services.users.config import Config

    config = Config.from_env()
    async with sql_source(config.database_url, "outbox", "users") as source:
        yield source


# Producing service -> its outbox. The stream is `streammesh.<name>`.
SOURCES: dict[str, Callable[[], AbstractAsyncContextManager[OutboxSource]]] = {
    "users": _users,
}
