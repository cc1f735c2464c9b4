"""One device request is one trace: edge -> browse -> users and catalog."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.e2e.conftest import Mesh
from tests.e2e.test_rest import _json, _sign_up


def _server_spans(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.SERVER and s.context.trace_id == trace_id
    ]


async def _home(mesh: Mesh) -> tuple[str, dict[str, str]]:
    account_id, auth = await _sign_up(mesh)
    profiles = _json(await mesh.http.get(f"/v1/accounts/{account_id}/profiles", headers=auth), 200)
    return profiles["profiles"][0]["profileId"], auth


async def test_a_devices_traceparent_is_continued_by_every_service(
    mesh: Mesh, spans: InMemorySpanExporter
) -> None:
    profile_id, auth = await _home(mesh)
    trace_id, traceparent = _traceparent()
    spans.clear()
    response = await mesh.http.get(
        f"/v1/profiles/{profile_id}/home", headers={**auth, "traceparent": traceparent}
    )
    _json(response, 200)
    await asyncio.sleep(0.2)  # span processors run after the response is sent
    names = {s.name for s in _server_spans(spans, trace_id)}
    assert "/streammesh.browse.v1.BrowseService/GetHome" in names, names
    assert "/streammesh.users.v1.UserService/GetProfile" in names, names
    assert "/streammesh.catalog.v1.CatalogService/ListTitles" in names, names
    # ... down to the stores: the caches in Redis answer a home screen.
    assert "redis" in _stores(spans, trace_id)


def _traceparent() -> tuple[int, str]:
    trace_id = secrets.randbits(128) | 1
    return trace_id, f"00-{trace_id:032x}-{secrets.randbits(64) | 1:016x}-01"


def _stores(spans: InMemorySpanExporter, trace_id: int) -> set[str]:
    return {
        system
        for s in spans.get_finished_spans()
        if s.context.trace_id == trace_id and (system := _db_system(s)) is not None
    }


async def test_a_write_is_traced_into_the_users_database(
    mesh: Mesh, spans: InMemorySpanExporter
) -> None:
    account_id, auth = await _sign_up(mesh)
    trace_id, traceparent = _traceparent()
    response = await mesh.http.post(
        f"/v1/accounts/{account_id}/profiles",
        json={"profileName": "Traced"},
        headers={**auth, "traceparent": traceparent},
    )
    _json(response, 200)
    await asyncio.sleep(0.2)
    database = "mysql" if mesh.backend == "real" else "sqlite"
    assert database in _stores(spans, trace_id)


async def test_a_catalog_miss_is_traced_into_cassandra(
    mesh: Mesh, spans: InMemorySpanExporter
) -> None:
    if mesh.backend != "real":
        pytest.skip("the embedded catalog's aiosqlite has no OpenTelemetry instrumentation")
    trace_id, traceparent = _traceparent()
    # A page size no other request used: a listing-cache miss, so a query.
    page_size = 37 + secrets.randbelow(50)
    response = await mesh.http.get(
        "/v1/titles", params={"page_size": str(page_size)}, headers={"traceparent": traceparent}
    )
    _json(response, 200)
    await asyncio.sleep(0.2)
    assert "cassandra" in _stores(spans, trace_id)


def _db_system(span: ReadableSpan) -> str | None:
    attributes = span.attributes or {}
    value = attributes.get("db.system") or attributes.get("db.system.name")
    return str(value) if value is not None else None


async def test_the_edge_starts_a_trace_and_logs_its_id(
    mesh: Mesh, spans: InMemorySpanExporter
) -> None:
    profile_id, auth = await _home(mesh)
    spans.clear()
    response = await mesh.http.get(f"/v1/profiles/{profile_id}/home", headers=auth)
    _json(response, 200)
    await asyncio.sleep(0.2)  # span processors run after the response is sent
    browse = [
        s
        for s in spans.get_finished_spans()
        if s.name == "/streammesh.browse.v1.BrowseService/GetHome"
    ]
    assert len(browse) == 1
    # Envoy's span is the parent: the service continued a trace it did not start.
    assert browse[0].parent is not None
    assert browse[0].parent.is_remote
    trace_id = browse[0].context.trace_id
    assert {s.name for s in _server_spans(spans, trace_id)} >= {
        "/streammesh.users.v1.UserService/GetProfile",
        "/streammesh.catalog.v1.CatalogService/ListTitles",
    }
    assert await _access_log_trace_ids(mesh, f"/v1/profiles/{profile_id}/home") == [
        f"{trace_id:032x}"
    ]


async def _access_log_trace_ids(mesh: Mesh, path: str) -> list[str]:
    """Trace ids of the edge's access log lines for ``path``, once Envoy has flushed them."""
    for _ in range(50):  # Envoy flushes its access log every second
        lines = [
            json.loads(line)
            for line in mesh.edge_log.read_text().splitlines()
            if line.startswith("{") and f'"{path}"' in line
        ]
        if lines:
            return [line["trace_id"] for line in lines]
        await asyncio.sleep(0.1)
    return []
