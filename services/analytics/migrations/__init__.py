"""Versioned warehouse schemas: ``<dialect>/NNNN_<name>.sql``, applied in order once each.

Each adapter keeps the versions it applied in ``schema_migrations`` and runs
the files above its highest version when it opens migrating: at start-up with
``migrate_on_start``, or through :func:`apply`, which ``streammesh migrate``
calls (services/migrate.py; the Kubernetes `migrate` Job).
A database that has a version this build does not know is refused rather
than misread. Files are never edited once released: a change is a new file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from services.analytics.config import Config

_HERE: Final = Path(__file__).parent
_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations ("postgres" or "duckdb"), oldest first."""
    found = []
    for path in sorted((_HERE / dialect).iterdir()):
        match = _NAME.match(path.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return found


async def apply(config: Config) -> None:
    """Brings the warehouse of ``config`` to the newest schema (idempotent)."""
    from services.analytics.stores import open_store

    store = await open_store(replace(config, migrate_on_start=True))
    await store.close()
