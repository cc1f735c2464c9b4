"""Versioned CQL migrations of the recommendations keyspace, applied by ``streammesh migrate``
(the runtime's runner, services/runtime/cassandra.py); the SQLite store keeps its own schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from services.runtime.cassandra import CqlMigrations

if TYPE_CHECKING:
    from services.recommendations.config import Config

CQL: Final = CqlMigrations(Path(__file__).resolve().parent)


async def apply(config: Config) -> None:
    """Brings the store of ``config`` to the newest schema (idempotent)."""
    from services.recommendations.stores import STORE

    await STORE.migrate(config)
