"""The users service's outbox, as the events backbone's relay reads it.

The ``outbox`` table is written in the same transaction as each change
(services/users/stores/sql.py); the relay in the server process publishes it
(services/users/server.py), and ``streammesh events relay --source users``
can run the same loop as a process of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.events.outbox import OutboxSource, SqlOutboxSource
from services.events.sources import ProducerOutbox
from services.users.config import SERVICE, Config
from services.users.models import OutboxRow
from services.users.stores.sql import SqlUserStore, for_writing


def outbox_source(store: SqlUserStore) -> OutboxSource:
    """The outbox in ``store``'s database; marking rows published takes SQLite's write lock."""
    return SqlOutboxSource(
        store.engine,
        OutboxRow.__table__,  # type: ignore[arg-type]
        name=SERVICE,
        write_engine=for_writing(store.engine),
    )


@contextlib.asynccontextmanager
async def open_outbox() -> AsyncIterator[ProducerOutbox]:
    """The outbox of the users database the environment names."""
    store = SqlUserStore.from_url(Config.from_env().database_url)
    try:
        yield ProducerOutbox(outbox_source(store))
    finally:
        await store.close()
