"""The embedded recommendations store: one SQLite file through aiosqlite.

The same tables as the Cassandra keyspace (migrations/0001_*.cql), each read
by its primary key; a list is replaced in one transaction (delete, insert).
Nothing expires here: retention is the Cassandra store's. A file outage
raises Unavailable through the runtime's guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from services.recommendations.models import Context, Interaction, Scored
from services.recommendations.store import (
    StoredList,
    bucket_of,
    check_items,
    merged,
)
from services.runtime.sagas import SqliteParticipant, StepKey
from services.runtime.sqlite import outage_guard

_outage = outage_guard("the recommendations store")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS interactions (
  profile_id TEXT NOT NULL,
  title_id TEXT NOT NULL,
  completion REAL NOT NULL,
  watch_time INTEGER NOT NULL,
  country_code TEXT NOT NULL,
  PRIMARY KEY (profile_id, title_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS interaction_profiles (
  bucket INTEGER NOT NULL,
  profile_id TEXT NOT NULL,
  PRIMARY KEY (bucket, profile_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_lists (
  profile_id TEXT PRIMARY KEY,
  max_maturity TEXT NOT NULL,
  country_code TEXT NOT NULL,
  compute_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recommendations (
  profile_id TEXT NOT NULL,
  rank INTEGER NOT NULL,
  title_id TEXT NOT NULL,
  score REAL NOT NULL,
  reason_kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  source_title_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  PRIMARY KEY (profile_id, rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS similar_titles (
  title_id TEXT NOT NULL,
  rank INTEGER NOT NULL,
  similar_title_id TEXT NOT NULL,
  score REAL NOT NULL,
  reason TEXT NOT NULL,
  subject TEXT NOT NULL,
  PRIMARY KEY (title_id, rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS similar_computed (
  title_id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""

# Per profile, the rows a purge deletes.
_PURGED: Final = (
    "interactions",
    "interaction_profiles",
    "profile_lists",
    "recommendations",
    "profile_settings",
)

_INTERACTION: Final = (
    "SELECT title_id, completion, watch_time, country_code FROM interactions WHERE profile_id = ?"
)


class SqliteRecommendationStore(SqliteParticipant):
    NAME = "recommendations"
    SCHEMA = SCHEMA + SqliteParticipant.SAGA_SCHEMA
    SCHEMA_VERSION = 1

    @_outage
    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        return await self.purge_profile_rows(key, profile_ids, _PURGED, counted="interactions")

    @_outage
    async def record_interaction(self, interaction: Interaction) -> Interaction:
        async with self._transaction() as db:
            async with db.execute(
                _INTERACTION + " AND title_id = ?",
                (interaction.profile_id, interaction.title_id),
            ) as cursor:
                row = await cursor.fetchone()
            stored = merged(
                None if row is None else _interaction(interaction.profile_id, row), interaction
            )
            await db.execute(
                "INSERT INTO interactions (profile_id, title_id, completion, watch_time, "
                "country_code) VALUES (?, ?, ?, ?, ?) ON CONFLICT (profile_id, title_id) DO "
                "UPDATE SET completion = excluded.completion, watch_time = excluded.watch_time, "
                "country_code = excluded.country_code",
                (
                    stored.profile_id,
                    stored.title_id,
                    stored.completion,
                    stored.watch_time_ms,
                    stored.country_code,
                ),
            )
            await db.execute(
                "INSERT OR IGNORE INTO interaction_profiles (bucket, profile_id) VALUES (?, ?)",
                (bucket_of(stored.profile_id), stored.profile_id),
            )
        return stored

    @_outage
    async def interactions(self, profile_id: str) -> list[Interaction]:
        rows = await self._reader.fetch_all(_INTERACTION, (profile_id,))
        return [_interaction(profile_id, row) for row in rows]

    @_outage
    async def profile_ids(self, bucket: int) -> list[str]:
        rows = await self._reader.fetch_all(
            "SELECT profile_id FROM interaction_profiles WHERE bucket = ? ORDER BY profile_id",
            (bucket,),
        )
        return [row[0] for row in rows]

    @_outage
    async def save_list(self, stored: StoredList) -> None:
        check_items(stored.items)
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO profile_lists (profile_id, max_maturity, country_code, "
                "compute_time) VALUES (?, ?, ?, ?)",
                (
                    stored.profile_id,
                    stored.context.max_maturity,
                    stored.context.country_code,
                    stored.compute_time_ms,
                ),
            )
            await db.execute(
                "DELETE FROM recommendations WHERE profile_id = ?", (stored.profile_id,)
            )
            await db.executemany(
                "INSERT INTO recommendations (profile_id, rank, title_id, score, reason_kind, "
                "reason, source_title_id, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        stored.profile_id,
                        rank,
                        item.title_id,
                        item.score,
                        item.kind,
                        item.reason,
                        item.source_title_id,
                        item.subject,
                    )
                    for rank, item in enumerate(stored.items, start=1)
                ],
            )

    @_outage
    async def get_list(self, profile_id: str) -> StoredList | None:
        head = await self._reader.fetch_one(
            "SELECT max_maturity, country_code, compute_time FROM profile_lists "
            "WHERE profile_id = ?",
            (profile_id,),
        )
        if head is None:
            return None
        rows = await self._reader.fetch_all(
            "SELECT title_id, score, reason_kind, source_title_id, subject, reason "
            "FROM recommendations WHERE profile_id = ? ORDER BY rank",
            (profile_id,),
        )
        return StoredList(
            profile_id, Context(head[0], head[1]), head[2], tuple(Scored(*row) for row in rows)
        )

    @_outage
    async def save_similar(self, title_id: str, items: Sequence[Scored]) -> None:
        check_items(items)
        async with self._transaction() as db:
            await db.execute("DELETE FROM similar_titles WHERE title_id = ?", (title_id,))
            await db.execute(
                "INSERT OR IGNORE INTO similar_computed (title_id) VALUES (?)", (title_id,)
            )
            await db.executemany(
                "INSERT INTO similar_titles (title_id, rank, similar_title_id, score, reason, "
                "subject) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (title_id, rank, item.title_id, item.score, item.reason, item.subject)
                    for rank, item in enumerate(items, start=1)
                ],
            )

    @_outage
    async def similar(self, title_id: str) -> list[Scored] | None:
        computed = await self._reader.fetch_one(
            "SELECT 1 FROM similar_computed WHERE title_id = ?", (title_id,)
        )
        if computed is None:
            return None
        rows = await self._reader.fetch_all(
            "SELECT similar_title_id, score, reason, subject FROM similar_titles "
            "WHERE title_id = ? ORDER BY rank",
            (title_id,),
        )
        return [_similar(title_id, row) for row in rows]


def _interaction(profile_id: str, row: Any) -> Interaction:
    return Interaction(profile_id, row[0], float(row[1]), int(row[2]), row[3])


def _similar(title_id: str, row: Any) -> Scored:
    from services.recommendations.models import BECAUSE_YOU_WATCHED

    return Scored(row[0], float(row[1]), BECAUSE_YOU_WATCHED, title_id, row[3], row[2])
