"""Runs the analytics service: ``python -m services.analytics.server``."""

from __future__ import annotations

from services.analytics.config import SERVICE, Config
from services.analytics.domain import AnalyticsDomain, Limits
from services.analytics.ingest import STREAMS, MicroBatcher, WarehouseLedger, group_of
from services.analytics.retention import RetentionLoop
from services.analytics.servicer import AnalyticsServicer
from services.analytics.stores import open_store
from services.events import streams
from services.events.config import stream_prefix_for
from services.events.consumer import ConsumerConfig, ConsumerRunner
from services.kit import Kit, Served, Service
from services.runtime.redis import REDIS_SOCKET_TIMEOUT_SECONDS
from streammesh.analytics.v1 import analytics_pb2_grpc

# Margin of a handler's timeout over the loader's outage retries.
_HANDLER_MARGIN_SECONDS = 30.0


async def build(config: Config, kit: Kit) -> Served:
    """The warehouse (migrated when ``migrate_on_start``) and its three loaders."""
    store = await open_store(config)
    kit.closing(store, store.close)
    if config.raw_retention_days > 0:
        retention = RetentionLoop(
            store,
            keep_days=config.raw_retention_days,
            interval_seconds=config.retention_interval_seconds,
        )
        retention.start()
        kit.closing(retention, retention.stop)
    if config.ingest_consumers:
        redis = kit.redis(config.redis_url)
        prefix = stream_prefix_for(config.redis_prefix)
        for domain in STREAMS:
            stream = streams.stream_name(domain, prefix)
            batcher = MicroBatcher(
                store,
                stream,
                max_events=config.batch_max_events,
                max_wait_seconds=config.batch_max_wait_seconds,
                outage_retry_seconds=config.outage_retry_seconds,
            )
            batcher.start()
            # Stopped after its consumer (closed newest first): the consumer's
            # waiting handlers get their batch loaded before the batcher goes.
            kit.closing(batcher, batcher.stop)
            kit.consume(
                ConsumerRunner(
                    redis,
                    stream,
                    group_of(domain),
                    batcher.handle,
                    config=ConsumerConfig(
                        # Every event in hand may wait in the open batch.
                        max_concurrency=config.batch_max_events,
                        max_in_flight=2 * config.batch_max_events,
                        read_count=config.batch_max_events,
                        handler_timeout_seconds=config.outage_retry_seconds
                        + config.batch_max_wait_seconds
                        + _HANDLER_MARGIN_SECONDS,
                        # A blocking read must end before the kit's Redis client
                        # gives up on the socket, or every idle read is an error.
                        block_ms=int(REDIS_SOCKET_TIMEOUT_SECONDS * 1000 / 2),
                    ),
                    dedupe=WarehouseLedger(),
                )
            )
    # No verifier: every RPC is internal and peers call them without a user
    # token, as the catalog's internal RPCs are; the port is reachable only
    # inside the mesh (the edge never routes internal RPCs).
    return Served(AnalyticsServicer(AnalyticsDomain(store, Limits.of(config))))


SERVICE_DEFINITION = Service(
    SERVICE, Config.from_env, build, analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
