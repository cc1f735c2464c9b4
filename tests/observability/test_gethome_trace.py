"""The whole GetHome trace, found through Jaeger's API: edge, browse, users, catalog, stores.

The mesh (users, catalog, history, recommendations and browse: what a home
screen calls) runs on the real backends (MariaDB, Cassandra, Redis; the run's
own database and keyspaces) behind a real Envoy, and
everything exports OTLP to a real Jaeger: Envoy through its OpenTelemetry
tracer (services/edge/render.py), the services through this process's tracer
provider with the OTLP exporter, as ``OTEL_TRACES_EXPORTER=otlp`` sets it up
in a service process. The servers share this process (tests/mesh.py), so
Jaeger lists them under one service name; each hop is told by its RPC span
(``/streammesh.users.v1.UserService/GetProfile``), the stores by their client
spans' ``db.system``. One device request (GET /v1/profiles/{id}/home with a
traceparent) must open as one tree under the edge's span.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from devtools.observability import trace as trace_view
from devtools.observability.jaeger import Jaeger
from devtools.observability.slow_requests import SlowRequestWatch
from services import cli
from services.runtime.telemetry import setup_tracing
from tests.mesh import (
    LOOPBACK,
    PASSWORD,
    Backends,
    StorageFactory,
    browse_config,
    catalog_config,
    drop_keyspace,
    edge_in_front,
    history_config,
    recommendations_config,
    start_mesh,
    users_config,
)
from tests.observability.conftest import FIXTURE_WAIT_SECONDS
from tests.observability.prometheus_api import wait_for

# Envoy's service name (services/edge/render.py).
EDGE_SERVICE = "streammesh-edge"
# Each home row's budget: a loaded machine must not drop a row (and its spans).
ROW_TIMEOUT_SECONDS = 5.0
# GetHome tries when the edge's upstream deadline passes (a loaded machine).
HOME_ATTEMPTS = 3
# How soon batched spans leave this process.
EXPORT_DELAY_MILLIS = 200
HOPS = (
    "/streammesh.browse.v1.BrowseService/GetHome",
    "/streammesh.users.v1.UserService/GetProfile",
    "/streammesh.catalog.v1.CatalogService/ListTitles",
)


@dataclass
class Edge:
    http: httpx.AsyncClient
    log: Path


@pytest.fixture(scope="module")
def exported_to_jaeger(jaeger: Jaeger) -> Iterator[None]:
    """This process's spans go to Jaeger over OTLP from here on (before any store opens,
    so the SQL, Redis and Cassandra clients are instrumented)."""
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://{jaeger.otlp_grpc_endpoint}", insecure=True),
        schedule_delay_millis=EXPORT_DELAY_MILLIS,
    )
    setup_tracing("observability").add_span_processor(processor)
    try:
        yield
    finally:
        # Later tests export nowhere: a stopped Jaeger must not hold up the run.
        processor.shutdown()


@pytest.fixture(scope="module")
def real_backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    keyspace: str = request.getfixturevalue("cassandra_keyspace")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    backends = Backends(
        "real",
        mariadb_url=request.getfixturevalue("mariadb_url"),
        cassandra_contact=contact,
        catalog_keyspace=keyspace,
        history_keyspace=f"{keyspace}_tracehistory",
        recommendations_keyspace=f"{keyspace}_tracerecs",
    )
    yield backends
    drop_keyspace(contact, backends.history_keyspace)
    drop_keyspace(contact, backends.recommendations_keyspace)


@pytest.fixture(scope="module")
async def edge(
    exported_to_jaeger: None,
    jaeger: Jaeger,
    real_backends: Backends,
    mesh_storage: StorageFactory,
) -> AsyncIterator[Edge]:
    """The home screen's services on the real backends behind Envoy; an HTTP client
    of the edge and its log."""
    storage = mesh_storage("trace-mesh", real_backends)
    state: Path = storage.state
    async with (
        start_mesh(
            users_config(storage),
            catalog_config(storage),
            history_config(storage),
            recommendations_config(storage),
            browse_config(row_timeout_seconds=ROW_TIMEOUT_SECONDS),
        ) as servers,
        edge_in_front(
            servers.addresses, state, otlp_collector=jaeger.otlp_grpc_endpoint
        ) as edge_port,
        httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{edge_port}", timeout=15) as http,
    ):
        yield Edge(http, state / "envoy.log")


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _signed_in_profile(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"trace.{uuid.uuid4().hex[:10]}@example.com"
    account = _ok(
        await http.post(
            "/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "countryCode": "US",
                "languageCode": "en",
            },
        )
    )
    session = _ok(await http.post("/v1/sessions", json={"email": email, "password": PASSWORD}))
    auth = {"authorization": f"Bearer {session['accessToken']}"}
    profiles = _ok(await http.get(f"/v1/accounts/{account['accountId']}/profiles", headers=auth))
    return profiles["profiles"][0]["profileId"], auth


def _edge_tree(trace: dict[str, Any]) -> list[tuple[int, trace_view.Span]]:
    """(depth, span) of the tree under the edge's span, the device's request."""
    edge_roots = [root for root in trace_view.spans_of(trace) if root.service == EDGE_SERVICE]
    return trace_view.walk(edge_roots[:1])


def _complete(jaeger: Jaeger, trace_id: str) -> dict[str, Any] | None:
    """The trace once the edge's span has every hop and a store's span below it
    (spans arrive in batches: one whose parent has not arrived is a root for now)."""
    try:
        trace = trace_view.fetch(jaeger.url, trace_id)
    except trace_view.TraceUnavailable:
        return None
    tree = _edge_tree(trace)
    names = {span.name for _, span in tree}
    if not set(HOPS) <= names or not _stores(trace, {span.span_id for _, span in tree}):
        return None
    return trace


def _stores(trace: dict[str, Any], span_ids: set[str]) -> set[str]:
    """The db.system of the client spans among ``span_ids``."""
    systems = set()
    for span in trace["spans"]:
        if span["spanID"] not in span_ids:
            continue
        for tag in span.get("tags", []):
            if tag["key"] == "db.system":
                systems.add(str(tag["value"]))
    return systems


async def _traced_home(http: httpx.AsyncClient, profile_id: str, auth: dict[str, str]) -> str:
    """One answered GetHome under a trace id of the test's; returns the id. The edge's
    504 (its upstream deadline, on a machine loaded by other suites) is tried again,
    under a new trace, at most HOME_ATTEMPTS times."""
    for attempt in range(1, HOME_ATTEMPTS + 1):
        trace_id = secrets.token_hex(16)
        headers = {**auth, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        response = await http.get(f"/v1/profiles/{profile_id}/home", headers=headers)
        if response.status_code != 504 or attempt == HOME_ATTEMPTS:
            _ok(response)
            return trace_id
    raise AssertionError("unreachable")


async def test_one_gethome_opens_as_one_trace_from_the_edge_to_the_stores(
    edge: Edge, jaeger: Jaeger, capsys: pytest.CaptureFixture[str]
) -> None:
    profile_id, auth = await _signed_in_profile(edge.http)
    # What `streammesh up` runs on the edge's log; every request counts as slow here.
    slow = SlowRequestWatch(edge.log, threshold_ms=0)
    trace_id = await _traced_home(edge.http, profile_id, auth)
    # Envoy's access log names the request's trace: the id `streammesh up` prints.
    # (Envoy flushes it every second: the sign-up's lines may come first.)
    last = wait_for(
        lambda: next((r for r in [slow.poll()] if r is not None and r.trace_id == trace_id), None),
        "the GetHome line in the edge's access log",
        FIXTURE_WAIT_SECONDS,
    )
    assert last.path == f"/v1/profiles/{profile_id}/home"

    trace = wait_for(
        lambda: _complete(jaeger, trace_id),
        "the GetHome trace with the edge, browse, users, catalog and a store",
        FIXTURE_WAIT_SECONDS,
    )
    # One tree: the device's own span id is the parent Jaeger lacks, so the
    # edge's span is a root and every hop hangs below it.
    tree = _edge_tree(trace)
    assert tree[0][1].service == EDGE_SERVICE
    depth = {span.name: d for d, span in tree}
    for hop in HOPS:
        assert depth[hop] >= 1, hop
    assert depth[HOPS[1]] > depth[HOPS[0]]  # users is called by browse
    # (No assertion on errors: on a loaded machine browse may answer with a row
    # past its budget dropped, and marks its span so; the tree is what is tested.)
    stores = _stores(trace, {span.span_id for _, span in tree})
    assert stores & {"redis", "mysql", "cassandra"}, stores

    # What a person runs to open it: the same tree, in the terminal.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "220")
        code = cli.main(["trace", trace_id, "--jaeger", jaeger.url])
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.index(EDGE_SERVICE) < text.index(HOPS[0]) < text.index(HOPS[1])
    with capsys.disabled():  # shown with -s: the capture the README quotes
        print(f"\n{text}GetHome trace {trace_id}: {len(trace['spans'])} spans, stores {stores}")
