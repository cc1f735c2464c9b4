"""Issue 21, real backends: a whole mesh on private real servers under a
write-heavy load while each server is SIGKILLed and started again once; then
every acknowledged write is looked for in every store that should hold it
(tests/chaos/verify.py, as the embedded chaos test does).

The servers are devtools/infra's own (the configuration, start command and
probe of ``streammesh infra up``) on free ports, in a folder of this test
(tests/chaos/private_backends.py): the shared servers on 3306, 6379, 9042,
9200 and 5432 serve other test runs and are never touched. Each restart is
:func:`devtools.chaos.monkey.restart_backend` on an
:class:`~devtools.chaos.targets.InfraServer`: SIGKILL (no shutdown, no final
fsync), ``infra up`` of that one server, over when its probe answers.

What runs where:

* ``make test``: Redis, MariaDB and PostgreSQL (the streams, the users'
  accounts and the saga log, the analytics warehouse) are real and restarted;
  the catalog, history, recommendations and search keep their embedded files.
* ``make chaos`` (STREAMMESH_BACKEND_RESTARTS_ALL=1): Cassandra (catalog,
  history, recommendations) and OpenSearch (search) too, all five restarted.
  Two more JVMs to start and to restart do not fit ``make test``'s budget on
  a 2-core machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from rich.console import Console
from rich.table import Table

from devtools.chaos import monkey
from devtools.chaos.targets import InfraServer
from devtools.infra import manager
from devtools.infra.backend import Backend
from devtools.infra.settings import InfraSettings
from tests.chaos import private_backends
from tests.chaos.load import Load
from tests.chaos.meshproc import mesh_process
from tests.chaos.verify import Findings, verify
from tests.mesh import SAMPLE_CATALOG

ALL_BACKENDS = os.environ.get("STREAMMESH_BACKEND_RESTARTS_ALL") == "1"
# Restarted in this order, one at a time, the load running throughout.
RESTARTED = private_backends.ALL if ALL_BACKENDS else private_backends.NATIVE
# The load: viewers writing at once; a quarter delete their account as the
# restarts begin, so the deletion saga (its log in MariaDB) runs through them.
VIEWERS = int(os.environ.get("CHAOS_VIEWERS", "8"))
DELETERS = max(1, VIEWERS // 4)
# Bound on starting the private servers side by side (a JVM on a busy 2-core
# machine: private_backends.JVM_READY_SECONDS, plus installing nothing).
SERVERS_UP_SECONDS = 360.0
# Bound on every viewer signing up (two JVMs beside the mesh on a busy 2-core
# machine make every call slower); load before the first restart; load
# between one server answering again and the next restart.
READY_SECONDS = 600.0 if ALL_BACKENDS else 180.0
WARM_UP_SECONDS = 3.0
FAULT_GAP_SECONDS = 3.0
# Bound on the viewers finishing their current write once told to stop (a
# call is tried for at most load.TRY_FOR_SECONDS).
LOAD_STOP_SECONDS = 150.0
# pytest-timeout for this test (the default is 300 s): the bounded form took
# 79 to 200 s here at load average 15 to 23 (200 s when verify waited out its
# catch-up bound), the JVM form (`make chaos`) 754 s.
TEST_TIMEOUT_SECONDS = 420 if not ALL_BACKENDS else 1800


@dataclass(frozen=True)
class Servers:
    """The private servers by name, and how long starting them side by side took."""

    by_name: dict[str, Backend]
    up_seconds: float


@pytest_asyncio.fixture
async def servers() -> AsyncIterator[Servers]:
    shared = InfraSettings.from_env()
    absent = private_backends.missing(RESTARTED, shared.cache_dir)
    if absent:
        pytest.skip(f"not installed: {', '.join(absent)}; run `make infra-up`")
    # Probes of a booting server fail by design; the clients would log each.
    for client in ("cassandra", "opensearch"):
        logging.getLogger(client).setLevel(logging.CRITICAL)
    folder = private_backends.state_folder()
    settings = InfraSettings(state_dir=folder, cache_dir=shared.cache_dir)
    found = private_backends.private_servers(settings, RESTARTED)
    began = time.monotonic()
    try:
        outcomes = await asyncio.wait_for(
            manager.up(list(found.values()), lambda backend, text: None), SERVERS_UP_SECONDS
        )
        failed = [(o.backend.name, o.detail, o.log_tail) for o in outcomes if not o.ok]
        assert not failed, failed
        yield Servers(found, time.monotonic() - began)
    finally:
        # Only the processes our own pidfiles name, in our own folder.
        await manager.down(list(found.values()))
        await asyncio.to_thread(shutil.rmtree, folder, True)


@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
async def test_each_real_backend_restarted_under_load_loses_nothing(
    tmp_path: Path, servers: Servers
) -> None:
    began = time.monotonic()
    mesh = mesh_process(tmp_path / "mesh")
    mesh.env.update(private_backends.mesh_environment(servers.by_name))
    mesh.skip_demo_data()
    await mesh.start()
    load: Load | None = None
    # (fault, started, seconds until the server answered again)
    faults: list[tuple[monkey.FaultRecord, float, float]] = []
    try:
        await mesh.command("import-catalog", str(SAMPLE_CATALOG))
        load = Load(mesh.edge)
        await load.read_titles()
        stop = asyncio.Event()
        running = asyncio.create_task(load.run(VIEWERS, stop, deleters=DELETERS))
        # Every viewer signed up and writing before the first restart.
        await asyncio.wait_for(load.all_writing.wait(), READY_SECONDS)
        await asyncio.sleep(WARM_UP_SECONDS)
        load.delete_now.set()
        for name in RESTARTED:
            started = time.monotonic()
            record = await monkey.restart_backend(InfraServer(servers.by_name[name]))
            # restart_backend's recover_seconds counts from the end of `start`,
            # which itself waits for the probe: the kill-to-answer time is this.
            answered = time.monotonic() - started
            faults.append((record, started, answered))
            await asyncio.sleep(FAULT_GAP_SECONDS)
        stop.set()
        await asyncio.wait_for(running, LOAD_STOP_SECONDS)
        findings = await verify(load.ledger, mesh)
    finally:
        if load is not None:
            await load.close()
        await mesh.stop()

    assert load is not None
    whole = servers.up_seconds + time.monotonic() - began
    _report(load, findings, faults, servers.up_seconds, mesh.started_seconds, whole)
    assert [r.target for r, _, _ in faults] == list(RESTARTED)
    assert all(record.recovered for record, _, _ in faults), faults
    assert findings.viewers_checked == VIEWERS
    assert findings.accounts_deleted == DELETERS
    assert findings.writes_lost == []
    assert findings.events_lost == []
    assert findings.duplicates == []
    assert findings.consumers_behind == []
    # The warehouse commits synchronously (services/analytics/stores/postgres.py):
    # with PostgreSQL's asynchronous commit, 2 of 4 runs here lost views the
    # loader had acknowledged.
    assert findings.warehouse_wrong == []


def _report(
    load: Load,
    findings: Findings,
    faults: list[tuple[monkey.FaultRecord, float, float]],
    servers_seconds: float,
    mesh_seconds: float,
    whole_seconds: float,
) -> None:
    ledger = load.ledger
    ends = [started for _, started, _ in faults[1:]] + [float("inf")]
    table = Table(title=f"real backends SIGKILLed and restarted, {VIEWERS} viewers writing")
    for column in ("fault", "backend", "answers again (s)", "users see errors for (s)"):
        table.add_column(column)
    for (record, started, answered), end in zip(faults, ends, strict=True):
        table.add_row(
            record.fault,
            record.target,
            f"{answered:.2f}",
            f"{ledger.user_visible_recovery(started, end)}",
        )
    totals = Table(title="after the restarts")
    for column in ("writes acknowledged", "writes lost", "events lost", "duplicates"):
        totals.add_column(column)
    totals.add_row(
        str(findings.writes_acknowledged),
        str(len(findings.writes_lost)),
        str(len(findings.events_lost)),
        str(len(findings.duplicates)),
    )
    console = Console(width=120)
    console.print(table)
    console.print(totals)
    for (record, started, _), end in zip(faults, ends, strict=True):
        seen = Counter(why for t, why in ledger.failures if started <= t < end)
        if seen:
            console.print(
                f"{record.target}: " + "; ".join(f"{n}x {why}" for why, n in seen.most_common(3))
            )
    console.print(
        f"accounts deleted by saga {findings.accounts_deleted}; consumers behind "
        f"{len(findings.consumers_behind)}; warehouse wrong {len(findings.warehouse_wrong)}; "
        f"calls failed and tried again {ledger.failed}; events read {findings.events_read}; "
        f"servers start {servers_seconds:.0f} s, mesh start {mesh_seconds:.0f} s, "
        f"whole test {whole_seconds:.0f} s"
    )
    for problem in (
        findings.writes_lost
        + findings.events_lost
        + findings.duplicates
        + findings.consumers_behind
        + findings.warehouse_wrong
    )[:10]:
        console.print(f"  {problem}")
