"""Cached GetTitle against a bare echo, without a whole mesh (quick on a loaded machine).

Starts the catalog service alone (embedded SQLite seeded from the e2e sample,
the Redis of ``--redis`` under a private prefix, L1 on), then the bare and
full-chain echo servers (bench/echo_servers.py); each server on CPU 0 and
ghz on CPU 1, the same load for each. Prints QPS and the ratios.

    .venv/bin/python -m bench.title_read_bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import HEADER, REPO, free_port, ghz, pinned
from bench.runtime_overhead import _ghz as echo_ghz
from bench.runtime_overhead import _start as start_echo

GET_TITLE = "streammesh.catalog.v1.CatalogService.GetTitle"
LIST_TITLES = "streammesh.catalog.v1.CatalogService.ListTitles"
READY_TIMEOUT_SECONDS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="streammesh-title-bench-") as state:
        port = free_port()
        env = dict(
            os.environ,
            OTEL_TRACES_EXPORTER="none",
            STREAMMESH_CATALOG_PORT=str(port),
            STREAMMESH_CATALOG_METRICS_PORT="0",
            STREAMMESH_CATALOG_ACCESS_LOG="false",
            STREAMMESH_CATALOG_LOG_LEVEL="WARNING",
            STREAMMESH_CATALOG_SQLITE_PATH=str(Path(state) / "catalog.db"),
            STREAMMESH_CATALOG_REDIS_URL=args.redis,
            STREAMMESH_CATALOG_REDIS_PREFIX=f"bench:title:{os.getpid()}:",
            STREAMMESH_CATALOG_SEED_CATALOG=str(REPO / "tests/e2e/data/titles_sample.csv"),
            STREAMMESH_CATALOG_MEDIA_STORE="embedded",
            STREAMMESH_CATALOG_OBJECTS_ROOT=str(Path(state) / "objects"),
        )
        log = (Path(state) / "catalog.log").open("wb")
        catalog = subprocess.Popen(
            pinned(0, [sys.executable, "-m", "services.catalog.server"]),
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            target = f"127.0.0.1:{port}"
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            title_id = ""
            while not title_id:
                if time.monotonic() > deadline or catalog.poll() is not None:
                    raise SystemExit((Path(state) / "catalog.log").read_text()[-3000:])
                try:
                    listed = subprocess.run(
                        ["grpcurl", "-plaintext", "-d", '{"page_size": 1}', target, LIST_TITLES],
                        capture_output=True,
                        text=True,
                        timeout=10,
                        env=dict(os.environ, PATH=f"{REPO / '.tools/bin'}:{os.environ['PATH']}"),
                    )
                    titles = json.loads(listed.stdout or "{}").get("titles", [])
                    first = titles[0] if titles else {}
                    title_id = first.get("titleId", first.get("title_id", ""))
                except (subprocess.TimeoutExpired, json.JSONDecodeError):
                    pass
                time.sleep(1)
            payload = json.dumps({"title_id": title_id})
            ghz(
                target,
                GET_TITLE,
                payload,
                total=args.requests // 5,
                concurrency=args.concurrency,
                cpu=1,
            )
            rows.append(
                (
                    "GetTitle, cached (L1)",
                    ghz(
                        target,
                        GET_TITLE,
                        payload,
                        total=args.requests,
                        concurrency=args.concurrency,
                        cpu=1,
                    ),
                )
            )
        finally:
            catalog.terminate()
            catalog.wait(timeout=60)
        for mode in ("bare", "full"):
            process, echo_port = start_echo(mode, Path(state))
            try:
                echo_ghz(echo_port, args.concurrency, args.requests // 5)
                rows.append((f"echo, {mode}", echo_ghz(echo_port, args.concurrency, args.requests)))
            finally:
                process.terminate()
                process.wait(timeout=30)
    print(
        f"server on CPU 0, ghz on CPU 1 (GOMAXPROCS=1), concurrency {args.concurrency}, "
        f"{args.requests} requests; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(HEADER)
    for name, result in rows:
        print(result.row(name))
    found = dict(rows)
    bare = found["echo, bare"].qps
    print(
        f"GetTitle / bare echo = {found['GetTitle, cached (L1)'].qps / bare:.2f} (target >= 0.80)"
    )
    print(f"full chain / bare echo = {found['echo, full'].qps / bare:.2f} (target >= 0.90)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
