"""``streammesh chaos``: SIGKILL services, restart or pause backends of a running mesh.

    streammesh chaos --duration 60 --interval 10            # kill random services
    streammesh chaos --faults kill,restart --mesh-redis     # and the embedded Redis
    streammesh chaos --faults restart,pause --backend redis # a `streammesh infra` server

Run it beside ``streammesh up`` (same ``--state-dir``). Every fault is a JSON
line in ``--log`` (default ``<state>/chaos.jsonl``); the summary table shows
how long each target took to serve again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.chaos import monkey
from devtools.chaos.targets import InfraServer, MeshRedis
from devtools.up import EMBEDDED_REDIS_PORT, STATE_DIR

console = Console()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chaos",
        help="kill services, restart or pause backends of a running mesh, on a schedule",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument(
        "--faults",
        default="kill",
        help=f"comma-separated, of {', '.join(monkey.FAULTS)} (default: kill)",
    )
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between faults")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds in all")
    parser.add_argument("--max-faults", type=int, default=100)
    parser.add_argument("--pause-seconds", type=float, default=2.0)
    parser.add_argument(
        "--service", action="append", default=[], help="only these services (repeatable)"
    )
    parser.add_argument(
        "--mesh-redis", action="store_true", help="restart/pause the mesh's embedded Redis"
    )
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        help="a `streammesh infra` server to restart/pause (shared: other checkouts may use it)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--log", type=Path, default=None, help="JSON lines (default <state>/chaos.jsonl)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = sorted(set(faults) - set(monkey.FAULTS))
    if unknown:
        console.print(f"[red]unknown faults {unknown}; known: {', '.join(monkey.FAULTS)}[/]")
        return 2
    backends: list[monkey.BackendTarget] = []
    if args.mesh_redis:
        backends.append(MeshRedis(args.state_dir, EMBEDDED_REDIS_PORT))
    if args.backend:
        from devtools.infra.backends import all_backends
        from devtools.infra.settings import InfraSettings

        known = {b.name: b for b in all_backends(InfraSettings.from_env())}
        missing = [name for name in args.backend if name not in known]
        if missing:
            console.print(f"[red]unknown backends {missing}; known: {', '.join(known)}[/]")
            return 2
        backends += [InfraServer(known[name]) for name in args.backend]
    plan = monkey.ChaosPlan(
        state_dir=args.state_dir,
        faults=faults,
        interval_seconds=args.interval,
        duration_seconds=args.duration,
        max_faults=args.max_faults,
        pause_seconds=args.pause_seconds,
        services=args.service,
        backends=backends,
        seed=args.seed,
    )
    if "kill" in faults and not (args.service or monkey.services_of(args.state_dir)):
        console.print(f"[red]no running mesh under {args.state_dir} (start `streammesh up`)[/]")
        return 1
    log = monkey.ChaosLog(args.log or args.state_dir / "chaos.jsonl")
    records = asyncio.run(_run(plan, log))
    table = Table(title=f"chaos: {len(records)} faults (log: {log.path})")
    for column in ("fault", "target", "pid", "recovered in"):
        table.add_column(column)
    for record in records:
        took = f"{record.recover_seconds:.2f} s" if record.recovered else "[red]not recovered[/]"
        table.add_row(record.fault, record.target, str(record.pid), took)
    console.print(table)
    return 0 if all(r.recovered for r in records) else 1


async def _run(plan: monkey.ChaosPlan, log: monkey.ChaosLog) -> list[monkey.FaultRecord]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await monkey.run(plan, log, stop)
