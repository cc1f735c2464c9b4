"""The orchestrator process exposes the saga metrics the alert rules read, by
these exact names, on its /metrics; `streammesh up --observability` scrapes it."""

from __future__ import annotations

import asyncio
import urllib.request

from devtools.observability import prometheus_config
from streammesh.users.v1 import users_pb2
from tests.mesh import unused_port, wait_until
from tests.sagas.conftest import SagaMesh, orchestrator_process

NAMES = (
    'streammesh_sagas_started_total{saga="profile_update"}',
    'streammesh_sagas_completed_total{saga="profile_update"}',
    'streammesh_sagas_compensated_total{saga="account_deletion"}',
    'streammesh_sagas_stuck{saga="profile_update"}',
    'streammesh_sagas_compensating{saga="account_deletion"}',
)


def test_prometheus_scrapes_the_orchestrator() -> None:
    jobs = {job.name: job for job in prometheus_config.mesh_jobs()}
    assert jobs["sagas-orchestrator"].targets == ("127.0.0.1:9109",)


async def test_the_orchestrator_process_serves_the_saga_metrics(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    updated = await mesh.update_settings(account, account.primary_profile_id, language_code="de")
    assert updated.settings_change.state == users_pb2.SAGA_STATE_RUNNING
    port = unused_port()
    config = mesh.saga_config(orchestrator_metrics_port=port)
    text = ""

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            return str(page.read().decode())

    async def exposed() -> bool:
        nonlocal text
        try:
            text = await asyncio.to_thread(scrape)
        except OSError:
            return False
        started = [
            line
            for line in text.splitlines()
            if line.startswith('streammesh_sagas_started_total{saga="profile_update"}')
        ]
        return bool(started) and float(started[0].split()[-1]) >= 1

    with orchestrator_process(mesh, config) as process:
        try:
            await wait_until(exposed, "the orchestrator's /metrics to count the saga")
        except AssertionError as failure:
            raise AssertionError(
                f"{failure}; alive={process.is_alive()}; /metrics: {text}"
            ) from failure
    for name in NAMES:
        assert name in text, name
