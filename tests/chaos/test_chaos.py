"""The chaos suite, bounded form: a whole mesh under a write-heavy load while each
service is SIGKILLed once and the mesh's Redis is SIGKILLed and restarted once;
then every acknowledged write is looked for in every store that should hold it.
A quarter of the viewers delete their account as the faults begin, so the
account-deletion saga runs through them and must still reach its end.

The mesh is ``streammesh up`` itself (embedded backends, its own ports and
folder), so the supervisor, Envoy and the event relays and consumers are the
real ones. ``make chaos`` runs the long form (CHAOS_ROUNDS rounds).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devtools.chaos import monkey
from devtools.chaos.targets import MeshRedis
from interceptors import retry
from tests.chaos.load import Load
from tests.chaos.meshproc import mesh_process
from tests.chaos.verify import verify
from tests.mesh import SAMPLE_CATALOG

# The load: viewers writing at once (each: rename, preference, view, repeat).
VIEWERS = int(os.environ.get("CHAOS_VIEWERS", "8"))
# Of them, viewers who delete their account as the faults begin (issue 18's saga).
DELETERS = max(1, VIEWERS // 4)
# Rounds of faults (each: every service once, then Redis); `make chaos` raises it.
ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "1"))
# Bound on every viewer signing up; then load before the first fault, and
# between faults (the load goes on throughout).
READY_SECONDS = 180.0
WARM_UP_SECONDS = 3.0
FAULT_GAP_SECONDS = 2.0
# Retries of the load's retry-safe calls stay within the budget (gRFC A6).
MAX_ATTEMPTS_PER_REQUEST = 1.1


def _attempts() -> tuple[float, float]:
    """(first attempts, all attempts) of the retry interceptor, so far, this process."""
    first = total = 0.0
    for metric in retry.ATTEMPTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                total += sample.value
                if sample.labels.get("retry") == "false":
                    first += sample.value
    return first, total


async def test_every_service_killed_and_redis_restarted_under_load_loses_nothing(
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    mesh = mesh_process(tmp_path / "mesh")
    mesh.skip_demo_data()
    await mesh.start()
    load: Load | None = None
    try:
        await mesh.command("import-catalog", str(SAMPLE_CATALOG))
        load = Load(mesh.edge)
        await load.read_titles()
        stop = asyncio.Event()
        running = asyncio.create_task(load.run(VIEWERS, stop, deleters=DELETERS))
        # Every viewer signed up and writing before the first fault.
        await asyncio.wait_for(load.all_writing.wait(), READY_SECONDS)
        await asyncio.sleep(WARM_UP_SECONDS)
        first_before, all_before = _attempts()
        redis = MeshRedis(mesh.state_dir, mesh.ports["embedded_redis"])
        faults: list[tuple[monkey.FaultRecord, float]] = []
        # The deletion sagas start now and run through the faults.
        load.delete_now.set()
        for _ in range(ROUNDS):
            for service in mesh.services:
                started = time.monotonic()
                record = await monkey.kill_service(mesh.state_dir, service)
                await asyncio.sleep(FAULT_GAP_SECONDS)
                faults.append((record, started))
            started = time.monotonic()
            record = await monkey.restart_backend(redis)
            await asyncio.sleep(FAULT_GAP_SECONDS)
            faults.append((record, started))
        first_after, all_after = _attempts()
        stop.set()
        await asyncio.wait_for(running, 120)
        findings = await verify(load.ledger, mesh)
    finally:
        if load is not None:
            await load.close()
        await mesh.stop()

    requests = first_after - first_before
    attempts = all_after - all_before
    ends = [started for _, started in faults[1:]] + [float("inf")]
    table = Table(title=f"chaos: {len(faults)} faults, {VIEWERS} viewers, {ROUNDS} round(s)")
    for column in ("fault", "target", "serving again (s)", "users see errors for (s)"):
        table.add_column(column)
    for (record, started), end in zip(faults, ends, strict=True):
        table.add_row(
            record.fault,
            record.target,
            f"{record.recover_seconds}",
            f"{load.ledger.user_visible_recovery(started, end)}",
        )
    console = Console(width=120)
    console.print(table)
    for (record, started), end in zip(faults, ends, strict=True):
        seen = Counter(why for t, why in load.ledger.failures if started <= t < end)
        if seen:
            console.print(
                f"{record.target}: " + "; ".join(f"{n}x {why}" for why, n in seen.most_common(3))
            )
    console.print(
        f"writes acknowledged {findings.writes_acknowledged} (accounts deleted by saga "
        f"{findings.accounts_deleted}), writes lost "
        f"{len(findings.writes_lost)}, events lost {len(findings.events_lost)}, "
        f"user-visible duplicates {len(findings.duplicates)}; calls failed and tried again "
        f"{load.ledger.failed}; retry-safe attempts {attempts:.0f} for {requests:.0f} requests "
        f"({attempts / max(requests, 1):.3f}x); events read {findings.events_read}; "
        f"mesh start {mesh.started_seconds:.0f} s, whole test {time.monotonic() - began:.0f} s"
    )
    assert all(record.recovered for record, _ in faults), faults
    assert findings.viewers_checked == VIEWERS
    assert findings.accounts_deleted == DELETERS
    assert findings.writes_lost == []
    assert findings.events_lost == []
    assert findings.duplicates == []
    assert findings.consumers_behind == []
    assert findings.warehouse_wrong == []
    assert attempts <= MAX_ATTEMPTS_PER_REQUEST * requests
