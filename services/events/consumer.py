"""Consumer groups on Redis Streams: ordered per aggregate, deduped, retried, dead-lettered.

How a :class:`ConsumerRunner` handles the entries of one group:

* One ACTIVE consumer per group, elected by a Redis lease; other processes
  wait as standbys. Inside it, entries of different aggregates are handled
  concurrently (``max_concurrency``), entries of one aggregate strictly one
  after another in stream order (one queue and one task per aggregate). That
  is how "an account's events are consumed in order" holds: with several
  active consumers, two entries of one aggregate could be handed to two
  processes and race. (To scale one group past one process, partition the
  stream by aggregate; not needed at this project's volumes.)
* Ack after success: the handler runs, the dedupe marker is written, then
  XACK. A failing entry is retried after a capped exponential backoff while it
  blocks only its own aggregate; other aggregates keep flowing.
* Bounded retries: each retry is an XCLAIM, which makes Redis count the
  delivery, so the count (as XPENDING reports it) survives a crash. A
  handler that raises Unavailable (its store is down: the entry is not at
  fault) is retried without counting a delivery, paused as a retry, for up
  to ``max_outage_seconds``; a backend restart therefore dead-letters
  nothing, and only past that bound do its tries count. Once an
  entry has been delivered ``max_deliveries`` times and failed, it is copied
  to ``<stream>.dlq`` with the error and acked from the stream in one MULTI;
  the aggregate's later events then proceed. An entry whose delivery count
  already exceeds the bound when it arrives (it crashed or hung every consumer
  that tried it) is dead-lettered without another try. An entry whose payload
  does not decode is dead-lettered at once: no retry can fix it.
* Crashed consumers: a new active consumer first claims every pending entry
  idle longer than ``claim_idle_ms`` (XAUTOCLAIM) and reads new entries only
  once every pending entry of the group is in its hands, so a crashed
  consumer's entries are handled again before anything newer of their
  aggregate. The same happens after any Redis error (for example a restart),
  since acks may have been lost. A taken-over entry counts as delivered again
  only when it is tried, so the entries a crash-looping head holds up behind
  it are not charged for its crashes.
* Dedupe on ``event_id`` (:mod:`services.events.dedupe`): redelivered and
  re-published events are acked without running the handler again.
* Lag: ``streammesh_events_consumer_lag`` and ``..._pending`` per group from
  XINFO GROUPS, refreshed every ``metrics_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import DecodeError
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from services.events import streams
from services.events.dedupe import Deduplicator, RedisDedupe
from services.events.envelope import consumer_span
from services.events.lease import Lease
from services.events.streams import StreamEntry
from services.runtime.errors import Unavailable
from streammesh.events.v1 import event_pb2

log = logging.getLogger(__name__)

# XAUTOCLAIM ... JUSTID through a script because redis-py's reply parser keeps
# only the ids of a JUSTID reply and drops the cursor needed to page on.
_AUTOCLAIM_IDS = """
return redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  'COUNT', ARGV[5], 'JUSTID')
"""

CONSUMED = Counter(
    "streammesh_events_consumed_total",
    "Stream entries handled by a consumer group, by outcome: "
    "processed, duplicate, retried, dead_lettered.",
    ["stream", "group", "outcome"],
)
CONSUMER_LAG = Gauge(
    "streammesh_events_consumer_lag",
    "Entries in the stream not yet delivered to the group (XINFO GROUPS lag).",
    ["stream", "group"],
    # Across worker processes: the active consumer's latest reading.
    multiprocess_mode="livemostrecent",
)
CONSUMER_PENDING = Gauge(
    "streammesh_events_consumer_pending",
    "Entries delivered to the group and not yet acked (XINFO GROUPS pending).",
    ["stream", "group"],
    multiprocess_mode="livemostrecent",
)


class SessionFailed(Exception):
    """A worker hit an infrastructure error (Redis, the dedupe store); the session restarts."""


@dataclass(frozen=True)
class Delivery:
    """Where an event came from, passed to the handler beside the event."""

    stream: str
    group: str
    entry_id: str
    # 1 on the first delivery; counts claims by other consumers and retries.
    deliveries: int


Handler = Callable[[event_pb2.Event, Delivery], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerConfig:
    """Bounds of one consumer group runner.

    read_count: entries per XREADGROUP / XAUTOCLAIM call (COUNT).
    block_ms: how long XREADGROUP waits for new entries (BLOCK).
    max_in_flight: entries held in memory, read but not yet acked.
    max_concurrency: handlers running at once (different aggregates).
    handler_timeout_seconds: a handler call longer than this fails the try.
    max_deliveries: tries before an entry goes to the dead-letter stream.
    max_outage_seconds: how long an entry whose handler raises Unavailable is
        retried without counting a try (a store restart, not a bad entry).
    retry_backoff_seconds / max_retry_backoff_seconds: pause before retry n
        is base * 2**(n-1), capped.
    claim_idle_ms: a pending entry idle this long belongs to a dead consumer.
    lease_ttl_ms: how long a dead active consumer blocks its standby.
    start_id: where a newly created group starts ("0": everything retained,
        so events written before the group existed are not missed).
    dlq_maxlen: approximate retention of the dead-letter stream.
    metrics_interval_seconds: how often lag and pending are refreshed.
    max_backoff_seconds: ceiling of the pause after a Redis error.
    """

    read_count: int = 100
    block_ms: int = 1_000
    max_in_flight: int = 1_000
    max_concurrency: int = 16
    handler_timeout_seconds: float = 30.0
    max_deliveries: int = 5
    # Longer than any backend restart measured here (OpenSearch: ~2 min).
    max_outage_seconds: float = 300.0
    retry_backoff_seconds: float = 0.2
    max_retry_backoff_seconds: float = 5.0
    claim_idle_ms: int = 5_000
    lease_ttl_ms: int = 10_000
    start_id: str = "0"
    dlq_maxlen: int = streams.DEFAULT_DLQ_MAXLEN
    metrics_interval_seconds: float = 5.0
    max_backoff_seconds: float = 5.0


class _Try(enum.Enum):
    """How one try of an entry ended."""

    FINISHED = "finished"  # acked or dead-lettered
    FAILED = "failed"  # counted: retried after a pause, as the next delivery
    STORE_DOWN = "store_down"  # its store is down: retried, no delivery counted


@dataclass
class _Item:
    entry: StreamEntry
    deliveries: int
    # Taken over from another consumer: its next try must first be counted.
    claimed: bool = False
    # When its handler first raised Unavailable, and the uncounted tries
    # since (they pace the pause; the time bounds them).
    outage_since: float | None = None
    outage_tries: int = 0


@dataclass
class _Session:
    """State of one stint as the active consumer; dropped on any Redis error."""

    consumer: str
    tracked: set[str] = field(default_factory=set)
    queues: dict[str, deque[_Item]] = field(default_factory=dict)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failure: BaseException | None = None
    # When the next pass over the group's idle pending entries is due.
    next_reclaim: float = 0.0


class ConsumerRunner:
    """Runs ``handler`` for every event of ``stream`` as consumer group ``group``."""

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        handler: Handler,
        *,
        config: ConsumerConfig | None = None,
        dedupe: Deduplicator | None = None,
    ) -> None:
        self.stream = stream
        self.group = group
        self.config = config or ConsumerConfig()
        self._redis = redis
        self._handler = handler
        self._dedupe = dedupe or RedisDedupe(redis, stream, group)
        self._lease = Lease(redis, streams.group_lease_key(stream, group), self.config.lease_ttl_ms)
        self._slots = asyncio.Semaphore(self.config.max_concurrency)
        self._autoclaim_ids = redis.register_script(_AUTOCLAIM_IDS)
        self._next_metrics = 0.0
        self.active = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Handles entries until ``stop`` is set; Redis errors restart the session."""
        stop = stop or asyncio.Event()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if not await self._lease.acquire():
                        await _wait_any([stop], self.config.lease_ttl_ms / 3000)
                        continue
                    await self._session(stop)
                    failures = 0
                except (RedisError, OSError, SessionFailed) as err:
                    failures += 1
                    pause = min(self.config.max_backoff_seconds, 0.05 * 2**failures)
                    log.warning(
                        "consumer %s/%s: %s; restarting in %.2fs",
                        self.stream,
                        self.group,
                        err,
                        pause,
                    )
                    await _wait_any([stop], pause)
        finally:
            self.active.clear()
            with contextlib.suppress(RedisError, OSError):
                await self._lease.release()

    async def ensure_group(self) -> None:
        """Creates the group (and the stream) unless they exist."""
        try:
            await self._redis.xgroup_create(
                self.stream, self.group, id=self.config.start_id, mkstream=True
            )
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    # ------------------------------------------------------------ session

    async def _session(self, stop: asyncio.Event) -> None:
        session = _Session(consumer=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        lease_lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(lease_lost, session))
        try:
            await self.ensure_group()
            self.active.set()
            await self._take_over(session, stop, lease_lost)
            await self._delete_idle_consumers(session)
            session.next_reclaim = asyncio.get_running_loop().time() + self._claim_idle_seconds
            while not (stop.is_set() or lease_lost.is_set()):
                await self._check(session)
                free = self.config.max_in_flight - len(session.tracked)
                if free <= 0:
                    session.wake.clear()
                    await _wait_any([session.wake, stop, lease_lost], self.config.block_ms / 1000)
                    continue
                reply: Any = await self._redis.xreadgroup(
                    self.group,
                    session.consumer,
                    {self.stream: ">"},
                    count=min(self.config.read_count, free),
                    block=self.config.block_ms,
                )
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        self._enqueue(session, _Item(StreamEntry.from_redis(entry_id, fields), 1))
        finally:
            self.active.clear()
            keeper.cancel()
            await _cancel_all([keeper, *session.workers.values()])

    async def _take_over(
        self, session: _Session, stop: asyncio.Event, lease_lost: asyncio.Event
    ) -> None:
        """Claims every pending entry of the group before anything new is read."""
        cursor = "0-0"
        while not (stop.is_set() or lease_lost.is_set()):
            await self._check(session)
            free = self.config.max_in_flight - len(session.tracked)
            if free <= 0:
                session.wake.clear()
                await _wait_any([session.wake, stop, lease_lost], self.config.block_ms / 1000)
                continue
            cursor, _ = await self._claim_idle(session, cursor, free)
            if cursor != "0-0":
                continue
            if await self._all_pending_tracked(session):
                return
            # Some pending entries are not idle long enough yet: their consumer
            # may still be finishing them. Look again shortly.
            await _wait_any([stop, lease_lost], min(self.config.claim_idle_ms / 2000, 0.5))

    async def _claim(self, session: _Session, entry_ids: Sequence[str]) -> None:
        """Tracks entries just taken over, WITHOUT counting a delivery yet.

        A crashed consumer held entries it never tried (queued behind its
        aggregate's head); counting every takeover as a delivery would
        dead-letter those innocents after a few crashes caused by the head.
        So a taken-over entry is counted (XCLAIM) only when it is about to
        be tried, in ``_handle``.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.xrange(self.stream, entry_id, entry_id)
            found: list[Any] = await pipe.execute()
        counts = await self._delivery_counts(session, entry_ids)
        for reply in found:
            if not reply:
                continue  # trimmed from the stream meanwhile
            entry = StreamEntry.from_redis(*reply[0])
            self._enqueue(session, _Item(entry, counts.get(entry.entry_id, 1), claimed=True))

    async def _delivery_counts(self, session: _Session, entry_ids: Sequence[str]) -> dict[str, int]:
        ordered = sorted(entry_ids, key=_id_key)
        pending: Any = await self._redis.xpending_range(
            self.stream,
            self.group,
            min=ordered[0],
            max=ordered[-1],
            count=len(ordered) + self.config.max_in_flight,
            consumername=session.consumer,
        )
        return {_text(row["message_id"]): int(row["times_delivered"]) for row in pending}

    async def _all_pending_tracked(self, session: _Session) -> bool:
        pending: Any = await self._redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.config.max_in_flight + 1
        )
        return all(_text(row["message_id"]) in session.tracked for row in pending)

    async def _delete_idle_consumers(self, session: _Session) -> None:
        """Forgets consumers of past sessions that hold nothing (their names are random)."""
        consumers: Any = await self._redis.xinfo_consumers(self.stream, self.group)
        for consumer in consumers:
            name = _text(consumer["name"])
            if name != session.consumer and int(consumer["pending"]) == 0:
                await self._redis.xgroup_delconsumer(self.stream, self.group, name)

    async def _keep_lease(self, lease_lost: asyncio.Event, session: _Session) -> None:
        try:
            while True:
                await asyncio.sleep(self.config.lease_ttl_ms / 3000)
                if not await self._lease.renew():
                    log.warning("consumer %s/%s: lease lost", self.stream, self.group)
                    lease_lost.set()
                    return
        except (RedisError, OSError) as err:
            session.failure = err
            lease_lost.set()
            session.wake.set()

    async def _check(self, session: _Session) -> None:
        if session.failure is not None:
            raise SessionFailed(str(session.failure)) from session.failure
        loop_now = asyncio.get_running_loop().time()
        if loop_now >= self._next_metrics:
            self._next_metrics = loop_now + self.config.metrics_interval_seconds
            await update_lag_metrics(self._redis, self.stream)
        if session.next_reclaim and loop_now >= session.next_reclaim:
            session.next_reclaim = loop_now + self._claim_idle_seconds
            await self._reclaim_stranded(session)

    @property
    def _claim_idle_seconds(self) -> float:
        return self.config.claim_idle_ms / 1000

    async def _reclaim_stranded(self, session: _Session) -> None:
        """Claims pending entries idle past ``claim_idle_ms`` that this session does not
        hold: a read whose reply was lost (its socket timed out while Redis still
        served it) leaves its entries with a consumer of an earlier session, after
        this one took over; without this pass they would wait for the next session.
        Such an entry may come after newer entries of its aggregate: the price of
        not losing it."""
        cursor = "0-0"
        while (free := self.config.max_in_flight - len(session.tracked)) > 0:
            cursor, claimed = await self._claim_idle(session, cursor, free)
            if claimed:
                log.warning(
                    "consumer %s/%s: reclaimed %d stranded entries",
                    self.stream,
                    self.group,
                    claimed,
                )
            if cursor == "0-0":
                return

    async def _claim_idle(self, session: _Session, cursor: str, free: int) -> tuple[str, int]:
        """One XAUTOCLAIM page from ``cursor``: the group's entries idle past
        ``claim_idle_ms`` that this session does not hold yet are tracked; returns
        the next cursor ("0-0" at the end) and how many were taken."""
        # JUSTID: taking ownership does not count as a delivery; trying
        # the entry does (see _claim).
        reply = await self._autoclaim_ids(
            keys=[self.stream],
            args=[
                self.group,
                session.consumer,
                self.config.claim_idle_ms,
                cursor,
                min(self.config.read_count, free),
            ],
        )
        fresh = [_text(entry_id) for entry_id in reply[1]]
        fresh = [entry_id for entry_id in fresh if entry_id not in session.tracked]
        if fresh:
            await self._claim(session, fresh)
        return _text(reply[0]), len(fresh)

    # ------------------------------------------------------------ handling

    def _enqueue(self, session: _Session, item: _Item) -> None:
        session.tracked.add(item.entry.entry_id)
        key = item.entry.aggregate_key
        queue = session.queues.setdefault(key, deque())
        queue.append(item)
        if key not in session.workers:
            session.workers[key] = asyncio.create_task(self._drain(session, key))

    async def _drain(self, session: _Session, key: str) -> None:
        """Handles one aggregate's entries in order; a failing head blocks only them."""
        queue = session.queues[key]
        try:
            while queue:
                item = queue[0]
                tried = await self._handle(session, item)
                if tried is _Try.STORE_DOWN:
                    await asyncio.sleep(self._retry_pause(item.outage_tries))
                    continue
                if tried is _Try.FAILED:
                    await asyncio.sleep(self._retry_pause(item.deliveries))
                    if not await self._redeliver(session, item):
                        queue.popleft()
                        session.tracked.discard(item.entry.entry_id)
                    continue
                queue.popleft()
                session.tracked.discard(item.entry.entry_id)
                session.wake.set()
        except Exception as err:  # ends the session, which restarts cleanly
            log.warning("consumer %s/%s: %s", self.stream, self.group, err, exc_info=True)
            session.failure = err
            session.wake.set()
        finally:
            if not queue:
                session.queues.pop(key, None)
            session.workers.pop(key, None)

    async def _handle(self, session: _Session, item: _Item) -> _Try:
        """One try of ``item``, and how it ended."""
        entry = item.entry
        try:
            event = event_pb2.Event.FromString(entry.fields[streams.PAYLOAD])
        except (KeyError, DecodeError) as err:
            await self._dead_letter(item, f"undecodable entry: {type(err).__name__}: {err}")
            return _Try.FINISHED
        event_id = event.event_id or entry.event_id
        if await self._dedupe.is_processed(event_id):
            await self._redis.xack(self.stream, self.group, entry.entry_id)
            CONSUMED.labels(self.stream, self.group, "duplicate").inc()
            return _Try.FINISHED
        if item.claimed:
            if not await self._redeliver(session, item):
                return _Try.FINISHED  # trimmed from the stream meanwhile
            item.claimed = False
        if item.deliveries > self.config.max_deliveries:
            await self._dead_letter(
                item, f"delivered {item.deliveries} times without an ack (consumers crashed)"
            )
            return _Try.FINISHED
        delivery = Delivery(self.stream, self.group, entry.entry_id, item.deliveries)
        try:
            async with self._slots:
                with consumer_span(event, f"{self.stream} process"):
                    await asyncio.wait_for(
                        self._handler(event, delivery), self.config.handler_timeout_seconds
                    )
        except Unavailable as err:
            if self._waits_out_outage(item):
                log.info(
                    "consumer %s/%s: entry %s waits for its store (try %d of the outage): %s",
                    self.stream,
                    self.group,
                    entry.entry_id,
                    item.outage_tries,
                    err,
                )
                CONSUMED.labels(self.stream, self.group, "retried").inc()
                return _Try.STORE_DOWN
            return await self._failed(item, f"{type(err).__name__}: {err}")
        except Exception as err:  # noqa: BLE001 - a handler's failure is data: retried, then dead-lettered
            return await self._failed(item, f"{type(err).__name__}: {err}")
        await self._dedupe.mark_processed(event_id)
        await self._redis.xack(self.stream, self.group, entry.entry_id)
        CONSUMED.labels(self.stream, self.group, "processed").inc()
        return _Try.FINISHED

    def _waits_out_outage(self, item: _Item) -> bool:
        """True while ``item``'s store outage is within ``max_outage_seconds`` (and
        counts the try); past it, tries count as deliveries again."""
        now = time.monotonic()
        if item.outage_since is None:
            item.outage_since = now
        if now - item.outage_since > self.config.max_outage_seconds:
            return False
        item.outage_tries += 1
        return True

    async def _failed(self, item: _Item, reason: str) -> _Try:
        """A counted failed try: dead-letters ``item`` at the bound."""
        if item.deliveries >= self.config.max_deliveries:
            await self._dead_letter(item, reason)
            return _Try.FINISHED
        log.info(
            "consumer %s/%s: entry %s try %d failed: %s",
            self.stream,
            self.group,
            item.entry.entry_id,
            item.deliveries,
            reason,
        )
        CONSUMED.labels(self.stream, self.group, "retried").inc()
        return _Try.FAILED

    async def _redeliver(self, session: _Session, item: _Item) -> bool:
        """Counts the next try in Redis (XCLAIM); False when the entry is gone."""
        claimed: Any = await self._redis.xclaim(
            self.stream,
            self.group,
            session.consumer,
            min_idle_time=0,
            message_ids=[item.entry.entry_id],
        )
        if not claimed or claimed[0][1] is None:
            return False
        item.deliveries += 1
        return True

    async def _dead_letter(self, item: _Item, error: str) -> None:
        entry = item.entry
        fields: dict[Any, Any] = dict(entry.fields)
        fields |= {
            streams.DLQ_ERROR: error[:2_000],
            streams.DLQ_SOURCE_STREAM: self.stream,
            streams.DLQ_SOURCE_ID: entry.entry_id,
            streams.DLQ_GROUP: self.group,
            streams.DLQ_DELIVERIES: str(item.deliveries),
            streams.DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                streams.dlq_name(self.stream),
                fields,
                maxlen=self.config.dlq_maxlen,
                approximate=True,
            )
            pipe.xack(self.stream, self.group, entry.entry_id)
            await pipe.execute()
        log.warning(
            "consumer %s/%s: entry %s (event %s) dead-lettered after %d deliveries: %s",
            self.stream,
            self.group,
            entry.entry_id,
            entry.event_id,
            item.deliveries,
            error,
        )
        CONSUMED.labels(self.stream, self.group, "dead_lettered").inc()

    def _retry_pause(self, deliveries: int) -> float:
        pause = self.config.retry_backoff_seconds * 2 ** (deliveries - 1)
        return min(self.config.max_retry_backoff_seconds, pause)


async def update_lag_metrics(redis: Redis, stream: str) -> None:
    """Sets the lag and pending gauges of every group of ``stream``."""
    groups: Any = await redis.xinfo_groups(stream)
    for group in groups:
        name = _text(group["name"])
        if group.get("lag") is not None:
            CONSUMER_LAG.labels(stream, name).set(int(group["lag"]))
        CONSUMER_PENDING.labels(stream, name).set(int(group["pending"]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


async def _wait_any(events: Sequence[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel_all(waiters)


async def _cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
