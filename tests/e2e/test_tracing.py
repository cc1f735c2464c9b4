"""One device request is one trace: edge -> browse -> users and catalog."""

from __future__ import annotations

import asyncio
import json
import secrets

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
    trace_id = secrets.randbits(128) | 1
    traceparent = f"00-{trace_id:032x}-{secrets.randbits(64) | 1:016x}-01"
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
    # ... down to the stores: the profile cache in Redis, the catalog's database.
    stores = {_db_system(s) for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    assert "redis" in stores, stores
    assert stores & {"sqlite", "cassandra"}, stores


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
