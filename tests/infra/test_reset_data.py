"""`streammesh infra reset --data`: only the named data go; the shared servers keep the rest."""

from __future__ import annotations

import pytest

from devtools.infra import data

pytestmark = pytest.mark.real


def test_names_that_could_inject_sql_or_cql_are_refused() -> None:
    for name in ("users; DROP DATABASE x", "a`b", 'a"b', "", "x" * 49, "a-b"):
        with pytest.raises(ValueError, match="plain database name"):
            data.identifier(name)


async def test_a_prefix_reset_deletes_its_keys_in_every_db_and_nothing_beside_them(
    redis_url: str, redis_prefix: str
) -> None:
    doomed = f"{redis_prefix}reset:"
    neighbour = f"{redis_prefix}reset-neighbour"  # shares the text, not the prefix
    db0, db5 = data.redis_client(0), data.redis_client(5)
    try:
        await db0.set(f"{doomed}a", "1")
        await db0.set(f"{doomed}*glob", "1")
        await db5.set(f"{doomed}b", "1")
        await db0.set(neighbour, "kept")
        await db5.set(neighbour, "kept")

        deleted = await data.delete_redis_prefixes((doomed,))

        assert deleted == 3
        assert await db0.get(neighbour) == b"kept"
        assert await db5.get(neighbour) == b"kept"
        assert await db0.exists(f"{doomed}a", f"{doomed}*glob") == 0
        assert await db5.exists(f"{doomed}b") == 0
    finally:
        await db0.delete(neighbour)
        await db5.delete(neighbour)
        await db0.aclose()
        await db5.aclose()


async def test_an_empty_prefix_is_refused_rather_than_matching_every_key(redis_url: str) -> None:
    with pytest.raises(ValueError, match="every key"):
        await data.delete_redis_prefixes(("",))


async def test_a_database_reset_drops_that_database_only(mariadb_url: str, run_id: str) -> None:
    doomed, kept = f"rd_{run_id}", f"rd_{run_id}_kept"
    connection = await data.mariadb_admin()
    try:
        async with connection.cursor() as cursor:
            for name in (doomed, kept):
                await cursor.execute(f"CREATE DATABASE `{name}`")
        await data.drop_mariadb((doomed,))
        async with connection.cursor() as cursor:
            await cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name IN (%s, %s)",
                (doomed, kept),
            )
            assert [row[0] for row in await cursor.fetchall()] == [kept]
    finally:
        await data.drop_mariadb((doomed, kept))
        connection.close()
