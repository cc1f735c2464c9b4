"""Each real backend answers a real query through the driver the services use."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import asyncpg
import pytest
import redis.asyncio as aioredis
from opensearchpy import AsyncOpenSearch
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.infra.backends import BACKEND_TYPES
from tests.mesh import cassandra_cluster

pytestmark = pytest.mark.real

# Bound on one `streammesh infra status` run (it probes every backend).
STATUS_TIMEOUT_SECONDS = 60.0


async def test_mariadb_answers_select_version(mariadb_url: str) -> None:
    engine = create_async_engine(mariadb_url)
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SELECT VERSION()"))).scalar_one()
            database = (await connection.execute(text("SELECT DATABASE()"))).scalar_one()
    finally:
        await engine.dispose()
    assert "MariaDB" in version
    assert database == mariadb_url.rsplit("/", 1)[1]


async def test_redis_answers_ping_and_is_redis_7(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        server = await client.info("server")
        persistence = await client.info("persistence")
        await client.set(f"{redis_prefix}probe", b"1")
        assert await client.get(f"{redis_prefix}probe") == b"1"
    finally:
        await client.aclose()
    assert str(server["redis_version"]).startswith("7.")
    assert persistence["aof_enabled"] == 1


def _release_version(contact: tuple[str, int], keyspace: str) -> tuple[str, str]:
    cluster = cassandra_cluster(contact)
    try:
        session = cluster.connect(keyspace)
        version = session.execute("SELECT release_version FROM system.local").one()
        session.execute("CREATE TABLE probe (id int PRIMARY KEY, note text)")
        session.execute("INSERT INTO probe (id, note) VALUES (1, 'here')")
        row = session.execute("SELECT note FROM probe WHERE id = 1").one()
    finally:
        cluster.shutdown()
    return str(version.release_version), str(row.note)


async def test_cassandra_answers_release_version_and_the_keyspace_is_usable(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> None:
    # The driver blocks (its libev reactor runs on its own thread).
    version, note = await asyncio.to_thread(_release_version, cassandra_contact, cassandra_keyspace)
    assert version.startswith("5.0.")
    assert note == "here"


async def test_opensearch_answers_get_root_and_analyses_text(
    opensearch_url: str, opensearch_prefix: str
) -> None:
    client = AsyncOpenSearch(hosts=[opensearch_url])
    index = f"{opensearch_prefix}probe"
    try:
        info = await client.info()
        # analysis-common (a module we lay out ourselves) provides edge_ngram.
        await client.indices.create(
            index=index,
            body={
                "settings": {
                    "analysis": {
                        "tokenizer": {"edge": {"type": "edge_ngram", "min_gram": 2, "max_gram": 4}},
                        "analyzer": {"prefixes": {"type": "custom", "tokenizer": "edge"}},
                    }
                }
            },
        )
        tokens = await client.indices.analyze(
            index=index, body={"analyzer": "prefixes", "text": "Dune"}
        )
    finally:
        await client.close()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.")
    assert [token["token"] for token in tokens["tokens"]] == ["Du", "Dun", "Dune"]


async def test_postgres_answers_select_version(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        version = await connection.fetchval("SELECT version()")
        database = await connection.fetchval("SELECT current_database()")
    finally:
        await connection.close()
    assert version.startswith("PostgreSQL ")
    assert database == postgres_url.rsplit("/", 1)[1]


async def test_infra_status_reports_every_running_backend(
    mariadb_url: str,
    redis_url: str,
    cassandra_contact: tuple[str, int],
    opensearch_url: str,
    postgres_url: str,
) -> None:
    _, stdout, stderr = await _infra("status", "--json")
    rows = {row["backend"]: row for row in map(json.loads, stdout.decode().splitlines())}
    expected_versions = {
        "mariadb": r"^(10|11)\.",
        "redis": r"^7\.",
        "cassandra": r"^5\.0\.",
        "opensearch": r"^2\.",
        "postgres": r"^\d+\.\d+$",
        "s3proxy": r"^\d+\.\d+\.\d+$",
    }
    for name, pattern in expected_versions.items():
        assert rows[name]["state"] in ("running", "external"), stderr.decode()
        assert re.match(pattern, str(rows[name]["version"])), rows[name]


async def test_a_second_up_is_a_no_op_that_reports_every_backend_running(
    mariadb_url: str,
    redis_url: str,
    cassandra_contact: tuple[str, int],
    opensearch_url: str,
    postgres_url: str,
) -> None:
    code, stdout, stderr = await _infra("up")
    text = stdout.decode() + stderr.decode()
    assert code == 0, text
    assert text.count("already running") == len(BACKEND_TYPES), text
    assert "FAILED" not in text


async def test_an_unknown_backend_name_is_refused_with_the_known_ones() -> None:
    code, _, stderr = await _infra("down", "mongodb")
    assert code == 2
    assert "mongodb" in stderr.decode()
    assert "cassandra" in stderr.decode()


async def _infra(*args: str) -> tuple[int | None, bytes, bytes]:
    """Runs ``streammesh infra ARGS`` as a user would; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "infra",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), STATUS_TIMEOUT_SECONDS)
    return process.returncode, stdout, stderr
