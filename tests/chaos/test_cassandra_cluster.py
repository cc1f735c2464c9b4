"""A 3-node Cassandra cluster loses one node under a read and write load:
no request fails, and after the node is back every acknowledged write is there.

The cluster is the test's own (devtools/infra's Cassandra backend, laid out
as ``streammesh infra up --cassandra-nodes 3`` lays it out: 127.0.0.1-3),
on ports and in folders of its own, with a cluster name of its own, so the
shared node on 127.0.0.1:9042 never sees it. The keyspace has replication
factor 3 (NetworkTopologyStrategy) and every statement runs at LOCAL_QUORUM:
two of three replicas answer each read and each write, so a read always
overlaps the last acknowledged write, with one node down or not.

Three JVMs on a shared 2-core machine take minutes to start when the
machine is busy, so the test runs with ``make chaos``
(STREAMMESH_CASSANDRA_CLUSTER_TEST=1), not in every ``make test``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from devtools.chaos.targets import InfraServer
from devtools.infra import manager
from devtools.infra.backends import cassandra
from devtools.infra.settings import InfraSettings
from services.runtime.cassandra import NextCoordinatorRetryPolicy
from tests.chaos.meshproc import free_port

NODES = 3
KEYSPACE = "chaos_cluster"
# The load: writers and readers at once, each bounded in count.
WRITERS = 4
READERS = 2
MAX_WRITES_PER_WRITER = 20_000
# Load before the kill, with the node down, and after it answers again.
BEFORE_SECONDS = 3.0
DOWN_SECONDS = 8.0
AFTER_SECONDS = 3.0
REQUEST_TIMEOUT_SECONDS = 10.0
NODE_READY_SECONDS = 600.0
# Reads in flight at once while every acknowledged write is read back.
CHECK_CONCURRENCY = 32


def _free_port_on_every_node() -> int:
    for _ in range(50):
        port = free_port()
        try:
            for node in range(2, NODES + 1):
                with socket.socket() as sock:
                    sock.bind((cassandra.node_address(node), port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every node address")


@pytest_asyncio.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[cassandra.Cassandra]]:
    if os.environ.get("STREAMMESH_CASSANDRA_CLUSTER_TEST") != "1":
        pytest.skip("three Cassandra JVMs: run with `make chaos`")
    shared = InfraSettings.from_env()
    if not (shared.cache_dir / f"cassandra-{cassandra.CASSANDRA_VERSION}").exists():
        pytest.skip("Cassandra's jars are not fetched yet: run `make infra-up`")
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    settings = InfraSettings(state_dir=tmp_path / "infra", cache_dir=shared.cache_dir)
    jmx = free_port()
    cluster = cassandra.cluster(
        settings,
        NODES,
        port=_free_port_on_every_node(),
        storage_port=_free_port_on_every_node(),
        jmx_port=jmx if jmx + 100 * NODES < 65_000 else 17_199,
        cluster_name="streammesh-chaos",
    )
    for node in cluster:
        # A busy 2-core machine boots three JVMs far slower than one.
        node.ready_timeout_seconds = NODE_READY_SECONDS
    try:
        yield cluster
    finally:
        await manager.down(cluster)


class Load:
    """Writers insert (k, v = k * 7) with increasing k; readers read back acknowledged keys."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.insert = session.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v) VALUES (?, ?)")
        self.insert.is_idempotent = True
        self.select = session.prepare(f"SELECT v FROM {KEYSPACE}.kv WHERE k = ?")
        self.select.is_idempotent = True
        self.acknowledged: set[int] = set()
        self.failures: list[str] = []
        self.reads = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def write(self, writer: int) -> None:
        for n in range(MAX_WRITES_PER_WRITER):
            if self.stop.is_set():
                return
            key = n * WRITERS + writer
            try:
                self.session.execute(self.insert, (key, key * 7), timeout=REQUEST_TIMEOUT_SECONDS)
            except Exception as err:  # noqa: BLE001 - every failure is a finding
                self.failures.append(f"write {key}: {err!r}")
                continue
            with self._lock:
                self.acknowledged.add(key)

    def read(self, reader: int) -> None:
        while not self.stop.is_set():
            with self._lock:
                keys = list(self.acknowledged)[-200:]
            for key in keys[reader::READERS]:
                try:
                    row = self.session.execute(
                        self.select, (key,), timeout=REQUEST_TIMEOUT_SECONDS
                    ).one()
                except Exception as err:  # noqa: BLE001 - every failure is a finding
                    self.failures.append(f"read {key}: {err!r}")
                    continue
                self.reads += 1
                if row is None or row.v != key * 7:
                    self.failures.append(f"read {key}: {row!r}, an acknowledged write is missing")
            time.sleep(0.01)


# Three JVMs starting (NODE_READY_SECONDS each, at worst), the load, the read-back.
@pytest.mark.timeout(NODE_READY_SECONDS * NODES + 300)
async def test_one_node_of_three_killed_under_load_fails_no_request_and_loses_nothing(
    nodes: list[cassandra.Cassandra],
) -> None:
    began = time.monotonic()
    outcomes = await manager.up(nodes, lambda backend, text: None)
    assert all(o.ok for o in outcomes), [(o.backend.name, o.detail, o.log_tail) for o in outcomes]
    started_in = time.monotonic() - began
    profile = ExecutionProfile(
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        load_balancing_policy=TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=cassandra.DATACENTER)
        ),
        # What the services use: a statement caught by the kill goes to the next coordinator.
        retry_policy=NextCoordinatorRetryPolicy(),
    )
    client = Cluster(
        [cassandra.node_address(n) for n in range(1, NODES + 1)],
        port=nodes[0].port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    session = await asyncio.to_thread(client.connect)
    try:
        await asyncio.to_thread(
            session.execute,
            f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
            f"{{'class': 'NetworkTopologyStrategy', '{cassandra.DATACENTER}': {NODES}}}",
            timeout=60,
        )
        await asyncio.to_thread(
            session.execute, f"CREATE TABLE {KEYSPACE}.kv (k int PRIMARY KEY, v int)", timeout=60
        )
        load = Load(session)
        workers = [threading.Thread(target=load.write, args=(w,)) for w in range(WRITERS)]
        workers += [threading.Thread(target=load.read, args=(r,)) for r in range(READERS)]
        for worker in workers:
            worker.start()
        try:
            await asyncio.sleep(BEFORE_SECONDS)
            victim = InfraServer(nodes[-1])
            killed_at = time.monotonic()
            await victim.kill()
            await asyncio.sleep(DOWN_SECONDS)
            written_while_down = len(load.acknowledged)
            await victim.start()
            back_in = time.monotonic() - killed_at
            await asyncio.sleep(AFTER_SECONDS)
        finally:
            load.stop.set()
            for worker in workers:
                await asyncio.to_thread(worker.join, 60)
        print(
            f"\nload over: {len(load.acknowledged)} writes acknowledged, {load.reads} reads, "
            f"{len(load.failures)} failed: {load.failures[:3]}"
        )
        # Every acknowledged write, read back at LOCAL_QUORUM now that the node
        # is back (a quorum overlaps every acknowledged write's quorum): key by
        # key, a bounded number at once, since one scan of the whole table at
        # quorum outlasts its timeout on three JVMs sharing two cores.
        results = await asyncio.to_thread(
            execute_concurrent_with_args,
            session,
            load.select,
            [(key,) for key in sorted(load.acknowledged)],
            concurrency=CHECK_CONCURRENCY,
            raise_on_first_error=False,
        )
        rows: dict[int, int | None] = {}
        unreadable: list[str] = []
        for key, (ok, result) in zip(sorted(load.acknowledged), results, strict=True):
            if not ok:
                unreadable.append(f"{key}: {result!r}")
                continue
            row = result.one()
            rows[key] = None if row is None else row.v
    finally:
        client.shutdown()
    # Read back, and missing or wrong (a key that could not be read is in `unreadable`).
    lost = sorted(k for k, v in rows.items() if v != k * 7)
    print(
        f"\n3-node Cassandra, one node SIGKILLed for {DOWN_SECONDS:.0f} s under load: "
        f"{len(load.acknowledged)} writes acknowledged ({written_while_down} by the time it "
        f"restarted), {load.reads} reads, {len(load.failures)} failed requests, {len(lost)} lost, "
        f"{len(unreadable)} not readable back; "
        f"cluster up in {started_in:.0f} s, node back in {back_in:.0f} s, "
        f"whole test {time.monotonic() - began:.0f} s"
    )
    assert load.failures == []
    assert unreadable == []
    assert lost == []
