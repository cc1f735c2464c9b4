"""Versioned CQL migrations of the history keyspace, applied by ``streammesh migrate``.

The ``NNNN_<name>.cql`` files beside this module run in order, each once, through
the runtime's runner (services/runtime/cassandra.py), which also creates the
keyspace. The embedded SQLite store keeps its own schema (created or upgraded
when it opens), so for it :func:`apply` only opens the file once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from services.runtime.cassandra import CqlMigrations

if TYPE_CHECKING:
    from services.history.config import Config

CQL: Final = CqlMigrations(Path(__file__).resolve().parent)


async def apply(config: Config) -> None:
    """Brings the store of ``config`` to the newest schema (idempotent)."""
    from services.history.stores import STORE

    await STORE.migrate(config)
