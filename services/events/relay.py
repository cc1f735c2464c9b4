"""The outbox relay: publishes a producer's outbox rows to its Redis stream.

Each step reads a bounded batch of unpublished rows, oldest first, appends
them to the stream with XADD (the event_id in every entry), and only then
stamps them published. Killed at any point it loses nothing: a row is stamped
only after Redis accepted it, so a kill between XADD and the stamp re-publishes
the batch on restart (at-least-once; consumers dedupe on event_id). It never
reorders an aggregate's events: batches go out in outbox order, one batch at a
time, and a re-published batch repeats events the stream already holds in the
same order, which dedupe collapses.

One relay per source: a Redis lease (``SET NX PX``, renewed with every batch)
elects it; standbys take over within the lease TTL. The XADDs of a batch run
in one Lua script that first checks the lease token, so a relay that lost its
lease while paused cannot publish a stale batch after its successor (the
lease check and the writes are atomic in Redis). Database row locking (SELECT
... FOR UPDATE SKIP LOCKED) would let several relays run at once, but then
two batches of one aggregate could race to the stream; a single publisher is
the simpler way to keep order.

Redis restarts: with ``appendfsync everysec`` a crashed Redis can come back
without its last second of writes, including XADDs the relay already stamped.
The relay remembers Redis' ``run_id``; when it changes, it clears the stamp of
rows published in the ``redis_loss_window`` before it last saw the old
server, and publishes them again (duplicates are collapsed by consumers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from services.events import streams
from services.events.lease import Lease
from services.events.outbox import OutboxRow, OutboxSource

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "streammesh_events_published_total",
    "Outbox rows appended to their stream by the relay (re-publications included).",
    ["stream"],
)
RELAY_ERRORS = Counter(
    "streammesh_events_relay_errors_total",
    "Relay steps that failed on Redis or the outbox database and were retried.",
    ["source"],
)
RELAY_LEADER = Gauge(
    "streammesh_events_relay_leader",
    "1 while this process holds the relay lease of the source.",
    ["source"],
    # Summed over live worker processes: 1 when exactly one relay publishes.
    multiprocess_mode="livesum",
)
REPUBLISHED = Counter(
    "streammesh_events_republished_total",
    "Rows re-queued for publication after Redis restarted and may have lost its AOF tail.",
    ["source"],
)

# How often the relay compares Redis' run_id (one INFO call). The re-publish
# window must exceed this plus the AOF fsync interval.
RUN_ID_CHECK_SECONDS = 1.0

# KEYS: lease, stream. ARGV: token, lease ttl ms, maxlen, then 5 fields per row.
# Returns the entry ids, or false when the lease is not ours (nothing written).
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local ids = {}
for i = 4, #ARGV, 5 do
  ids[#ids + 1] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
    'event_id', ARGV[i], 'event_type', ARGV[i + 1], 'aggregate_type', ARGV[i + 2],
    'aggregate_id', ARGV[i + 3], 'payload', ARGV[i + 4])
end
return ids
"""


@dataclass(frozen=True)
class RelayConfig:
    """Bounds of one relay.

    batch_size: rows read and published per step (one Lua call).
    idle_poll_seconds: pause after a step that drained the outbox; bounds
        the relay's share of end-to-end delay (and its polling load).
    lease_ttl_ms: how long a dead relay blocks its standby.
    stream_maxlen: approximate retention of the stream (see ``streams``).
    redis_loss_window_seconds: how far back to re-publish after a Redis
        restart; must exceed the AOF fsync interval (1 s with everysec) plus
        RUN_ID_CHECK_SECONDS plus clock jitter.
    max_backoff_seconds: ceiling of the exponential pause after an error.
    retention: published rows older than this are deleted from the outbox.
    purge_interval_seconds / purge_batch: how often and how many at a time.
    """

    batch_size: int = 200
    idle_poll_seconds: float = 0.02
    lease_ttl_ms: int = 10_000
    stream_maxlen: int = streams.DEFAULT_STREAM_MAXLEN
    redis_loss_window_seconds: float = 5.0
    max_backoff_seconds: float = 5.0
    retention: timedelta = streams.OUTBOX_RETENTION
    purge_interval_seconds: float = 60.0
    purge_batch: int = 1_000


class Relay:
    """Publishes one outbox source to one stream."""

    def __init__(
        self,
        source: OutboxSource,
        redis: Redis,
        stream: str,
        config: RelayConfig | None = None,
    ) -> None:
        self.source = source
        self.stream = stream
        self.config = config or RelayConfig()
        self._redis = redis
        self._lease = Lease(
            redis, streams.relay_lease_key(stream, source.name), self.config.lease_ttl_ms
        )
        self._publish = redis.register_script(_PUBLISH)
        self._leader = False
        self._redis_run_id: str | None = None
        self._redis_seen_at: datetime | None = None
        self._next_purge = 0.0
        self._next_run_id_check = 0.0

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publishes until ``stop`` is set; errors are retried with capped backoff."""
        stop = stop or asyncio.Event()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    published = await self.step()
                    failures = 0
                except Exception as err:
                    # Any source's outages (SQL, Cassandra's driver errors) and
                    # Redis': the relay outlives them. Unexpected errors keep
                    # their traceback in the log.
                    failures += 1
                    RELAY_ERRORS.labels(self.source.name).inc()
                    self._set_leader(False)
                    self._next_run_id_check = 0.0  # Redis may have restarted
                    pause = min(self.config.max_backoff_seconds, 0.05 * 2**failures)
                    expected = isinstance(err, RedisError | SQLAlchemyError | OSError)
                    log.warning(
                        "relay %s: %s; retrying in %.2fs",
                        self.source.name,
                        err,
                        pause,
                        exc_info=not expected,
                    )
                    await _wait(stop, pause)
                    continue
                if published >= self.config.batch_size:
                    continue  # a backlog: next batch at once
                # A partial batch drained the outbox: pause so rows gather into
                # the next batch instead of one UPDATE commit per row, which
                # would compete with the producer's own commits.
                pause = (
                    self.config.idle_poll_seconds
                    if self._leader
                    else self.config.lease_ttl_ms / 3000
                )
                await _wait(stop, pause)
        finally:
            if self._leader:
                with contextlib.suppress(RedisError, OSError):
                    await self._lease.release()
                self._set_leader(False)

    async def step(self) -> int:
        """One batch: returns how many rows were published (0 when idle or standby)."""
        if not self._leader:
            if not await self._lease.acquire():
                return 0
            self._set_leader(True)
            # A lease lost unexpectedly may mean Redis lost its last writes.
            self._next_run_id_check = 0.0
        await self._notice_redis_restart()
        rows = await self.source.fetch_unpublished(self.config.batch_size)
        if not rows:
            if not await self._lease.renew():
                self._set_leader(False)
            await self._purge_if_due()
            return 0
        entry_ids = await self._publish(
            keys=[self._lease.key, self.stream],
            args=[
                self._lease.token,
                self._lease.ttl_ms,
                self.config.stream_maxlen,
                *_flatten(rows),
            ],
        )
        if not entry_ids:
            self._set_leader(False)
            return 0
        await self.source.mark_published([row.event_id for row in rows], datetime.now(UTC))
        PUBLISHED.labels(self.stream).inc(len(rows))
        return len(rows)

    async def drain(self, max_batches: int) -> int:
        """Publishes until the outbox is empty or ``max_batches`` ran; for tools and tests."""
        total = 0
        for _ in range(max_batches):
            published = await self.step()
            if not published and self._leader:
                break  # empty; a step that lost the lease is tried again
            total += published
        return total

    async def _notice_redis_restart(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now < self._next_run_id_check:
            return
        self._next_run_id_check = loop_now + RUN_ID_CHECK_SECONDS
        info = await self._redis.info("server")
        run_id = str(info["run_id"])
        now = datetime.now(UTC)
        if self._redis_run_id is not None and run_id != self._redis_run_id:
            seen = self._redis_seen_at or now
            since = seen - timedelta(seconds=self.config.redis_loss_window_seconds)
            requeued = await self.source.unpublish_since(since)
            REPUBLISHED.labels(self.source.name).inc(requeued)
            log.warning(
                "relay %s: Redis restarted (run_id %s -> %s); re-publishing %d rows since %s",
                self.source.name,
                self._redis_run_id,
                run_id,
                requeued,
                since.isoformat(),
            )
        self._redis_run_id = run_id
        self._redis_seen_at = now

    async def _purge_if_due(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now < self._next_purge:
            return
        self._next_purge = loop_now + self.config.purge_interval_seconds
        before = datetime.now(UTC) - self.config.retention
        purged = await self.source.purge_published(before, self.config.purge_batch)
        if purged:
            log.info("relay %s: purged %d published outbox rows", self.source.name, purged)

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        RELAY_LEADER.labels(self.source.name).set(1 if leader else 0)


def _flatten(rows: Sequence[OutboxRow]) -> list[str | bytes]:
    flat: list[str | bytes] = []
    for row in rows:
        flat += [row.event_id, row.event_type, row.aggregate_type, row.aggregate_id, row.payload]
    return flat


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


# Bound on waiting for a background relay to finish its step at shutdown.
STOP_TIMEOUT_SECONDS = 10.0


class BackgroundRelay:
    """A relay running as a task of the producing service's own server process.

    This is how the mesh runs relays: each producing service starts one next
    to its gRPC server (``start`` after the server is up, ``stop`` as a
    shutdown hook BEFORE its store and Redis client close). Every worker
    process of the service runs one; the lease makes exactly one of them
    publish. ``streammesh events relay --source NAME`` runs the same loop as
    a process of its own, for operators.
    """

    def __init__(self, relay: Relay, *, close: Callable[[], Awaitable[None]] | None = None) -> None:
        """``close`` releases what the relay alone uses (its own engine), after it stopped."""
        self.relay = relay
        self._close = close
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.relay.run(self._stop), name="outbox-relay")

    async def stop(self) -> None:
        self._stop.set()
        try:
            if self._task is not None:
                await asyncio.wait_for(self._task, STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(
                "relay %s did not stop within %ss", self.relay.source.name, STOP_TIMEOUT_SECONDS
            )
        finally:
            if self._close is not None:
                await self._close()
