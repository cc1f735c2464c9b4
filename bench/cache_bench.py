"""The cache targets of issue 20, side by side in one run.

1. A bare ``grpc.aio`` echo and the echo with the full interceptor chain
   (bench/echo_servers.py), each pinned to CPU 0, ghz on CPU 1.
2. A mesh of this checkout (``streammesh up``, embedded backends): cached
   GetTitle (catalog) and GetProfile (users, with the owner's token), each
   service's process pinned to CPU 0 for its run, the same ghz on CPU 1:
   warm reads are L1 hits.
3. GetHome's peak (ghz flat out, direct to browse) on this checkout and on
   ``--baseline`` (another worktree, e.g. today's commit), and this
   checkout's GetHome REST p99 through Envoy at half of its peak (hey).

    .venv/bin/python -m bench.cache_bench --baseline /tmp/perf-baseline

Prints QPS, p50, p99 and the ratios against the targets, with the load
average. Bounded by ``--requests`` per run; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench.device_load import mesh as meshes
from bench.edge_bench import _viewer as viewer
from bench.loadgen import HEADER, REPO, Result, ghz, hey
from bench.runtime_overhead import _ghz as echo_ghz
from bench.runtime_overhead import _start as start_echo


def pin(pids: list[int], cpus: str) -> None:
    for pid in pids:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cpus, str(pid)], check=False, capture_output=True
        )


def echoes(requests: int, concurrency: int) -> dict[str, Result]:
    found: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="streammesh-cache-bench-") as logs:
        for mode in ("bare", "full"):
            process, port = start_echo(mode, Path(logs))
            try:
                echo_ghz(port, concurrency, requests // 10)
                found[mode] = echo_ghz(port, concurrency, requests)
            finally:
                process.terminate()
                process.wait(timeout=30)
    return found


def pinned_read(
    mesh: meshes.Mesh,
    service: str,
    call: str,
    data: dict[str, str],
    token: str,
    requests: int,
    concurrency: int,
) -> Result:
    """``call`` on ``service`` with its processes on CPU 0 and ghz on CPU 1."""
    pids = mesh.pids(service)
    pin(pids, "0")
    try:
        metadata = {"authorization": f"Bearer {token}"}
        payload = json.dumps(data)
        ghz(
            mesh.grpc(service),
            call,
            payload,
            total=requests // 10,
            metadata=metadata,
            concurrency=concurrency,
            cpu=1,
        )
        return ghz(
            mesh.grpc(service),
            call,
            payload,
            total=requests,
            metadata=metadata,
            concurrency=concurrency,
            cpu=1,
        )
    finally:
        pin(pids, "0-1")


HOME = "streammesh.browse.v1.BrowseService.GetHome"


def home_peak(mesh: meshes.Mesh, token: str, profile_id: str, requests: int) -> Result:
    metadata = {"authorization": f"Bearer {token}"}
    payload = json.dumps({"profile_id": profile_id})
    ghz(mesh.grpc("browse"), HOME, payload, total=200, metadata=metadata)
    return ghz(
        mesh.grpc("browse"), HOME, payload, total=requests, metadata=metadata, concurrency=32
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure GetHome on")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--home-requests", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="the half-peak REST run")
    args = parser.parse_args()
    rows: list[tuple[str, Result]] = []
    echo = echoes(args.requests, args.concurrency)
    rows += [("echo, bare grpc.aio", echo["bare"]), ("echo, full chain", echo["full"])]
    with meshes.running(REPO) as mesh:
        token, profile_id, title_id = viewer(mesh.edge)
        title = pinned_read(
            mesh,
            "catalog",
            "streammesh.catalog.v1.CatalogService.GetTitle",
            {"title_id": title_id},
            token,
            args.requests,
            args.concurrency,
        )
        profile = pinned_read(
            mesh,
            "users",
            "streammesh.users.v1.UserService.GetProfile",
            {"profile_id": profile_id},
            token,
            args.requests,
            args.concurrency,
        )
        rows += [("GetTitle, cached (L1)", title), ("GetProfile, cached (L1)", profile)]
        peak = home_peak(mesh, token, profile_id, args.home_requests)
        rows.append(("GetHome peak, this checkout", peak))
        rate = max(int(peak.qps / 2), 1)
        rest = hey(
            f"{mesh.edge}/v1/profiles/{profile_id}/home",
            total=max(int(rate * args.seconds), 100),
            rate=rate,
            headers={"authorization": f"Bearer {token}"},
        )
        rows.append((f"GetHome REST via Envoy @ {rate}/s", rest))
    baseline = None
    if args.baseline is not None:
        with meshes.running(args.baseline) as old:
            token, profile_id, _ = viewer(old.edge)
            baseline = home_peak(old, token, profile_id, args.home_requests)
        rows.append(("GetHome peak, baseline", baseline))
    print(
        f"\ncache targets: {os.cpu_count()} cores; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; ghz GOMAXPROCS=1"
    )
    print(HEADER)
    for name, result in rows:
        print(result.row(name))
    bare = echo["bare"].qps
    print(f"interceptor chain: full / bare echo = {echo['full'].qps / bare:.2f} (target >= 0.90)")
    print(f"GetTitle  / bare echo = {title.qps / bare:.2f} (target >= 0.80)")
    print(f"GetProfile / bare echo = {profile.qps / bare:.2f} (target >= 0.80)")
    if baseline is not None:
        print(f"GetHome peak / baseline = {peak.qps / baseline.qps:.2f} (target >= 3)")
    print(f"GetHome REST p99 at half peak = {rest.p99_ms:.1f} ms (target <= 30)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
