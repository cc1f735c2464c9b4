"""The recommendations on Cassandra 5, through the runtime's session.

Every statement is prepared once, when the store opens; tables, partition
bounds, TTLs and compaction are in migrations/0001_recommendations_tables.cql.

A list (a profile's, or a title's similar titles) is one partition, replaced
by one single-partition batch: a partition delete at write timestamp T and the
rows at T+1 (a tombstone wins a tie). A batch on one partition is applied
atomically and in isolation, so a reader sees the old list or the new one,
never a mix. An interaction is read, merged and written under this process's
lock per (profile, title); the consumer group's lease makes one process the
writer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from services.recommendations.models import BECAUSE_YOU_WATCHED, Context, Interaction, Scored
from services.recommendations.store import (
    MAX_LIST_SIZE,
    StoredList,
    bucket_of,
    check_items,
    merged,
)
from services.runtime.cassandra import CassandraSession
from services.runtime.locks import KeyedLocks
from services.runtime.sagas import CassandraLedger, ProfileSettings, StepKey

# Rows per read of the profile index.
CHUNK: Final = 1_000
# Rows a profile's interactions partition is read with at most (a year of titles).
MAX_INTERACTIONS: Final = 10_000


@dataclass(frozen=True)
class _Statements:
    interaction: PreparedStatement
    interactions: PreparedStatement
    upsert_interaction: PreparedStatement
    index_profile: PreparedStatement
    profiles_first: PreparedStatement
    profiles_next: PreparedStatement
    get_list: PreparedStatement
    delete_list: PreparedStatement
    insert_head: PreparedStatement
    insert_item: PreparedStatement
    get_similar: PreparedStatement
    delete_similar: PreparedStatement
    insert_similar: PreparedStatement
    put_settings: PreparedStatement
    get_settings: PreparedStatement
    purge: tuple[PreparedStatement, ...]
    unindex_profile: PreparedStatement


async def _prepare_all(session: CassandraSession) -> _Statements:
    prepare = session.prepare
    columns = "title_id, completion, watch_time, country_code"
    return _Statements(
        interaction=await prepare(
            f"SELECT {columns} FROM {{ks}}.interactions_by_profile "
            "WHERE profile_id = ? AND title_id = ?"
        ),
        interactions=await prepare(
            f"SELECT {columns} FROM {{ks}}.interactions_by_profile WHERE profile_id = ? LIMIT ?"
        ),
        upsert_interaction=await prepare(
            "INSERT INTO {ks}.interactions_by_profile (profile_id, title_id, completion, "
            "watch_time, country_code) VALUES (?, ?, ?, ?, ?)"
        ),
        index_profile=await prepare(
            "INSERT INTO {ks}.interaction_profiles (bucket, profile_id) VALUES (?, ?)"
        ),
        profiles_first=await prepare(
            "SELECT profile_id FROM {ks}.interaction_profiles WHERE bucket = ? LIMIT ?"
        ),
        profiles_next=await prepare(
            "SELECT profile_id FROM {ks}.interaction_profiles "
            "WHERE bucket = ? AND profile_id > ? LIMIT ?"
        ),
        get_list=await prepare(
            "SELECT max_maturity, country_code, compute_time, rank, title_id, score, "
            "reason_kind, source_title_id, subject, reason "
            "FROM {ks}.recommendations_by_profile WHERE profile_id = ? LIMIT ?"
        ),
        delete_list=await prepare(
            "DELETE FROM {ks}.recommendations_by_profile USING TIMESTAMP ? WHERE profile_id = ?"
        ),
        insert_head=await prepare(
            "INSERT INTO {ks}.recommendations_by_profile (profile_id, max_maturity, "
            "country_code, compute_time) VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        ),
        insert_item=await prepare(
            "INSERT INTO {ks}.recommendations_by_profile (profile_id, rank, title_id, score, "
            "reason_kind, reason, source_title_id, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?"
        ),
        get_similar=await prepare(
            "SELECT rank, similar_title_id, score, reason, subject FROM {ks}.similar_by_title "
            "WHERE title_id = ? LIMIT ?"
        ),
        delete_similar=await prepare(
            "DELETE FROM {ks}.similar_by_title USING TIMESTAMP ? WHERE title_id = ?"
        ),
        insert_similar=await prepare(
            "INSERT INTO {ks}.similar_by_title (title_id, rank, similar_title_id, score, "
            "reason, subject) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        ),
        put_settings=await prepare(
            "INSERT INTO {ks}.profile_settings (profile_id, maturity_rating, kids_profile, "
            "language_code) VALUES (?, ?, ?, ?)"
        ),
        get_settings=await prepare(
            "SELECT maturity_rating, kids_profile, language_code FROM {ks}.profile_settings "
            "WHERE profile_id = ?"
        ),
        purge=(
            await prepare("DELETE FROM {ks}.interactions_by_profile WHERE profile_id = ?"),
            await prepare("DELETE FROM {ks}.recommendations_by_profile WHERE profile_id = ?"),
            await prepare("DELETE FROM {ks}.profile_settings WHERE profile_id = ?"),
        ),
        unindex_profile=await prepare(
            "DELETE FROM {ks}.interaction_profiles WHERE bucket = ? AND profile_id = ?"
        ),
    )


class CassandraRecommendationStore:
    def __init__(
        self, session: CassandraSession, statements: _Statements, ledger: CassandraLedger
    ) -> None:
        self._session = session
        self._q = statements
        self._ledger = ledger
        self._consistency = ConsistencyLevel.name_to_value[session.settings.consistency]
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._last_write_us = 0

    @classmethod
    async def on_session(cls, session: CassandraSession) -> CassandraRecommendationStore:
        """The store on ``session``'s keyspace (migrated); closing the store closes it."""
        return cls(session, await _prepare_all(session), await CassandraLedger(session).prepare())

    async def close(self) -> None:
        await self._session.close()

    # -- saga participant: check the ledger, apply (idempotent), record ----

    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> bool:
        if await self._ledger.already_applied(key):
            return True
        await self._run(
            self._q.put_settings,
            (profile_id, settings.maturity_rating, settings.kids_profile, settings.language_code),
        )
        await self._ledger.record(key, int(time.time() * 1000))
        return False

    async def profile_settings(self, profile_id: str) -> ProfileSettings | None:
        rows = await self._run(self._q.get_settings, (profile_id,))
        if not rows:
            return None
        row = rows[0]
        return ProfileSettings(row.maturity_rating, bool(row.kids_profile), row.language_code)

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        if await self._ledger.already_applied(key):
            return 0, True
        deleted = 0
        for profile_id in profile_ids:
            # Counted before: Cassandra's deletes do not say what they removed.
            deleted += len(await self.interactions(profile_id))
            for statement in self._q.purge:
                await self._run(statement, (profile_id,))
            await self._run(self._q.unindex_profile, (bucket_of(profile_id), profile_id))
        await self._ledger.record(key, int(time.time() * 1000))
        return deleted, False

    async def _run(self, statement: Any, parameters: Any = None) -> list[Any]:
        return await self._session.execute(statement, parameters)

    def _write_timestamp(self) -> int:
        """Microseconds, strictly increasing in this process (T and T+1 of a replace)."""
        now = time.time_ns() // 1_000
        self._last_write_us = max(now, self._last_write_us + 2)
        return self._last_write_us

    async def record_interaction(self, interaction: Interaction) -> Interaction:
        key = (interaction.profile_id, interaction.title_id)
        async with self._locks.hold(key):
            rows = await self._run(self._q.interaction, key)
            stored = merged(
                _interaction(interaction.profile_id, rows[0]) if rows else None, interaction
            )
            batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=self._consistency)
            batch.add(
                self._q.upsert_interaction,
                (
                    stored.profile_id,
                    stored.title_id,
                    stored.completion,
                    stored.watch_time_ms,
                    stored.country_code,
                ),
            )
            batch.add(self._q.index_profile, (bucket_of(stored.profile_id), stored.profile_id))
            await self._run(batch)
        return stored

    async def interactions(self, profile_id: str) -> list[Interaction]:
        rows = await self._run(self._q.interactions, (profile_id, MAX_INTERACTIONS))
        return [_interaction(profile_id, row) for row in rows]

    async def profile_ids(self, bucket: int) -> list[str]:
        found: list[str] = []
        rows = await self._run(self._q.profiles_first, (bucket, CHUNK))
        while True:
            found.extend(row.profile_id for row in rows)
            if len(rows) < CHUNK:
                return found
            rows = await self._run(self._q.profiles_next, (bucket, found[-1], CHUNK))

    async def save_list(self, stored: StoredList) -> None:
        check_items(stored.items)
        ts = self._write_timestamp()
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._consistency)
        batch.add(self._q.delete_list, (ts - 1, stored.profile_id))
        batch.add(
            self._q.insert_head,
            (
                stored.profile_id,
                stored.context.max_maturity,
                stored.context.country_code,
                stored.compute_time_ms,
                ts,
            ),
        )
        for rank, item in enumerate(stored.items, start=1):
            batch.add(
                self._q.insert_item,
                (
                    stored.profile_id,
                    rank,
                    item.title_id,
                    item.score,
                    item.kind,
                    item.reason,
                    item.source_title_id,
                    item.subject,
                    ts,
                ),
            )
        await self._run(batch)

    async def get_list(self, profile_id: str) -> StoredList | None:
        rows = await self._run(self._q.get_list, (profile_id, MAX_LIST_SIZE + 1))
        if not rows or rows[0].max_maturity is None:
            return None
        head = rows[0]
        items = tuple(
            Scored(
                row.title_id,
                row.score,
                row.reason_kind,
                row.source_title_id,
                row.subject,
                row.reason,
            )
            for row in rows
            if row.rank is not None
        )
        compute_ms = (
            int(head.compute_time.replace(tzinfo=UTC).timestamp() * 1000)
            if head.compute_time
            else 0
        )
        return StoredList(
            profile_id, Context(head.max_maturity, head.country_code), compute_ms, items
        )

    async def save_similar(self, title_id: str, items: Sequence[Scored]) -> None:
        check_items(items)
        ts = self._write_timestamp()
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._consistency)
        batch.add(self._q.delete_similar, (ts - 1, title_id))
        # Rank 0 marks "computed" (a title with no similar titles is not recomputed).
        batch.add(self._q.insert_similar, (title_id, 0, "", 0.0, "", "", ts))
        for rank, item in enumerate(items, start=1):
            batch.add(
                self._q.insert_similar,
                (title_id, rank, item.title_id, item.score, item.reason, item.subject, ts),
            )
        await self._run(batch)

    async def similar(self, title_id: str) -> list[Scored] | None:
        rows = await self._run(self._q.get_similar, (title_id, MAX_LIST_SIZE + 2))
        if not rows:
            return None
        return [
            Scored(
                row.similar_title_id,
                row.score,
                BECAUSE_YOU_WATCHED,
                title_id,
                row.subject,
                row.reason,
            )
            for row in rows
            if row.rank > 0
        ]


def _interaction(profile_id: str, row: Any) -> Interaction:
    watch_time = row.watch_time
    ms = int(watch_time.replace(tzinfo=UTC).timestamp() * 1000) if watch_time else 0
    return Interaction(profile_id, row.title_id, float(row.completion), ms, row.country_code)
