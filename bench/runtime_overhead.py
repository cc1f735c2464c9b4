"""What the interceptor chain costs: QPS of EchoService.Echo, full chain vs none vs bare.

Runs three servers, one at a time, each in its own process pinned to CPU 0,
and loads each with ghz pinned to CPU 1 (GOMAXPROCS=1), same load each time:

    python bench/runtime_overhead.py [--concurrency 16] [--requests 20000] [--rounds 3]

  full     the echo service as deployed (bench/echo_servers.py: tracing with no
           exporter, deadlines, metrics, JSON access log to a file, error
           mapping, protovalidate)
  nochain  the same runtime server without interceptors
  bare     a bare grpc.aio server with the same servicer

``--breakdown`` adds the full chain less one layer at a time
(without-validation, -tracing, -access_log, -metrics; layer names of
interceptors/chain.py, ``+``-joined to drop several).

``--profile DIR`` then loads the full chain and the no-chain server once more
each (not counted) under py-spy, the sampling profiler that attaches to the
running process with no code change, and writes ``DIR/full.svg`` and
``DIR/nochain.svg`` (flame graphs of every thread, native gRPC frames
included). py-spy needs ptrace rights on the server (root, or
``CAP_SYS_PTRACE``); it runs on CPU 1 with ghz.

Prints QPS and latency per server (best of ``--rounds``; rounds alternate
servers so drift hits all alike) and the ratios full/bare and full/nochain.
Needs ghz (``make tools``). Loopback only; every run is bounded by
``--requests`` and ghz's ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import REPO, Result, free_port, ghz, pinned, tool

MODES = ("bare", "nochain", "full")
# --breakdown: the full chain less one layer each, to show where the cost is.
BREAKDOWN = ("without-validation", "without-tracing", "without-access_log", "without-metrics")


def _start(mode: str, logs: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none")
    log = (logs / f"{mode}.log").open("a")
    process = subprocess.Popen(
        pinned(0, [sys.executable, "-m", "bench.echo_servers", mode, str(port)]),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise SystemExit(f"{mode} server failed to start; see {logs / f'{mode}.log'}")
    return process, port


def _ghz(port: int, concurrency: int, requests: int) -> Result:
    return ghz(
        f"127.0.0.1:{port}",
        "streammesh.echo.v1.EchoService.Echo",
        '{"message": "hello"}',
        total=requests,
        concurrency=concurrency,
        cpu=1,
    )


def _profiled(mode: str, logs: Path, out_dir: Path, concurrency: int, requests: int) -> Path:
    """Loads ``mode`` once under py-spy; returns the flame graph's path."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = out_dir / f"{mode}.svg"
    process, port = _start(mode, logs)
    try:
        _ghz(port, concurrency, requests // 10)
        recorder = subprocess.Popen(
            pinned(
                1,
                [
                    py_spy,
                    "record",
                    "--native",
                    "--rate",
                    "250",
                    "--pid",
                    str(process.pid),
                    "--output",
                    str(out),
                ],
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # attached before the load starts
        _ghz(port, concurrency, requests)
        # py-spy writes its output when the process it follows exits.
    finally:
        process.terminate()
        process.wait(timeout=30)
    _, errors = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy failed on {mode}: {errors.strip()}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--breakdown", action="store_true", help="also run the full chain less one layer at a time"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile the full and no-chain servers with py-spy into DIR/<mode>.svg",
    )
    args = parser.parse_args()
    modes = MODES + (BREAKDOWN if args.breakdown else ())
    tool("ghz")  # exits with a pointer to `make tools` when it is missing

    best: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="streammesh-bench-") as logs_dir:
        logs = Path(logs_dir)
        for _ in range(args.rounds):
            for mode in modes:
                process, port = _start(mode, logs)
                try:
                    _ghz(port, args.concurrency, args.warmup)
                    result = _ghz(port, args.concurrency, args.requests)
                finally:
                    process.terminate()
                    process.wait(timeout=30)
                if result.errors:
                    raise SystemExit(f"{mode}: {result.errors:.0f} failed calls")
                if mode not in best or result.qps > best[mode].qps:
                    best[mode] = result
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            for mode in ("full", "nochain"):
                graph = _profiled(mode, logs, args.profile, args.concurrency, args.requests)
                print(f"profile of {mode}: {graph}")

    print(
        f"EchoService.Echo, ghz: concurrency {args.concurrency}, {args.requests} requests "
        f"per run after {args.warmup} warm-up, best of {args.rounds} rounds; "
        f"server on CPU 0, ghz on CPU 1"
    )
    print(f"{'server':<24}{'QPS':>8}{'p50 ms':>9}{'p99 ms':>9}{'vs nochain':>12}")
    for mode in modes:
        r = best[mode]
        share = r.qps / best["nochain"].qps
        print(f"{mode:<24}{r.qps:>8.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{share:>12.2f}")
    full, nochain, bare = best["full"].qps, best["nochain"].qps, best["bare"].qps
    print(f"full chain / bare grpc.aio : {full / bare:.2f}")
    print(
        f"full chain / no chain      : {full / nochain:.2f}  "
        f"(chain cost {100 * (1 - full / nochain):.0f}% of QPS)"
    )
    print(f"no chain / bare grpc.aio   : {nochain / bare:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
