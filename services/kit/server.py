"""The one server runtime: build, serve and stop a grpc.aio server the same way everywhere.

Services do not call it directly: their ``server.py`` declares a
:class:`services.kit.service.Service`, which builds the service's parts and
then calls :func:`create_server` and :func:`run`. Benchmarks and tests call
:func:`create_server` with a bare servicer (and ``interceptors=[]`` to measure
the chain's cost).

What every server gets (tests bind port 0 and get the real port back):
- the interceptor chain of interceptors/chain.py;
- the stock health service (grpcio-health-checking, aio) with a status per
  service name and the overall "" status, SERVING once started;
- stock server reflection (grpcio-reflection) for the service names, health and
  reflection itself, so ``grpcurl -plaintext HOST:PORT list`` works;
- keepalive, message-size and concurrency limits from ServerConfig;
- ``SO_REUSEPORT``, so N processes can share the port (``processes`` > 1).

:func:`run` is the process entry: JSON logging, tracing, the Prometheus
``/metrics`` endpoint, and SIGTERM/SIGINT handling: health turns NOT_SERVING
for every service, the server waits ``shutdown_drain_seconds``, then
``server.stop(shutdown_grace_seconds)`` refuses new calls and lets in-flight
ones finish, shutdown hooks (closing stores) run, and the process exits 0.

Multi-core (``processes`` = N > 1): the process becomes a supervisor that
starts N copies of its own command line as workers; each binds the same port
with ``SO_REUSEPORT`` and the kernel spreads connections across them. Metrics
use prometheus_client's multiprocess mode: workers write to a shared
directory (``PROMETHEUS_MULTIPROC_DIR``) and the supervisor alone serves
``/metrics`` on the service's metrics port, summed over workers, so
Prometheus keeps one target per service. SIGTERM to the supervisor is passed
to every worker; it exits 0 when they all did.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE_NAME
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from interceptors.chain import require_unary, server_interceptors
from services.runtime.config import ServerConfig
from services.runtime.logs import configure_logging, flush_logging
from services.runtime.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger("streammesh.server")

Register = Callable[[grpc.aio.Server], None]
ServerFactory = Callable[[], Awaitable[tuple[grpc.aio.Server, int]]]
ShutdownHook = Callable[[], Awaitable[None]]

# Set in worker processes started by the supervisor.
WORKER_ENV = "STREAMMESH_WORKER_INDEX"


@dataclass
class _Attached:
    config: ServerConfig
    health: health_aio.HealthServicer
    service_names: tuple[str, ...]
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)


# What create_server attached to each server, so stop() and hooks find it
# while create_server keeps the design's ``(server, port)`` shape.
_attached: weakref.WeakKeyDictionary[grpc.aio.Server, _Attached] = weakref.WeakKeyDictionary()


def server_options(config: ServerConfig) -> list[tuple[str, int]]:
    """Channel arguments of every server (the why of each value is in ServerConfig)."""
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.keepalive_time_ms", int(config.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            int(config.keepalive_min_ping_interval_seconds * 1000),
        ),
        ("grpc.max_receive_message_length", config.max_receive_message_bytes),
        ("grpc.max_send_message_length", config.max_send_message_bytes),
    ]


async def create_server(
    config: ServerConfig,
    register: Register,
    service_names: Sequence[str],
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor] | None = None,
    auth: grpc.aio.ServerInterceptor | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Builds, binds and starts a server; returns it with the port it bound.

    ``register`` adds the service's servicers (the generated
    ``add_XServicer_to_server``); ``service_names`` are their full names
    (``streammesh.users.v1.UserService``) for health and reflection.
    ``interceptors`` replaces the standard chain (benchmarks pass ``[]``);
    ``auth`` fills the chain's auth slot (see interceptors/chain.py).
    Raises RuntimeError when the address cannot be bound, and
    interceptors.chain.StreamingNotCovered (before anything starts) when a
    service of ours has a streaming method the chain would not cover.
    """
    require_unary(service_names)
    setup_tracing(config.service)
    chain = server_interceptors(config, auth=auth) if interceptors is None else list(interceptors)
    server = grpc.aio.server(
        interceptors=chain,
        options=server_options(config),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    register(server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = tuple(service_names)
    reflection.enable_server_reflection(
        (*names, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(config.address)
    if port == 0:
        raise RuntimeError(f"{config.service}: cannot bind {config.address}")
    await server.start()
    for name in ("", *names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    _attached[server] = _Attached(config, health, names)
    return server, port


def add_shutdown_hook(server: grpc.aio.Server, hook: ShutdownHook) -> None:
    """Runs ``hook`` after the server has stopped (close stores and pools there)."""
    _attached[server].shutdown_hooks.append(hook)


async def set_serving(server: grpc.aio.Server, service_name: str, serving: bool) -> None:
    """Changes one service's health status (a store went away and came back)."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    await _attached[server].health.set(service_name, status)


async def stop(server: grpc.aio.Server, grace: float | None = None) -> None:
    """Graceful stop: NOT_SERVING, drain, ``stop(grace)``, then the shutdown hooks."""
    attached = _attached.get(server)
    if attached is None:
        await server.stop(grace)
        return
    await attached.health.enter_graceful_shutdown()
    if attached.config.shutdown_drain_seconds > 0:
        await asyncio.sleep(attached.config.shutdown_drain_seconds)
    await server.stop(attached.config.shutdown_grace_seconds if grace is None else grace)
    for hook in attached.shutdown_hooks:
        try:
            await hook()
        except Exception:
            log.exception("shutdown hook failed")


async def serve(factory: ServerFactory, config: ServerConfig) -> None:
    """Runs the server from ``factory`` until SIGTERM or SIGINT, then stops it gracefully."""
    server, port = await factory()
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    log.info(
        "serving %s on port %d",
        config.service,
        port,
        extra={"port": port, "pid": os.getpid(), "worker": os.environ.get(WORKER_ENV)},
    )
    terminated = asyncio.ensure_future(server.wait_for_termination())
    requested = asyncio.ensure_future(stop_requested.wait())
    await asyncio.wait({terminated, requested}, return_when=asyncio.FIRST_COMPLETED)
    if stop_requested.is_set():
        log.info(
            "stopping %s: NOT_SERVING, then up to %.1f s for in-flight calls",
            config.service,
            config.shutdown_grace_seconds,
        )
        await stop(server)
    requested.cancel()
    await terminated
    log.info("stopped %s", config.service)


def run(factory: ServerFactory, config: ServerConfig) -> None:
    """Process entry point of a service; exits the process (0 after a graceful stop)."""
    configure_logging(config.service, config.log_level)
    worker = os.environ.get(WORKER_ENV) is not None
    if config.processes > 1 and not worker:
        code = supervise(config)
        flush_logging()
        sys.exit(code)
    if not worker and config.metrics_port:
        _start_metrics_endpoint(config)
    # Before the factory opens stores, so their clients are instrumented when
    # spans are exported (see telemetry.instrument_store_clients).
    setup_tracing(config.service)
    try:
        asyncio.run(serve(factory, config))
    finally:
        shutdown_tracing()
        flush_logging()
    sys.exit(0)


def _start_metrics_endpoint(config: ServerConfig, registry: object | None = None) -> None:
    import prometheus_client

    # start_http_server serves from a daemon thread, off the event loop.
    if registry is None:
        prometheus_client.start_http_server(config.metrics_port, addr=config.host)
    else:
        prometheus_client.start_http_server(
            config.metrics_port,
            addr=config.host,
            registry=registry,  # type: ignore[arg-type]
        )
    log.info("metrics on http://%s:%d/metrics", config.host, config.metrics_port)


def supervise(config: ServerConfig) -> int:
    """Runs ``config.processes`` workers on one port; returns the exit code."""
    if config.port == 0:
        raise ValueError("processes > 1 needs a fixed port: workers cannot share port 0")
    from prometheus_client import CollectorRegistry, multiprocess

    metrics_dir = tempfile.mkdtemp(prefix=f"streammesh-{config.service}-metrics-")
    command = [sys.executable, *sys.orig_argv[1:]]
    workers: dict[int, subprocess.Popen[bytes]] = {}
    for index in range(config.processes):
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
        env[WORKER_ENV] = str(index)
        process = subprocess.Popen(command, env=env)
        workers[process.pid] = process
    log.info(
        "supervising %d workers of %s on port %d",
        config.processes,
        config.service,
        config.port,
        extra={"workers": sorted(workers)},
    )
    if config.metrics_port:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        _start_metrics_endpoint(config, registry)

    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    exit_code = 0
    remaining = set(workers)
    while remaining:
        # os.wait blocks until a worker exits; a signal runs `forward` and the
        # wait resumes (PEP 475), so there is no polling loop.
        pid, status = os.wait()
        if pid not in remaining:
            continue
        remaining.discard(pid)
        workers[pid].returncode = os.waitstatus_to_exitcode(status)
        multiprocess.mark_process_dead(pid, metrics_dir)
        if workers[pid].returncode != 0 or not stopping:
            log.error("worker %d exited with %s", pid, workers[pid].returncode)
            exit_code = 1
            if not stopping:
                forward(signal.SIGTERM, None)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return exit_code
