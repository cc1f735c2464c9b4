"""``streammesh infra up|down|status|reset``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from devtools.infra import data, manager
from devtools.infra.backend import Backend
from devtools.infra.backends import BACKEND_TYPES, all_backends, cassandra
from devtools.infra.settings import InfraSettings

_NAMES = [backend_type.name for backend_type in BACKEND_TYPES]


def _backend_name(text: str) -> str:
    if text not in _NAMES:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r} (known: {', '.join(_NAMES)})")
    return text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "infra",
        help="run the real backends (MariaDB, Redis, Cassandra, OpenSearch, PostgreSQL, s3proxy)",
        description="Install on first use, start, stop and inspect the real backends, "
        "each on 127.0.0.1 with its data under STREAMMESH_INFRA_DIR (.streammesh/infra).",
    )
    actions = parser.add_subparsers(dest="infra_command", metavar="ACTION", required=True)
    for action, handler, text in (
        ("up", _up, "install what is missing, start every backend, wait until each answers"),
        ("down", _down, "stop the backends this command started (by pidfile)"),
        ("status", _status, "show each backend's state, version and port"),
        ("reset", _reset, "stop the backends and delete their data (downloads are kept)"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument(
            "backends",
            nargs="*",
            type=_backend_name,
            metavar="BACKEND",
            help=f"only these ({', '.join(_NAMES)}); default: all",
        )
        sub.add_argument(
            "--cassandra-nodes",
            type=int,
            default=int(os.environ.get("STREAMMESH_CASSANDRA_NODES", "1")),
            metavar="N",
            help="Cassandra as a cluster of N nodes on 127.0.0.1..N, as ccm lays it out "
            "(default 1; STREAMMESH_CASSANDRA_NODES)",
        )
        if action == "status":
            sub.add_argument("--json", action="store_true", help="print JSON lines instead")
        if action == "reset":
            sub.add_argument(
                "--data",
                action="store_true",
                help="keep the servers running and drop only named data (the scope below): "
                "the backends are shared, a full reset wipes everyone's data",
            )
            data.add_scope_arguments(sub)
        sub.set_defaults(handler=handler)


def _selected(args: argparse.Namespace) -> list[Backend]:
    # Probes of a booting Cassandra are expected to fail; the driver would log each.
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    nodes = getattr(args, "cassandra_nodes", 1)
    if not 1 <= nodes <= cassandra.MAX_NODES:
        raise SystemExit(f"--cassandra-nodes: 1 to {cassandra.MAX_NODES}, not {nodes}")
    backends = all_backends(InfraSettings.from_env(), cassandra_nodes=nodes)
    wanted = set(args.backends or _NAMES)
    # "cassandra" names every node of the cluster.
    return [b for b in backends if b.name.rstrip("0123456789") in wanted or b.name in wanted]


def _up(args: argparse.Namespace) -> int:
    console = Console(log_path=False)
    backends = _selected(args)
    started = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[title]:<11}"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, TaskID] = {
            backend.name: progress.add_task("checking", title=backend.title, total=1)
            for backend in backends
        }

        def report(backend: Backend, text: str) -> None:
            progress.update(tasks[backend.name], description=text)
            if not console.is_terminal:
                console.log(f"{backend.title}: {text}")

        outcomes = asyncio.run(manager.up(backends, report))
        for outcome in outcomes:
            mark = "[green]ok[/]" if outcome.ok else "[red]FAILED[/]"
            version = f" {outcome.version}" if outcome.version else ""
            took = f" in {outcome.seconds:.1f}s" if outcome.seconds else ""
            progress.update(
                tasks[outcome.backend.name],
                description=f"{mark} {outcome.detail}{version}{took}",
                completed=1,
            )
    for outcome in outcomes:
        if not outcome.ok:
            console.print(
                Panel(
                    # Logs are plain text: brackets in them are not rich markup.
                    Text(outcome.log_tail or "(no log)"),
                    title=f"{outcome.backend.title}: {outcome.detail}",
                    border_style="red",
                )
            )
    failed = [outcome for outcome in outcomes if not outcome.ok]
    elapsed = time.monotonic() - started
    if failed:
        names = ", ".join(outcome.backend.title for outcome in failed)
        console.print(f"[red]infra up: {names} failed[/] ({elapsed:.1f}s)")
        return 1
    console.print(f"infra up: {len(outcomes)} backends answer ({elapsed:.1f}s)")
    cluster_env = cassandra.service_environment(getattr(args, "cassandra_nodes", 1))
    if cluster_env:
        console.print("the services use the Cassandra cluster with:")
        for name, value in cluster_env.items():
            console.print(f"  export {name}={value}")
    return 0


def _down(args: argparse.Namespace) -> int:
    console = Console()
    with console.status("stopping backends"):
        results = asyncio.run(manager.down(_selected(args)))
    for backend, result in results:
        console.print(f"{backend.title:<11} {result}")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = asyncio.run(manager.status(_selected(args)))
    if args.json:
        for item in statuses:
            print(
                json.dumps(
                    {
                        "backend": item.backend.name,
                        "state": item.state,
                        "version": item.version,
                        "port": item.backend.port,
                        "pid": item.pid,
                    }
                )
            )
    else:
        table = Table(title="StreamMesh backends")
        for column in ("backend", "state", "version", "address", "pid", "data"):
            table.add_column(column)
        colours = {"running": "green", "starting": "yellow", "external": "cyan"}
        for item in statuses:
            colour = colours.get(item.state, "red")
            table.add_row(
                item.backend.title,
                f"[{colour}]{item.state}[/]",
                item.version or "-",
                f"{item.backend.host}:{item.backend.port}",
                str(item.pid or "-"),
                str(item.backend.home) if item.state != "external" else "(another checkout)",
            )
        Console().print(table)
    return 0 if all(item.state in ("running", "external") for item in statuses) else 3


def _reset(args: argparse.Namespace) -> int:
    console = Console()
    if args.data:
        scope = data.scope_from_args(args, args.backends or data.DATA_BACKENDS)
        asyncio.run(
            data.reset_data(scope, lambda backend, text: console.print(f"{backend:<11} {text}"))
        )
        return 0
    backends = _selected(args)
    results = asyncio.run(manager.reset(backends))
    for backend, result in results:
        console.print(f"{backend.title:<11} {result}; data removed from {backend.home}")
    return 0
