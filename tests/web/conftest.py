"""The device web app in a real browser: Debian's Chromium, driven by
Playwright, against the whole mesh behind the real Envoy, which serves the
app (web/dist) and the API on one port.

The mesh runs on the embedded backends (the app's behaviour does not depend
on them; tests/e2e covers both): users with its saga orchestrator (profile
settings and account deletion), catalog with artwork through the media
origin, history requiring stream slots as a deployment does, search,
recommendations, browse and analytics (a participant of account deletion).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    StorageState,
    ViewportSize,
    async_playwright,
    expect,
)

from services.catalog import media_origin
from services.runtime.object_store import ObjectStoreSettings
from services.users.sagas.config import SagaConfig
from services.users.sagas.process import orchestrator_for
from tests.analytics.service.conftest import analytics_config, analytics_server
from tests.e2e.conftest import BROWSE_ROW_TIMEOUT_SECONDS, TRENDING_CACHE_TTL_SECONDS
from tests.mesh import (
    LOOPBACK,
    StorageFactory,
    browse_config,
    catalog_config,
    edge_in_front,
    history_config,
    recommendations_config,
    search_config,
    start_mesh,
    unused_port,
    users_config,
)

# Debian's chromium package (`make tools` installs it: mk/web.mk). Playwright's
# own browser download cannot work here, so its executable is named.
CHROMIUM = os.environ.get("STREAMMESH_CHROMIUM", "/usr/bin/chromium")
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
TV: ViewportSize = {"width": 1920, "height": 1080}
# Bound on each wait for the page (a failure, not a timing claim).
PAGE_TIMEOUT_MS = 15_000
# The edge's per-request timeout here (a deployment's: 5 s reads, 10 s writes).
EDGE_TIMEOUT_SECONDS = 20.0
# The orchestrator's settings here: quick retries and polls, no metrics port.
SAGAS = SagaConfig(
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.5,
    poll_interval_seconds=0.05,
    orchestrator_metrics_port=0,
)
# Services the sagas call, found by the orchestrator's channels through their env.
SAGA_PARTICIPANTS = ("recommendations", "search", "history")
# Where the README's screenshots go when `make web-screenshots` asks for them.
SCREENSHOTS_ENV = "STREAMMESH_WEB_SCREENSHOTS"

expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass
class WebMesh:
    base_url: str


@pytest.fixture(scope="module")
async def web_mesh(mesh_storage: StorageFactory) -> AsyncIterator[WebMesh]:
    storage = mesh_storage("web")
    edge_port = unused_port()
    origin_port = unused_port()
    catalog = catalog_config(
        storage,
        objects=ObjectStoreSettings(root=storage.state / "objects"),
        media_base=f"http://{LOOPBACK}:{edge_port}/media",
    )
    users = users_config(storage, profile_update_sagas=True)
    async with (
        analytics_server(analytics_config(storage)) as (_, analytics_address),
        start_mesh(
            users,
            catalog,
            history_config(
                storage,
                require_stream_slot=True,
                trending_cache_ttl_seconds=TRENDING_CACHE_TTL_SECONDS,
            ),
            search_config(storage),
            recommendations_config(storage),
            browse_config(row_timeout_seconds=BROWSE_ROW_TIMEOUT_SECONDS),
        ) as servers,
        media_origin.running(catalog, LOOPBACK, origin_port),
    ):
        addresses = {name: servers.address(name) for name in SAGA_PARTICIPANTS}
        addresses["analytics"] = analytics_address
        with pytest.MonkeyPatch.context() as patch:
            for name, address in addresses.items():
                patch.setenv(f"STREAMMESH_{name.upper()}_ADDR", address)
            async with orchestrator_for(
                users, replace(SAGAS, objects=ObjectStoreSettings(root=storage.state / "objects"))
            ) as (orchestrator, _):
                stop = asyncio.Event()
                sagas = asyncio.create_task(orchestrator.run(stop))
                try:
                    async with _edge(
                        storage.state, edge_port, servers.addresses, origin_port
                    ) as base_url:
                        yield WebMesh(base_url)
                finally:
                    stop.set()
                    await sagas


@asynccontextmanager
async def _edge(
    state: Path, edge_port: int, upstreams: dict[str, str], origin_port: int
) -> AsyncIterator[str]:
    """The real Envoy in front of the mesh, serving the app (web/dist) too."""
    async with edge_in_front(
        upstreams,
        state,
        port=edge_port,
        media_upstream=f"{LOOPBACK}:{origin_port}",
        otlp_collector=None,
        # These tests are about what the app shows, not the edge's latency: a
        # loaded test machine must not turn a slow reply into an error page.
        read_timeout_seconds=EDGE_TIMEOUT_SECONDS,
        write_timeout_seconds=EDGE_TIMEOUT_SECONDS,
    ) as port:
        yield f"http://{LOOPBACK}:{port}"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no {CHROMIUM}: `make tools` installs Debian's chromium", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            # As root (this machine, CI containers) Chromium's sandbox cannot start.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        await launched.close()


async def new_page(
    browser: Browser,
    web_mesh: WebMesh,
    viewport: ViewportSize = DESKTOP,
    storage_state: StorageState | None = None,
) -> tuple[BrowserContext, Page]:
    """A page in a context of its own; ``storage_state`` signs it in as another page was."""
    context = await browser.new_context(
        base_url=web_mesh.base_url,
        viewport=viewport,
        reduced_motion="reduce",
        # axe-core is injected as an inline script, which the app's CSP refuses.
        bypass_csp=True,
        storage_state=storage_state,
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context, await context.new_page()


@pytest.fixture
async def page(browser: Browser, web_mesh: WebMesh) -> AsyncIterator[Page]:
    context, opened = await new_page(browser, web_mesh)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshots_dir(tmp_path: Path) -> Path:
    """docs/screenshots when `make web-screenshots` runs the tests, else a temporary folder."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    return Path(chosen) if chosen else tmp_path
