"""Runs the catalog service: ``python -m services.catalog.server``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
from redis.asyncio import Redis

from services.catalog.config import Config
from services.catalog.domain import LISTINGS_NAMESPACE, TITLES_NAMESPACE, CatalogDomain
from services.catalog.servicer import SERVICE_NAME, CatalogServicer
from services.catalog.store import CatalogStore
from services.catalog.stores import open_store
from services.events.sources import catalog_relay
from services.runtime import server as runtime
from services.runtime.cache import Cache, VersionedCache
from services.runtime.redis import redis_client
from streammesh.catalog.v1 import catalog_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Components:
    """What create_server wired together (benchmarks and tests look inside)."""

    domain: CatalogDomain
    store: CatalogStore
    redis: Redis
    titles: Cache


async def build(config: Config) -> Components:
    """The service's parts, connected (migrated when ``migrate_on_start``, seeded
    from ``seed_catalog`` when its titles are missing)."""
    store = await open_store(config)
    try:
        if config.seed_catalog:
            await _seed(store, Path(config.seed_catalog), config.import_concurrency)
    except BaseException:
        await store.close()
        raise
    redis = redis_client(config.redis_url)
    titles = Cache(
        redis, TITLES_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    listings = VersionedCache(
        redis, LISTINGS_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    return Components(CatalogDomain(store, titles, listings), store, redis, titles)


async def _seed(store: CatalogStore, path: Path, concurrency: int) -> None:
    """Imports ``path``; titles already there as the file has them are left alone."""
    from services.catalog.importer import import_parsed, parse_file

    parsed = await asyncio.to_thread(parse_file, path)
    report = await import_parsed(store, parsed, concurrency)
    log.info(
        "seeded the catalog from %s: %d created, %d updated, %d unchanged, %d rows rejected",
        path,
        report.outcomes["created"],
        report.outcomes["updated"],
        report.outcomes["unchanged"],
        len(report.rejected),
    )


async def create_server(config: Config) -> tuple[grpc.aio.Server, int]:
    """Builds and starts the catalog server; returns it and its port."""
    parts = await build(config)
    servicer = CatalogServicer(parts.domain)
    server, port = await runtime.create_server(
        config.server,
        lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
    )
    # The outbox relay runs beside the server (services/events/relay.py); it
    # stops before the store and the Redis client close.
    relay = await catalog_relay(config, parts.store, parts.redis)
    relay.start()
    runtime.add_shutdown_hook(server, relay.stop)
    runtime.add_shutdown_hook(server, parts.store.close)
    runtime.add_shutdown_hook(server, parts.redis.aclose)
    return server, port


def main() -> None:
    config = Config.from_env()
    runtime.run(lambda: create_server(config), config.server)


if __name__ == "__main__":
    main()
