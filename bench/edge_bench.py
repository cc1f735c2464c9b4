"""REST through Envoy against direct gRPC, for GetTitle and GetHome.

Starts a private mesh with ``streammesh up`` (embedded backends, free ports,
a temporary state folder), signs a viewer up through the edge, then for each
RPC:

1. finds the peak: direct gRPC to the service, flat out (ghz);
2. at half of that peak, measures p50/p99 three ways in turn: direct gRPC,
   gRPC through Envoy, and REST/JSON through Envoy (hey);

and prints QPS, p50 and p99 with Envoy's added latency. The mesh, the load
tool and Envoy share this machine's cores: the figures are for that setup.

    .venv/bin/python -m bench.edge_bench [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.loadgen import HEADER, REPO, Result, free_port, ghz, hey

SERVICES = ("users", "catalog", "browse")
READY_TIMEOUT_SECONDS = 300.0


def _mesh_environment() -> tuple[dict[str, str], dict[str, int]]:
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none", STREAMMESH_LOG_LEVEL="WARNING")
    ports = {name: free_port() for name in (*SERVICES, "edge", "admin", "reflection", "redis")}
    for name in SERVICES:
        env[f"STREAMMESH_{name.upper()}_PORT"] = str(ports[name])
        env[f"STREAMMESH_{name.upper()}_ADDR"] = f"127.0.0.1:{ports[name]}"
        env[f"STREAMMESH_{name.upper()}_METRICS_PORT"] = str(free_port())
        # One JSON line per call would measure the log file, not the mesh.
        env[f"STREAMMESH_{name.upper()}_ACCESS_LOG"] = "false"
    env["STREAMMESH_EDGE_PORT"] = str(ports["edge"])
    env["STREAMMESH_EDGE_ADMIN_PORT"] = str(ports["admin"])
    env["STREAMMESH_EDGE_REFLECTION_PORT"] = str(ports["reflection"])
    env["STREAMMESH_EMBEDDED_REDIS_PORT"] = str(ports["redis"])
    return env, ports


def _wait_ready(edge: str, mesh: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if mesh.poll() is not None:
            raise SystemExit(f"streammesh up exited with {mesh.returncode}; see {log}")
        try:
            if httpx.get(f"{edge}/v1/titles?page_size=1", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the mesh was not ready in {READY_TIMEOUT_SECONDS:.0f}s; see {log}")


def _viewer(edge: str) -> tuple[str, str, str]:
    """(access token, primary profile id, a title id) of a fresh account."""
    email = f"bench.{time.time_ns()}@example.com"
    body = {
        "email": email,
        "password": "benchmark password",
        "firstName": "Bench",
        "lastName": "Mark",
        "countryCode": "US",
    }
    account = httpx.post(f"{edge}/v1/accounts", json=body, timeout=10).json()
    session = httpx.post(
        f"{edge}/v1/sessions", json={"email": email, "password": body["password"]}, timeout=10
    ).json()
    token = session["accessToken"]
    profiles = httpx.get(
        f"{edge}/v1/accounts/{account['accountId']}/profiles",
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    titles = httpx.get(f"{edge}/v1/titles?country=US&page_size=1", timeout=10).json()
    return token, profiles["profiles"][0]["profileId"], titles["titles"][0]["titleId"]


def _measure(
    name: str,
    call: str,
    data: dict[str, str],
    rest_path: str,
    ports: dict[str, int],
    service: str,
    token: str,
    seconds: float,
) -> list[tuple[str, Result]]:
    metadata = {"authorization": f"Bearer {token}"}
    direct = f"127.0.0.1:{ports[service]}"
    edge = f"127.0.0.1:{ports['edge']}"
    payload = json.dumps(data)
    ghz(direct, call, payload, total=500, metadata=metadata)  # warm caches and pools
    peak = ghz(
        direct,
        call,
        payload,
        total=max(2000, int(seconds * 400)),
        metadata=metadata,
        concurrency=32,
    )
    rate = max(int(peak.qps / 2), 1)
    total = max(int(rate * seconds), 100)
    half = [
        (
            f"{name} gRPC direct @ {rate}/s",
            ghz(direct, call, payload, total=total, rate=rate, metadata=metadata),
        ),
        (
            f"{name} gRPC via Envoy @ {rate}/s",
            ghz(edge, call, payload, total=total, rate=rate, metadata=metadata),
        ),
        (
            f"{name} REST via Envoy @ {rate}/s",
            hey(
                f"http://{edge}{rest_path}",
                total=total,
                rate=rate,
                headers={"authorization": f"Bearer {token}"},
            ),
        ),
    ]
    return [(f"{name} gRPC direct, peak", peak), *half]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each half-peak run")
    args = parser.parse_args()
    env, ports = _mesh_environment()
    with tempfile.TemporaryDirectory(prefix="streammesh-edge-bench-") as state:
        log = Path(state) / "up.log"
        with log.open("wb") as out:
            mesh = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--state-dir", state],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            edge = f"http://127.0.0.1:{ports['edge']}"
            _wait_ready(edge, mesh, log)
            token, profile_id, title_id = _viewer(edge)
            rows = _measure(
                "GetTitle",
                "streammesh.catalog.v1.CatalogService.GetTitle",
                {"title_id": title_id},
                f"/v1/titles/{title_id}",
                ports,
                "catalog",
                token,
                args.seconds,
            )
            rows += _measure(
                "GetHome",
                "streammesh.browse.v1.BrowseService.GetHome",
                {"profile_id": profile_id},
                f"/v1/profiles/{profile_id}/home",
                ports,
                "browse",
                token,
                args.seconds,
            )
        finally:
            mesh.send_signal(signal.SIGINT)
            mesh.wait(timeout=60)
    print(
        f"edge benchmark: embedded backends, {os.cpu_count()} cores shared by the mesh, "
        f"Envoy and the load tool (GOMAXPROCS=1); half-peak runs of {args.seconds:.0f}s"
    )
    print(HEADER)
    for name, result in rows:
        print(result.row(name))
    for first in (0, 4):
        direct, via_grpc, via_rest = rows[first + 1][1], rows[first + 2][1], rows[first + 3][1]
        label = rows[first][0].split()[0]
        print(
            f"{label}: Envoy adds p50 {via_grpc.p50_ms - direct.p50_ms:+.2f} ms, "
            f"p99 {via_grpc.p99_ms - direct.p99_ms:+.2f} ms (gRPC); REST/JSON adds p50 "
            f"{via_rest.p50_ms - direct.p50_ms:+.2f} ms, "
            f"p99 {via_rest.p99_ms - direct.p99_ms:+.2f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
