"""The catalog service's title changes reach a consumer group through its outbox relay,
from the embedded SQLite store and from Cassandra."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from redis.asyncio import Redis

from services.catalog.config import Config
from services.catalog.server import create_server
from services.events import streams
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.catalog.conftest import cassandra_config
from tests.catalog.test_service import a_title
from tests.events.helpers import consume_aggregate


@pytest_asyncio.fixture(params=["embedded", "real"])
async def catalog(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[catalog_pb2_grpc.CatalogServiceStub, str]]:
    server_config = ServerConfig(service="catalog", port=0, access_log=False)
    prefix = f"{redis_prefix}{secrets.token_hex(3)}:"
    config = Config(
        server=server_config,
        backend="embedded",
        sqlite_path=tmp_path / "catalog.db",
        redis_url=redis_url,
        redis_prefix=prefix,
        seed_catalog="",
    )
    if request.param == "real":
        contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
        keyspace: str = request.getfixturevalue("cassandra_keyspace")
        config = replace(
            cassandra_config(contact, keyspace),
            server=server_config,
            redis_url=redis_url,
            redis_prefix=prefix,
            migrate_on_start=True,
        )
    server, port = await create_server(config)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield catalog_pb2_grpc.CatalogServiceStub(channel), streams.stream_name("catalog", prefix)
    await channel.close()
    await runtime.stop(server, 0)


async def test_a_titles_changes_reach_a_consumer_in_order(
    catalog: tuple[catalog_pb2_grpc.CatalogServiceStub, str], redis: Redis
) -> None:
    stub, stream = catalog
    title = await stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title()))
    for year in (2022, 2023):
        changed = catalog_pb2.Title()
        changed.CopyFrom(title)
        changed.release_year = year
        await stub.UpdateTitle(
            catalog_pb2.UpdateTitleRequest(
                title=changed, update_mask=FieldMask(paths=["release_year"])
            )
        )

    received = await consume_aggregate(redis, stream, title.title_id, 3, "the title's three events")

    assert [event.event_type for event in received] == [
        "catalog.title.created",
        "catalog.title.updated",
        "catalog.title.updated",
    ]
    assert all(event.source == "catalog" for event in received)
