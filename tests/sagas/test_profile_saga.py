"""The profile-update saga: a settings change reaches recommendations and search, a
lowered limit holds everywhere from the start, a failing or hanging participant
is compensated everywhere, and two updates of one profile end consistent."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from services import ratings
from services.recommendations.stores import open_store as open_recommendations
from services.runtime.errors import Unavailable
from services.runtime.sagas import ProfileSettings
from services.search.stores import open_index
from streammesh.recommendations.v1 import recommendations_pb2 as rpb
from streammesh.search.v1 import search_pb2
from streammesh.users.v1 import users_pb2
from tests.mesh import recommendations_config, search_config
from tests.sagas.conftest import FAULT_TEST_OVERRIDES, SagaMesh, fake_search, finished
from tests.users.helpers import rpc_error

# A store port answers Unavailable when its driver times out (a loaded CI
# machine's Cassandra did), and a caller retries that: this many tries.
COPY_READ_TRIES = 3
COPY_READ_PAUSE_SECONDS = 1.0


async def copies(mesh: SagaMesh, profile_id: str) -> tuple[ProfileSettings | None, ...]:
    """The profile's settings copy in recommendations and in search, read through each
    service's own store port."""
    for attempt in range(1, COPY_READ_TRIES + 1):
        try:
            return await _read_copies(mesh, profile_id)
        except Unavailable:
            if attempt == COPY_READ_TRIES:
                raise
            await asyncio.sleep(COPY_READ_PAUSE_SECONDS)
    raise AssertionError("unreachable: the last try returns or raises")


async def _read_copies(mesh: SagaMesh, profile_id: str) -> tuple[ProfileSettings | None, ...]:
    recs = await open_recommendations(recommendations_config(mesh.storage), migrate=False)
    try:
        index = await open_index(search_config(mesh.storage))
        try:
            return (
                await recs.profile_settings(profile_id),
                await index.profile_settings(profile_id),
            )
        finally:
            await index.close()
    finally:
        await recs.close()


async def test_saga_commands_from_a_device_or_with_a_bad_key_are_refused(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    command = rpb.ApplyProfileSettingsRequest(
        saga_id="s-1",
        step="recommendations.apply_settings",
        profile_id=account.primary_profile_id,
        settings=rpb.ProfileSettings(maturity_rating="TV-MA"),
    )
    # A device's own token is not the orchestrator's.
    refused = await rpc_error(mesh.recs.ApplyProfileSettings(command, metadata=account.caller))
    assert (refused.code, refused.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_ORCHESTRATOR")
    bad = search_pb2.ApplyProfileSettingsRequest(saga_id="no spaces", step="Search", profile_id="1")
    refused = await rpc_error(mesh.search.ApplyProfileSettings(bad))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await copies(mesh, account.primary_profile_id) == (None, None)


async def test_a_lowered_limit_holds_everywhere_while_the_saga_runs(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    kids = await mesh.add_profile(account, kids=True)
    updated = await mesh.update_settings(account, kids, maturity_rating="TV-Y7")
    assert updated.settings_change.state == users_pb2.SAGA_STATE_RUNNING
    assert updated.settings_change.previous_maturity_rating == ratings.KIDS_LIMIT
    saga_id = updated.settings_change.saga_id

    seen: list[set[str]] = []

    async def shown() -> None:
        # A read the loaded machine answers UNAVAILABLE showed nothing: it
        # cannot break the limit, so it is not a failure here.
        for read in (mesh.searched_ratings, mesh.recommended_ratings):
            try:
                seen.append(await read(account, kids))
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise

    # Before the orchestrator sent any command, and all the while it works.
    await shown()
    async with mesh.orchestrator() as (orchestrator, sagas):
        driving = asyncio.create_task(orchestrator.run_until_idle(within_seconds=60))
        while not driving.done():
            await shown()
            await asyncio.sleep(0.05)
        await driving
        saga = await finished(sagas, saga_id)
    await shown()
    assert saga.state == "COMPLETED", saga.last_error
    assert all(ratings.allows("TV-Y7", rating) for shown_ in seen for rating in shown_), seen
    profile = await mesh.profile(account, kids)
    assert profile.maturity_rating == "TV-Y7"
    assert profile.settings_change.state == users_pb2.SAGA_STATE_COMPLETED
    assert await copies(mesh, kids) == (ProfileSettings("TV-Y7", True, ""),) * 2


@pytest.mark.parametrize("fault", ["fail", "hang"])
async def test_a_participant_that_fails_or_hangs_is_compensated_everywhere(
    mesh: SagaMesh, fault: str
) -> None:
    account = await mesh.signup()
    profile_id = account.primary_profile_id
    before = await mesh.profile(account, profile_id)
    updated = await mesh.update_settings(
        account, profile_id, maturity_rating="TV-MA", language_code="fr"
    )
    saga_id = updated.settings_change.saga_id
    async with (
        fake_search(fault) as (search, address),
        mesh.orchestrator(mesh.saga_config(**FAULT_TEST_OVERRIDES), search=address) as (
            orchestrator,
            sagas,
        ),
    ):
        await orchestrator.run_until_idle(within_seconds=60)
        saga = await finished(sagas, saga_id)
        history = [(h.step, h.action) for h in await sagas.history(saga_id)]
    assert saga.state == "COMPENSATED"
    # Bounded: max_attempts attempts (each with the channel's own retries of
    # an idempotent call), then the saga turned round.
    attempts = FAULT_TEST_OVERRIDES["max_attempts"]
    assert search.calls >= attempts
    step = "search.apply_settings"
    assert history.count((step, "step-failed")) == attempts - 1
    assert history.count((step, "compensating")) == 1
    assert ("recommendations.apply_settings:compensate", "step-compensated") in history
    after = await mesh.profile(account, profile_id)
    assert (after.maturity_rating, after.kids_profile, after.language_code) == (
        before.maturity_rating,
        before.kids_profile,
        before.language_code,
    )
    change = after.settings_change
    assert change.state == users_pb2.SAGA_STATE_COMPENSATED
    assert "search.apply_settings" in change.error.message
    # Recommendations applied the change and took it back; search never had it.
    recs_copy, search_copy = await copies(mesh, profile_id)
    assert recs_copy == ProfileSettings(before.maturity_rating, before.kids_profile, "")
    assert search_copy is None


async def test_two_concurrent_updates_of_one_profile_end_consistent(mesh: SagaMesh) -> None:
    account = await mesh.signup()
    profile_id = account.primary_profile_id
    answers = await asyncio.gather(
        mesh.update_settings(account, profile_id, maturity_rating="R"),
        mesh.update_settings(account, profile_id, maturity_rating="PG"),
        return_exceptions=True,
    )
    won = [a for a in answers if isinstance(a, users_pb2.Profile)]
    lost = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert len(won) == 1, answers
    assert len(lost) == 1, answers
    refused = await rpc_error(_raise(lost[0]))
    assert (refused.code, refused.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROFILE_SAGA_IN_PROGRESS",
    )
    winner = won[0].maturity_rating
    async with mesh.orchestrator() as (orchestrator, sagas):
        await orchestrator.run_until_idle(within_seconds=60)
        saga = await finished(sagas, won[0].settings_change.saga_id)
    assert saga.state == "COMPLETED"
    assert (await mesh.profile(account, profile_id)).maturity_rating == winner
    assert await copies(mesh, profile_id) == (ProfileSettings(winner, False, ""),) * 2
    # Once it is over, the next change starts.
    again = await mesh.update_settings(account, profile_id, maturity_rating="PG-13")
    assert again.settings_change.state == users_pb2.SAGA_STATE_RUNNING


async def _raise(error: BaseException) -> None:
    raise error
