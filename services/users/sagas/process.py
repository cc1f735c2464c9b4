"""The orchestrator as its own process (``streammesh sagas orchestrate``).

It runs with the users service's environment (database, Redis, signing keys:
services/users/config.py) and the saga settings (services/users/sagas/config.py),
so a deployment runs it next to the users service with the same variables.
Several may run at once: the lease keeps each saga with one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.kit import clients
from services.runtime.cache import Cache
from services.runtime.object_store import open_object_store
from services.runtime.redis import redis_client
from services.users import migrations
from services.users.config import Config
from services.users.sagas.config import SagaConfig
from services.users.sagas.definitions import ACCOUNT_DELETION, SAGA_TYPES
from services.users.sagas.log import Saga, SagaLog
from services.users.sagas.orchestrator import Orchestrator, stuck_and_compensating
from services.users.sagas.participants import Participants, ServiceToken
from services.users.sessions import SessionStore
from services.users.stores.sql import SqlUserStore
from services.users.tokens import TokenIssuer, load_or_create_signing_key

log = logging.getLogger(__name__)

# How often the metrics snapshot is read from the saga log.
METRICS_REFRESH_SECONDS: Final = 2.0


@dataclass
class Snapshot:
    by_state: dict[tuple[str, str], int]
    stuck: dict[str, int]
    compensating: dict[str, int]


class SagaMetrics(Collector):
    """The saga metrics, read from the log (so every orchestrator reports the
    same figures, which survive restarts: alert on max(), not sum()).

    * ``streammesh_sagas_started_total{saga}``: sagas ever started;
    * ``streammesh_sagas_completed_total{saga}`` / ``..._compensated_total``:
      sagas that ended so;
    * ``streammesh_sagas_compensating{saga}``: sagas undoing their steps now;
    * ``streammesh_sagas_stuck{saga}``: live sagas whose current step has been
      failing for longer than ``stuck_after_seconds``.
    """

    def __init__(self) -> None:
        self.snapshot = Snapshot({}, {}, {})

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        snap = self.snapshot
        started = CounterMetricFamily("streammesh_sagas_started", "Sagas started.", labels=["saga"])
        completed = CounterMetricFamily(
            "streammesh_sagas_completed", "Sagas whose every step took effect.", labels=["saga"]
        )
        compensated = CounterMetricFamily(
            "streammesh_sagas_compensated",
            "Sagas whose done steps were all undone.",
            labels=["saga"],
        )
        compensating = GaugeMetricFamily(
            "streammesh_sagas_compensating", "Sagas undoing their steps now.", labels=["saga"]
        )
        stuck = GaugeMetricFamily(
            "streammesh_sagas_stuck",
            "Live sagas whose current step has been failing longer than the stuck threshold.",
            labels=["saga"],
        )
        for name in SAGA_TYPES:
            total = sum(n for (saga, _), n in snap.by_state.items() if saga == name)
            started.add_metric([name], total)
            completed.add_metric([name], snap.by_state.get((name, "COMPLETED"), 0))
            compensated.add_metric([name], snap.by_state.get((name, "COMPENSATED"), 0))
            compensating.add_metric([name], snap.compensating.get(name, 0))
            stuck.add_metric([name], snap.stuck.get(name, 0))
        return [started, completed, compensated, compensating, stuck]


async def refresh_metrics(sagas: SagaLog, metrics: SagaMetrics, config: SagaConfig) -> None:
    counts = await sagas.counts()
    stuck, compensating = stuck_and_compensating(
        await sagas.live(), stuck_after_seconds=config.stuck_after_seconds
    )
    metrics.snapshot = Snapshot(counts, dict(stuck), dict(compensating))


@asynccontextmanager
async def orchestrator_for(
    users: Config, config: SagaConfig, *, owner: str | None = None
) -> AsyncIterator[tuple[Orchestrator, SagaLog]]:
    """An orchestrator wired to the users database, Redis and the participants."""
    if users.migrate_on_start:
        await migrations.apply(users)
    store = SqlUserStore.from_url(users.database_url)
    redis = redis_client(users.redis_url)
    key = await asyncio.to_thread(load_or_create_signing_key, users.key_dir)
    issuer = TokenIssuer(key, issuer=users.token_issuer, ttl_seconds=users.token_ttl_seconds)
    sessions = SessionStore(
        redis, prefix=users.redis_prefix, refresh_ttl_seconds=users.refresh_ttl_seconds
    )
    caches = {
        name: Cache(redis, f"users.{name}", prefix=users.redis_prefix, near=False)
        for name in ("account", "profile", "profiles", "subscription")
    }

    async def invalidate(saga: Saga) -> None:
        keys = {"profiles": [str(saga.account_id)]}
        if saga.saga_type == ACCOUNT_DELETION.name:
            keys["account"] = [str(saga.account_id)]
            keys["subscription"] = [str(saga.account_id)]
            keys["profile"] = [str(p) for p in saga.payload.get("profile_ids", [])]
        else:
            keys["profile"] = [saga.subject_id]
        try:
            for name, values in keys.items():
                if values:
                    await caches[name].invalidate(*values)
        except Exception as err:  # noqa: BLE001 - Redis down: entries expire with their TTL
            log.warning("cache invalidation failed", extra={"error": str(err)})

    objects = await open_object_store(config.objects, config.object_store)
    channels = {
        name: clients.channel(name, users.server)
        for name in ("recommendations", "search", "history", "analytics")
    }
    token = ServiceToken(sessions, issuer)
    participants = Participants(
        store=store,
        sessions=sessions,
        token=token,
        recommendations=channels["recommendations"],
        search=channels["search"],
        history=channels["history"],
        analytics=channels["analytics"],
        objects=objects,
        uploads_bucket=config.uploads_bucket,
        poll_window_seconds=config.deletion_poll_window_seconds,
        invalidate=invalidate,
    )
    sagas = SagaLog(store.engine)
    try:
        yield (
            Orchestrator(
                sagas,
                participants.commands(),
                config,
                invalidate=invalidate,
                forget_credentials=token.forget,
                owner=owner,
            ),
            sagas,
        )
    finally:
        for channel in channels.values():
            await channel.close()
        await objects.close()
        await redis.aclose()
        await store.close()


async def serve(users: Config, config: SagaConfig, *, ready: threading.Event | None = None) -> None:
    """Runs the orchestrator until SIGTERM/SIGINT, with /metrics on its port."""
    metrics = SagaMetrics()
    if config.orchestrator_metrics_port:
        registry = CollectorRegistry()
        registry.register(metrics)
        start_http_server(
            config.orchestrator_metrics_port, addr=users.server.host, registry=registry
        )
        log.info("saga metrics on :%d/metrics", config.orchestrator_metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with orchestrator_for(users, config) as (orchestrator, sagas):

        async def keep_metrics() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    await refresh_metrics(sagas, metrics, config)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), METRICS_REFRESH_SECONDS)

        refresher = asyncio.create_task(keep_metrics())
        log.info("saga orchestrator %s running", orchestrator.owner)
        if ready is not None:
            ready.set()
        await orchestrator.run(stop)
        await refresher
