"""Load generators the benchmarks share: ghz for gRPC, hey for HTTP.

Both run as their own processes (Go binaries from ``make tools``), so the
Python servers under test never share an interpreter with the load. Every
run is bounded by a request count and a timeout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".tools" / "bin"
PROTOSET = REPO / "gen" / "streammesh.pb"
# No single load run may take longer than this.
RUN_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Result:
    """What one load run measured."""

    qps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def row(self, name: str) -> str:
        return f"{name:<34}{self.qps:>9.0f}{self.p50_ms:>9.2f}{self.p99_ms:>9.2f}{self.errors:>7}"


HEADER = f"{'':<34}{'QPS':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make tools`")
    return str(path)


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    """``command`` on one CPU when taskset exists, so load and server do not trade places."""
    if cpu is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def ghz(
    target: str,
    call: str,
    data: str,
    *,
    total: int,
    concurrency: int = 16,
    rate: int = 0,
    metadata: dict[str, str] | None = None,
    cpu: int | None = None,
) -> Result:
    """``total`` unary calls of ``call`` (``pkg.Service.Method``) at ``rate``/s (0: flat out).

    ``data`` is the request as JSON; a JSON array makes ghz cycle through its
    messages. It goes through a file, so large arrays never hit argv limits.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data_file:
        data_file.write(data)
    command = [
        tool("ghz"),
        "--insecure",
        "--protoset",
        str(PROTOSET),
        "--call",
        call,
        "--data-file",
        data_file.name,
        "--concurrency",
        str(concurrency),
        "--total",
        str(total),
        "--timeout",
        "10s",
        "--format",
        "json",
    ]
    if rate:
        command += ["--rps", str(rate)]
    if metadata:
        command += ["--metadata", json.dumps(metadata)]
    try:
        output = subprocess.run(
            pinned(cpu, [*command, target]),
            env=dict(os.environ, GOMAXPROCS="1"),
            capture_output=True,
            text=True,
            check=True,
            timeout=RUN_TIMEOUT_SECONDS,
        ).stdout
    finally:
        os.unlink(data_file.name)
    report = json.loads(output)
    latencies = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"]}
    codes = report.get("statusCodeDistribution", {})
    errors = sum(count for code, count in codes.items() if code != "OK")
    return Result(report["rps"], latencies[50], latencies[99], errors)


def hey(
    url: str,
    *,
    total: int,
    concurrency: int = 16,
    rate: int = 0,
    paced_concurrency: int = 4,
    headers: dict[str, str] | None = None,
    cpu: int | None = None,
) -> Result:
    """``total`` HTTP GETs of ``url`` at ``rate``/s overall (0: flat out).

    A paced run uses ``paced_concurrency`` workers: hey's workers tick in step,
    so 16 of them would fire in bursts of 16 and measure the burst's queueing
    rather than the latency at that rate (ghz spreads its calls evenly).
    """
    workers = paced_concurrency if rate else concurrency
    command = [tool("hey"), "-n", str(total), "-c", str(workers), "-t", "10"]
    if rate:
        # hey's -q is per worker.
        command += ["-q", f"{max(rate / workers, 1):.2f}"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        pinned(cpu, [*command, url]),
        env=dict(os.environ, GOMAXPROCS="1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT_SECONDS,
    ).stdout
    qps = float(_field(r"Requests/sec:\s+([0-9.]+)", output))
    p50 = float(_field(r"50%+ in ([0-9.]+) secs", output)) * 1000
    p99 = float(_field(r"99%+ in ([0-9.]+) secs", output)) * 1000
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)
    errors = sum(int(count) for code, count in statuses if code != "200")
    errors += sum(int(n) for n in re.findall(r"\]\s+(\d+) errors?", output))
    return Result(qps, p50, p99, errors)


def _field(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"unexpected load tool output (no {pattern!r}):\n{text[-2000:]}")
    return match.group(1)
