"""A small blocking client of Prometheus' HTTP API for the tests (loopback only)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

# Bound on one API request.
REQUEST_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.5

T = TypeVar("T")


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(
            f"{self.url}{path}{query}", timeout=REQUEST_TIMEOUT_SECONDS
        ) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=promql)["result"]
        return result

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [
            alert
            for alert in self.get("/api/v1/alerts")["alerts"]
            if alert["labels"]["alertname"] == name
        ]


def wait_for(check: Callable[[], T | None], what: str, timeout_seconds: float) -> T:
    """Polls until ``check`` returns something truthy; fails naming ``what`` after the bound."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_seconds:.0f}s")
        time.sleep(POLL_SECONDS)
