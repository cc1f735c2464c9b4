"""The services' own view of their stores: query latency per operation, pool connections.

Two metric families, the same for every store, fed by the runtime's store
plumbing rather than by each adapter:

``streammesh_store_query_seconds{store, operation, outcome}`` (histogram)
    one observation per store operation as the service saw it, waits for a
    pool connection included. ``outcome`` is ``ok``, ``unavailable`` (the
    driver's outage, mapped by services/runtime/stores.py), ``error`` (any
    other exception) or ``cancelled``. Fed by:

    * the :func:`~services.runtime.stores.unavailable_on` guard used as a
      decorator: ``operation`` is the adapter's method (``get_title``);
    * :class:`~services.runtime.cassandra.CassandraSession`: ``operation`` is the
      statement's verb and table (``select views``);
    * every SQLAlchemy engine (users on MariaDB or SQLite, the relays' outbox
      reads): one observation per statement, through engine events installed
      once here at class level, so no adapter registers anything.

``streammesh_store_pool_connections{store, state}`` (gauge, ``state`` is
``in_use`` or ``idle``)
    read from the pools themselves when Prometheus scrapes: SQLAlchemy's
    QueuePool (aiomysql), asyncpg's pool, the Cassandra driver's per-host
    pools, redis-py's pool and the SQLite files' reader/writer connections.

The ``service`` label is not in the exposition: Prometheus adds it from the
scrape target (devtools/observability/prometheus_config.py; the k8s
ServiceMonitor relabels the same way), as for the gRPC metrics. ``store`` is
the store's name: the adapter's ``what`` ("the catalog store" is
``catalog``), the keyspace, the SQL database's name.

Multi-process services (``processes`` > 1) serve metrics from the supervisor,
which reads only the workers' shared files: there the pool gauge is a
``livesum`` gauge each worker refreshes after a store operation, at most
every POOL_REFRESH_SECONDS, instead of a live read at scrape time.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prometheus_client import REGISTRY, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

QUERY_SECONDS_NAME: Final = "streammesh_store_query_seconds"
POOL_CONNECTIONS_NAME: Final = "streammesh_store_pool_connections"
# Store calls on one machine: sub-millisecond reads up to the drivers' 10 s
# request timeouts; 1 s is a bucket edge, so the 1000 ms alert is exact.
_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Multi-process mode only: how stale a worker's pool gauge may get while it works.
POOL_REFRESH_SECONDS: Final = 1.0

OK: Final = "ok"
UNAVAILABLE: Final = "unavailable"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"

QUERY_SECONDS: Final = Histogram(
    QUERY_SECONDS_NAME,
    "Store operations as the service saw them (pool waits included), by store, operation "
    "and outcome (ok, unavailable, error, cancelled).",
    ("store", "operation", "outcome"),
    buckets=_BUCKETS,
)

_MULTIPROCESS: Final = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def store_name(what: str) -> str:
    """A store's label from an adapter's wording: "the catalog store" -> "catalog"."""
    words = what.lower().split()
    if words and words[0] == "the":
        words = words[1:]
    if len(words) > 1 and words[-1] in ("store", "database", "index", "warehouse"):
        words = words[:-1]
    return "_".join(words) or "unknown"


# Cached label children: labels() takes a lock and a dict lookup per call.
# Bounded by stores x operations x 4 outcomes, all named in code.
_children: dict[tuple[str, str, str], Any] = {}


def observe(store: str, operation: str, outcome: str, seconds: float) -> None:
    """Records one store operation."""
    key = (store, operation, outcome)
    child = _children.get(key)
    if child is None:
        child = _children.setdefault(key, QUERY_SECONDS.labels(*key))
    child.observe(seconds)
    if _MULTIPROCESS:
        _refresh_shared_gauge()


def outcome_of(error: BaseException | None, is_outage: Callable[[BaseException], bool]) -> str:
    if error is None:
        return OK
    if isinstance(error, BaseException) and type(error).__name__ == "CancelledError":
        return CANCELLED
    from services.runtime.errors import Unavailable

    if isinstance(error, Unavailable) or is_outage(error):
        return UNAVAILABLE
    return ERROR


@contextmanager
def timed(
    store: str, operation: str, is_outage: Callable[[BaseException], bool] = lambda _: False
) -> Iterator[None]:
    """Observes the block as one operation of ``store``; ``is_outage`` tells an outage
    from another error."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as raised:
        error = raised
        raise
    finally:
        observe(store, operation, outcome_of(error, is_outage), time.perf_counter() - started)


_STATEMENT: Final = re.compile(
    r"""^\s*(?:/\*.*?\*/\s*)?
    (?P<verb>[a-z]+)\b
    (?:.*?\b(?:from|into|update)\s+(?P<table>["`\w.{}]+))?""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_TABLE_VERBS: Final = frozenset({"select", "insert", "update", "delete"})


@functools.lru_cache(maxsize=1024)
def statement_operation(text: str) -> str:
    """A statement's operation label: its verb and first table, keyspace or schema
    dropped ("select views"); only the verb for other statements ("begin", "create").

    The statements are the code's own, so the label set is bounded."""
    match = _STATEMENT.match(text)
    if match is None:
        return "other"
    verb = match["verb"].lower()
    if verb == "update":
        # UPDATE's table follows the verb itself.
        table_match = re.match(r"^\s*update\s+([\"`\w.{}]+)", text, re.IGNORECASE)
        table = table_match[1] if table_match else None
    else:
        table = match["table"]
    if verb not in _TABLE_VERBS or not table:
        return verb
    bare = table.strip('"`').rsplit(".", 1)[-1]
    return f"{verb} {bare}"


# ------------------------------------------------------------------ pools


@dataclass(frozen=True)
class PoolProbe:
    """How to read one pool: ``in_use`` and ``idle`` take the pool object."""

    store: str
    pool: Callable[[], Any]
    in_use: Callable[[Any], int]
    idle: Callable[[Any], int]


_probes: dict[int, PoolProbe] = {}
_probes_lock = threading.Lock()


def watch_pool(
    store: str, pool: object, *, in_use: Callable[[Any], int], idle: Callable[[Any], int]
) -> None:
    """Reports ``pool``'s connections under ``store`` until the pool is garbage (or
    :func:`unwatch_pool`); pools of one store are summed."""
    key = id(pool)

    def forget(_: object) -> None:
        with _probes_lock:
            _probes.pop(key, None)

    reference: Callable[[], Any]
    try:
        reference = weakref.ref(pool, forget)
    except TypeError:
        # asyncpg's Pool declares __slots__ without __weakref__: it is held
        # strongly, and its owner calls unwatch_pool when it closes it.
        reference = functools.partial(_itself, pool)
    probe = PoolProbe(store, reference, in_use, idle)
    with _probes_lock:
        _probes[key] = probe


def _itself(pool: object) -> object:
    return pool


def unwatch_pool(pool: object) -> None:
    with _probes_lock:
        _probes.pop(id(pool), None)


def pool_connections() -> dict[tuple[str, str], int]:
    """Connections per (store, state) now, every watched pool read."""
    totals: dict[tuple[str, str], int] = {}
    with _probes_lock:
        probes = list(_probes.values())
    for probe in probes:
        pool = probe.pool()
        if pool is None:
            continue
        try:
            in_use, idle = probe.in_use(pool), probe.idle(pool)
        except Exception:  # noqa: BLE001 - a pool closing under the scrape reads as empty
            in_use, idle = 0, 0
        for state, count in (("in_use", in_use), ("idle", idle)):
            totals[(probe.store, state)] = totals.get((probe.store, state), 0) + max(count, 0)
    return totals


class _PoolCollector(Collector):
    """Reads every watched pool when Prometheus scrapes (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            POOL_CONNECTIONS_NAME,
            "Connections of a store's client pool, in use or idle.",
            labels=("store", "state"),
        )
        for (store, state), count in sorted(pool_connections().items()):
            family.add_metric((store, state), count)
        yield family


_shared_gauge: Gauge | None = None
_last_refresh = 0.0


def _refresh_shared_gauge() -> None:
    global _last_refresh
    now = time.monotonic()
    if _shared_gauge is None or now - _last_refresh < POOL_REFRESH_SECONDS:
        return
    _last_refresh = now
    for (store, state), count in pool_connections().items():
        _shared_gauge.labels(store, state).set(count)


if _MULTIPROCESS:
    _shared_gauge = Gauge(
        POOL_CONNECTIONS_NAME,
        "Connections of a store's client pool, in use or idle.",
        ("store", "state"),
        multiprocess_mode="livesum",
    )
else:
    REGISTRY.register(_PoolCollector())


# --------------------------------------------------------- the drivers' pools


def watch_redis_pool(pool: Any, store: str = "redis") -> None:
    """redis-py's asyncio pool: connections handed out and those waiting in it."""
    watch_pool(
        store,
        pool,
        in_use=lambda p: len(p._in_use_connections),
        idle=lambda p: len(p._available_connections),
    )


def watch_asyncpg_pool(pool: Any, store: str) -> None:
    """asyncpg's pool (its public size counters)."""
    watch_pool(
        store,
        pool,
        in_use=lambda p: p.get_size() - p.get_idle_size(),
        idle=lambda p: p.get_idle_size(),
    )


def watch_cassandra_session(session: Any, store: str) -> None:
    """The Cassandra driver's per-host pools: a connection with requests in flight is in use."""

    def in_flights(driver_session: Any) -> list[int]:
        flights: list[int] = []
        for state in driver_session.get_pool_state().values():
            flights.extend(state.get("in_flights", ()))
        return flights

    watch_pool(
        store,
        session,
        in_use=lambda s: sum(1 for count in in_flights(s) if count),
        idle=lambda s: sum(1 for count in in_flights(s) if not count),
    )


# ------------------------------------------------- every SQLAlchemy engine


def _sql_store(engine: Any) -> str:
    database = engine.url.database or engine.url.get_backend_name()
    # SQLite's "database" is a file path: its name says which store it is.
    return Path(database).stem if "/" in database or database.endswith(".db") else database


def _install_sqlalchemy_hooks() -> None:
    """Statement latency and pool probes for every engine, installed once at class level."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    started_key = "_streammesh_store_started"
    watched: weakref.WeakSet[Any] = weakref.WeakSet()

    @event.listens_for(Engine, "engine_connect")
    def watch_engine(connection: Any) -> None:
        engine = connection.engine
        if engine in watched:
            return
        watched.add(engine)
        pool = engine.pool
        if hasattr(pool, "checkedout") and hasattr(pool, "checkedin"):
            watch_pool(
                _sql_store(engine),
                pool,
                in_use=lambda p: p.checkedout(),
                idle=lambda p: p.checkedin(),
            )

    @event.listens_for(Engine, "before_cursor_execute")
    def started(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        connection.info.setdefault(started_key, []).append(time.perf_counter())

    def finished(connection: Any, statement: str, outcome: str) -> None:
        stack = connection.info.get(started_key)
        if not stack:
            return
        seconds = time.perf_counter() - stack.pop()
        observe(_sql_store(connection.engine), statement_operation(statement), outcome, seconds)

    @event.listens_for(Engine, "after_cursor_execute")
    def succeeded(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        finished(connection, statement, OK)

    @event.listens_for(Engine, "handle_error")
    def failed(context: Any) -> None:
        connection = context.connection
        if connection is None or context.statement is None:
            return
        outcome = UNAVAILABLE if context.is_disconnect else ERROR
        finished(connection, context.statement, outcome)


_install_sqlalchemy_hooks()
