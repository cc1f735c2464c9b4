"""An analytics server next to a mini-mesh (tests/mesh.py), on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import grpc.aio

from services.analytics.config import Config as AnalyticsConfig
from services.analytics.server import create_server
from services.kit import server as runtime
from streammesh.analytics.v1 import analytics_pb2_grpc
from tests.mesh import STOP_GRACE_SECONDS, Storage, server_config


def analytics_config(storage: Storage, postgres_url: str = "", **overrides: Any) -> AnalyticsConfig:
    """Analytics on PostgreSQL at ``postgres_url`` when given, else on a DuckDB file under
    the storage's folder; its loaders read the streams under the storage's Redis prefix."""
    config = AnalyticsConfig(
        server=server_config("analytics"),
        backend="real" if postgres_url else "embedded",
        duckdb_path=storage.state / "analytics.duckdb",
        postgres_url=postgres_url,
        postgres_pool_size=2,
        redis_url=storage.redis_url,
        redis_prefix=storage.redis_prefix,
        # Small batches, loaded soon: the tests wait for rows, not throughput.
        batch_max_wait_seconds=0.05,
        # Some tests write views on fixed dates, which a clock-driven retention
        # would roll up some day; tests/analytics/test_retention.py covers it.
        raw_retention_days=0,
    )
    return replace(config, **overrides)


@asynccontextmanager
async def analytics_server(
    config: AnalyticsConfig,
) -> AsyncIterator[tuple[analytics_pb2_grpc.AnalyticsServiceStub, str]]:
    """The server's stub and address."""
    server, port = await create_server(config)
    address = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield analytics_pb2_grpc.AnalyticsServiceStub(channel), address
    finally:
        await runtime.stop(server, STOP_GRACE_SECONDS)
