"""Runs the catalog service: ``python -m services.catalog.server``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from services.catalog import outbox
from services.catalog.config import SERVICE, Config
from services.catalog.domain import LISTINGS_NAMESPACE, TITLES_NAMESPACE, CatalogDomain, Media
from services.catalog.servicer import CatalogServicer
from services.catalog.store import CatalogStore
from services.catalog.stores import open_store
from services.kit import Kit, Served, Service
from services.runtime.cache import Cache, VersionedCache
from services.runtime.errors import Unavailable
from services.runtime.object_store import open_object_store
from streammesh.catalog.v1 import catalog_pb2_grpc

log = logging.getLogger(__name__)


async def build(config: Config, kit: Kit) -> Served:
    """The catalog's parts (migrated when ``migrate_on_start``, seeded from
    ``seed_catalog`` when its titles are missing)."""
    store = await open_store(config)
    kit.closing(store, store.close)
    if config.seed_catalog:
        await _seed(store, Path(config.seed_catalog), config.import_concurrency)
    redis = kit.redis(config.redis_url)
    relayed = await kit.enter(outbox.outbox_of(config, store))
    kit.relay(relayed.source, redis, config.redis_prefix, relayed.relay)
    titles = Cache(
        redis, TITLES_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    listings = VersionedCache(
        redis, LISTINGS_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    objects = await open_object_store(config.objects, config.media_store)
    kit.closing(objects, objects.close)
    try:
        await objects.ensure_bucket(config.media_bucket)
    except Unavailable:
        # Titles and their artwork URLs do not need the store; uploads answer
        # UNAVAILABLE until it is back (each creates the bucket if missing).
        log.warning("object store unavailable at start; artwork uploads wait for it")
    media = Media(objects, config.media_bucket, config.media_base.rstrip("/"))
    # No token verifier: the catalog's RPCs are public or internal (its contract).
    return Served(CatalogServicer(CatalogDomain(store, titles, listings, media)))


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


SERVICE_DEFINITION = Service(
    SERVICE, Config.from_env, build, catalog_pb2_grpc.add_CatalogServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
