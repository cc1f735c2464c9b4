"""The catalog service's title changes reach a consumer group through its outbox relay,
from the embedded SQLite store and from Cassandra."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from redis.asyncio import Redis

from services.events import streams
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.catalog.conftest import catalog_backends
from tests.catalog.test_service import a_title
from tests.events.helpers import consume_aggregate
from tests.mesh import Storage, catalog_config, start_mesh


@pytest_asyncio.fixture(params=["embedded", "real"])
async def catalog(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[catalog_pb2_grpc.CatalogServiceStub, str]]:
    prefix = f"{redis_prefix}{secrets.token_hex(3)}:"
    storage = Storage(tmp_path, redis_url, prefix, catalog_backends(request))
    async with start_mesh(catalog_config(storage, seed_catalog="")) as mesh:
        channel = grpc.aio.insecure_channel(mesh.address("catalog"))
        yield catalog_pb2_grpc.CatalogServiceStub(channel), streams.stream_name("catalog", prefix)
        await channel.close()


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
