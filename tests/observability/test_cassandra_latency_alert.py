"""The query-latency alert (over 1000 ms) fires when Cassandra stalls, and resolves.

Cassandra is paused for this test's client only: the runtime's own
CassandraSession (services/runtime/cassandra.py, what history and
recommendations use) reaches the shared node through a forwarder process the
test owns (pausable_proxy), and the test SIGSTOPs that process. To the client
that is a paused node: connections open, nothing answers, every query runs
into the driver's request timeout. The node that other engineers use keeps
running. (Pausing Cassandra's own JVM would also stop its JMX exporter, which
is the connection-failure alert's case, not this one.)

This process plays the service: it serves its /metrics, which a private
Prometheus scrapes as job service-history every second while evaluating the
repository's rules every second, so the rule's own 1-minute `for:` and
1-minute rate window are what the test waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
import pytest

from devtools.infra import endpoints
from devtools.observability import prometheus_config, top
from services.runtime.cassandra import CassandraSession, CassandraSettings
from services.runtime.errors import Unavailable
from tests.mesh import unused_port
from tests.observability.conftest import private_prometheus
from tests.observability.prometheus_api import PrometheusAPI, wait_for

ALERT = "StoreQueryLatencyHigh"
KEYSPACE = "latency_probe"
SCRAPE_SECONDS = 1
# The small load: this many callers, each pausing between queries.
CALLERS = 4
CALLER_PAUSE_SECONDS = 0.25
# Bounds: the load as a whole, and each phase (the rule's 1 m `for:` and
# 1 m rate window, plus the driver's 10 s request timeout and slack).
LOAD_MAX_SECONDS = 400.0
LOAD_MAX_QUERIES = 20_000
START_TIMEOUT_SECONDS = 60.0
FIRE_TIMEOUT_SECONDS = 150.0
RESOLVE_TIMEOUT_SECONDS = 150.0
REPO = Path(__file__).resolve().parents[2]


class Load:
    """CALLERS tasks querying through the session on a loop of their own thread."""

    def __init__(self, contact: tuple[str, int]) -> None:
        self._contact = contact
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.queries = 0
        self.failures = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        assert self._ready.wait(START_TIMEOUT_SECONDS), "the load never connected"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        host, port = self._contact
        settings = CassandraSettings(keyspace=KEYSPACE, contact_points=(host,), port=port)
        session = await CassandraSession.connect(settings)
        self._ready.set()
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        try:
            await asyncio.gather(*(self._call(session, deadline) for _ in range(CALLERS)))
        finally:
            await session.close()

    async def _call(self, session: CassandraSession, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.queries >= LOAD_MAX_QUERIES:
                return
            self.queries += 1
            try:
                await session.execute("SELECT release_version FROM system.local")
            except Unavailable:
                self.failures += 1
            await asyncio.sleep(CALLER_PAUSE_SECONDS)


@pytest.fixture
def proxy(cassandra_contact: tuple[str, int]) -> Iterator[subprocess.Popen[str]]:
    host, port = cassandra_contact
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.observability.pausable_proxy", host, str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def prometheus(prometheus_binary: Path, tmp_path: Path) -> Iterator[PrometheusAPI]:
    """A private Prometheus scraping this process as the history service."""
    metrics_port = unused_port()
    server, thread = prometheus_client.start_http_server(metrics_port, addr=endpoints.HOST)
    jobs = [
        prometheus_config.ScrapeJob(
            "service-history",
            (f"{endpoints.HOST}:{metrics_port}",),
            labels={"service": "history"},
        )
    ]

    try:
        with private_prometheus(jobs, tmp_path) as api:
            yield api
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _alert_in(api: PrometheusAPI, state: str) -> list[dict[str, object]]:
    return [
        alert
        for alert in api.alerts(ALERT)
        if alert["state"] == state and alert["labels"].get("store") == KEYSPACE
    ]


def test_latency_alert_fires_while_cassandra_is_paused_and_resolves_after(
    proxy: subprocess.Popen[str], prometheus: PrometheusAPI
) -> None:
    api = prometheus
    assert proxy.stdout is not None
    proxy_port = int(proxy.stdout.readline())
    with Load((endpoints.HOST, proxy_port)) as load:
        p99 = f'service_store:streammesh_store_query_seconds:p99_1m{{store="{KEYSPACE}"}}'
        healthy = wait_for(
            lambda: [s for s in api.query(p99) if float(s["value"][1]) < 1],
            "the store's p99 recorded, under 1 s",
            START_TIMEOUT_SECONDS,
        )
        assert healthy[0]["metric"]["service"] == "history"
        # streammesh top's store columns read the same series.
        history = {row.service: row for row in top.snapshot(api.url)}["history"].values
        assert history["store_p99"] < 1
        assert history["pool"] >= 1
        assert not _alert_in(api, "pending")
        assert not _alert_in(api, "firing")

        paused_at = time.monotonic()
        os.kill(proxy.pid, signal.SIGSTOP)
        pending = wait_for(
            lambda: _alert_in(api, "pending"), f"{ALERT} pending", FIRE_TIMEOUT_SECONDS
        )
        firing = wait_for(lambda: _alert_in(api, "firing"), f"{ALERT} firing", FIRE_TIMEOUT_SECONDS)
        fired_after = time.monotonic() - paused_at
        labels = firing[0]["labels"]
        assert isinstance(labels, dict)
        assert labels["service"] == "history"
        assert labels["severity"] == "warning"
        assert pending[0]["labels"] == labels
        assert load.failures > 0  # queries ran into the request timeout meanwhile

        resumed_at = time.monotonic()
        os.kill(proxy.pid, signal.SIGCONT)
        wait_for(
            lambda: not api.alerts(ALERT) or None,
            f"{ALERT} resolved after Cassandra answered again",
            RESOLVE_TIMEOUT_SECONDS,
        )
        resolved_after = time.monotonic() - resumed_at
        queries_before = load.queries
        wait_for(lambda: load.queries > queries_before, "queries answered again", 30)
    print(f"\nfired {fired_after:.0f} s after the pause, resolved {resolved_after:.0f} s after")
