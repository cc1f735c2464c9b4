"""SIGKILL the orchestrator process at every step of both sagas, before the step's
command and after it took effect (before its transition is committed); the next
process resumes each saga, which finishes, and no step takes effect twice: a
command repeated after a crash is answered as a replay by its participant."""

from __future__ import annotations

import asyncio
import signal
from typing import Final

import sqlalchemy as sa

from services import ratings
from services.users.models import OutboxRow
from services.users.sagas.definitions import ACCOUNT_DELETION, PROFILE_UPDATE, SagaType
from services.users.stores.sql import create_engine
from streammesh.users.v1 import users_pb2
from tests.sagas.conftest import (
    CALL_SECONDS,
    TITLES,
    SagaMesh,
    finished,
    orchestrator_process,
    running_analytics,
)

# A crashed process is gone within this (a failure, not a timing claim).
CRASH_WAIT_SECONDS: Final = 120.0
# These tests are about crashes, not slow participants: a loaded machine's slow
# answer must not turn a saga round before it reaches the next crash point.
PATIENT: Final = {"step_timeout_seconds": 15.0, "max_attempts": 20}
# Steps made in the starting transaction never meet the orchestrator.
REMOTE_AND_LOCAL: Final = {
    saga.name: [step.name for step in saga.steps[saga.done_at_start :]]
    for saga in (PROFILE_UPDATE, ACCOUNT_DELETION)
}
# Local steps whose repeat finds nothing left to do (their own way to say "replayed").
NOTHING_LEFT: Final = {
    "users.revoke_sessions": "0 sessions revoked",
    "objects.delete_uploads": "0 objects deleted",
    "users.delete_account": "account was already deleted (replayed)",
}


async def crash_at_every_step(mesh: SagaMesh, saga: SagaType, **addresses: str) -> None:
    """One process per crash point, in step order: each resumes the saga where the
    previous one died and dies at the next point."""
    for step in REMOTE_AND_LOCAL[saga.name]:
        for where in ("before", "after"):
            config = mesh.saga_config(crash_at=f"{saga.name}:{step}:{where}", **PATIENT)
            with orchestrator_process(mesh, config, **addresses) as process:
                await asyncio.to_thread(process.join, CRASH_WAIT_SECONDS)
                assert process.exitcode == -signal.SIGKILL, (step, where, process.exitcode)


def assert_each_step_took_effect_once(history: list[tuple[str, str, str]], saga: SagaType) -> None:
    for step in REMOTE_AND_LOCAL[saga.name]:
        done = [
            detail for name, action, detail in history if name == step and action == "step-done"
        ]
        if step == "users.confirm":
            continue  # the pivot commits COMPLETED itself
        assert len(done) == 1, (step, history)
        # The process that died "after" had applied it: the next one's command was a replay.
        assert "replayed" in done[0] or done[0] == NOTHING_LEFT.get(step), (step, done)


async def test_sigkill_at_every_step_of_the_profile_update(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    updated = await mesh.update_settings(account, account.primary_profile_id, maturity_rating="R")
    await crash_at_every_step(mesh, PROFILE_UPDATE)
    async with mesh.orchestrator(mesh.saga_config(**PATIENT)) as (orchestrator, sagas):
        await orchestrator.run_until_idle(within_seconds=60)
        saga = await finished(sagas, updated.settings_change.saga_id)
        history = [(h.step, h.action, h.detail) for h in await sagas.history(saga.saga_id)]
    assert saga.state == "COMPLETED", history
    assert_each_step_took_effect_once(history, PROFILE_UPDATE)
    profile = await mesh.profile(account, account.primary_profile_id)
    assert profile.settings_change.state == users_pb2.SAGA_STATE_COMPLETED


async def test_sigkill_at_every_step_of_the_account_deletion(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    await mesh.watch(
        account,
        account.primary_profile_id,
        next(t for t in sorted(TITLES) if ratings.allows("PG", TITLES[t].maturity_rating)),
    )
    config = mesh.saga_config(**PATIENT)
    async with running_analytics(mesh) as (_, analytics_address):
        operation = await mesh.users.DeleteAccount(
            users_pb2.DeleteAccountRequest(account_id=account.account_id),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )
        saga_id = operation.name.removeprefix("operations/")
        await crash_at_every_step(mesh, ACCOUNT_DELETION, analytics=analytics_address)
        async with mesh.orchestrator(config, analytics=analytics_address) as (orchestrator, sagas):
            await orchestrator.run_until_idle(within_seconds=60)
            saga = await finished(sagas, saga_id)
            history = [(h.step, h.action, h.detail) for h in await sagas.history(saga_id)]
    assert saga.state == "COMPLETED", history
    assert_each_step_took_effect_once(history, ACCOUNT_DELETION)
    # The account's deletion event was written once, by the one delete that happened.
    engine = create_engine(mesh.users_config.database_url)
    outbox = OutboxRow.__table__
    try:
        async with engine.connect() as connection:
            written = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(
                    outbox.c.event_type == "user.account.deleted",
                    outbox.c.aggregate_id == account.account_id,
                )
            )
    finally:
        await engine.dispose()
    assert written == 1
