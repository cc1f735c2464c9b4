"""Device sessions, refresh rotation, revocation and stream slots, straight at the
users service port (the same through Envoy: tests/e2e/test_sessions.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from redis.asyncio import Redis

from services.users.sessions import SessionStore
from services.users.streams import Refused, StreamSlots
from streammesh.users.v1 import users_pb2
from tests.events.conftest import PrivateRedis
from tests.mesh import unused_port
from tests.users.conftest import PASSWORD, RunningUsers, StartUsers, unique_email
from tests.users.helpers import rpc_error

# Short bounds, so the tests wait fractions of a second for what a deployment
# waits seconds for (services/users/config.py has the deployed values).
BOUND_SECONDS = 0.3
SLOT_TTL_SECONDS = 2
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def users(start_users: StartUsers) -> RunningUsers:
    running: RunningUsers = await start_users(
        revocation_bound_seconds=BOUND_SECONDS, stream_slot_ttl_seconds=SLOT_TTL_SECONDS
    )
    return running


async def new_account(users: RunningUsers) -> tuple[str, str]:
    email = unique_email("sessions")
    account, _ = await users.signup(email)
    return account.account_id, email


async def login(
    users: RunningUsers,
    email: str,
    name: str = "",
    kind: users_pb2.DeviceType = users_pb2.DEVICE_TYPE_UNSPECIFIED,
) -> users_pb2.LoginResponse:
    return await users.stub.Login(
        users_pb2.LoginRequest(email=email, password=PASSWORD, device_type=kind, device_name=name)
    )


async def profile_of(users: RunningUsers, account_id: str, md: Metadata) -> str:
    listed = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account_id), metadata=md
    )
    return listed.profiles[0].profile_id


async def get_account(users: RunningUsers, account_id: str, token: str) -> object:
    return await users.stub.GetAccount(
        users_pb2.GetAccountRequest(account_id=account_id), metadata=bearer(token)
    )


async def signed_out_within_bound(users: RunningUsers, account_id: str, token: str) -> None:
    """The token is refused once the revocation bound has passed (it may be refused sooner)."""
    await asyncio.sleep(BOUND_SECONDS + 0.05)
    failure = await rpc_error(get_account(users, account_id, token))
    assert (failure.code, failure.reason) == (grpc.StatusCode.UNAUTHENTICATED, "SESSION_REVOKED")


# ------------------------------------------------------------ bad input


async def test_a_refresh_token_that_is_not_one_is_refused_without_signing_anyone_out(
    users: RunningUsers,
) -> None:
    empty = await rpc_error(users.stub.RefreshSession(users_pb2.RefreshSessionRequest()))
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT
    account_id, email = await new_account(users)
    signed = await login(users, email)
    # Right session id, forged MAC and a past generation: refused, and the
    # session lives on (guessing must not sign a device out).
    forged = f"{signed.session_id}.0.AAAA"
    for token in ("garbage", "a.b.c", forged, signed.refresh_token + "x"):
        failure = await rpc_error(
            users.stub.RefreshSession(users_pb2.RefreshSessionRequest(refresh_token=token))
        )
        assert (failure.code, failure.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "REFRESH_TOKEN_INVALID",
        ), token
    assert await get_account(users, account_id, signed.access_token)
    renewed = await users.stub.RefreshSession(
        users_pb2.RefreshSessionRequest(refresh_token=signed.refresh_token)
    )
    assert renewed.session_id == signed.session_id


async def test_a_session_is_listed_renamed_and_only_by_its_owner(users: RunningUsers) -> None:
    account_id, email = await new_account(users)
    tv = await login(users, email, "Living room TV", users_pb2.DEVICE_TYPE_TV)
    phone = await login(users, email, "", users_pb2.DEVICE_TYPE_MOBILE)
    listed = await users.stub.ListSessions(
        users_pb2.ListSessionsRequest(account_id=account_id), metadata=bearer(phone.access_token)
    )
    by_id = {s.session_id: s for s in listed.sessions}
    assert by_id[tv.session_id].device_name == "Living room TV"
    assert by_id[tv.session_id].device_type == users_pb2.DEVICE_TYPE_TV
    assert by_id[phone.session_id].device_name == "Mobile"
    assert by_id[phone.session_id].current
    assert not by_id[tv.session_id].current
    assert listed.sessions[0].session_id == phone.session_id  # newest first
    bad = await rpc_error(
        users.stub.UpdateSession(
            users_pb2.UpdateSessionRequest(
                account_id=account_id,
                session=users_pb2.Session(session_id=tv.session_id, device_name="x"),
                update_mask={"paths": ["device_type"]},
            ),
            metadata=bearer(phone.access_token),
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    renamed = await users.stub.UpdateSession(
        users_pb2.UpdateSessionRequest(
            account_id=account_id,
            session=users_pb2.Session(session_id=tv.session_id, device_name="  Bedroom   TV "),
        ),
        metadata=bearer(phone.access_token),
    )
    assert renamed.device_name == "Bedroom TV"
    missing = await rpc_error(
        users.stub.DeleteSession(
            users_pb2.DeleteSessionRequest(account_id=account_id, session_id="nosuchsession"),
            metadata=bearer(phone.access_token),
        )
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND


# ------------------------------------------------------------ revocation


async def test_revoking_a_session_stops_its_refresh_at_once_and_its_tokens_within_the_bound(
    users: RunningUsers,
) -> None:
    account_id, email = await new_account(users)
    lost_phone = await login(users, email, "Lost phone")
    laptop = await login(users, email, "Laptop")
    assert await get_account(users, account_id, lost_phone.access_token)
    await users.stub.DeleteSession(
        users_pb2.DeleteSessionRequest(account_id=account_id, session_id=lost_phone.session_id),
        metadata=bearer(laptop.access_token),
    )
    refresh = await rpc_error(
        users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=lost_phone.refresh_token)
        )
    )
    assert refresh.code == grpc.StatusCode.UNAUTHENTICATED
    await signed_out_within_bound(users, account_id, lost_phone.access_token)
    assert await get_account(users, account_id, laptop.access_token)


async def test_sign_out_everywhere_revokes_every_session_and_frees_every_stream(
    users: RunningUsers,
) -> None:
    account_id, email = await new_account(users)
    devices = [await login(users, email, f"device {n}") for n in range(3)]
    profile_id = await profile_of(users, account_id, bearer(devices[0].access_token))
    await users.stub.StartPlayback(
        users_pb2.StartPlaybackRequest(profile_id=profile_id),
        metadata=bearer(devices[0].access_token),
    )
    revoked = await users.stub.RevokeAllSessions(
        users_pb2.RevokeAllSessionsRequest(account_id=account_id),
        metadata=bearer(devices[1].access_token),
    )
    # The three logins and the one signup() made.
    assert revoked.revoked_count == 4
    for device in devices:
        failure = await rpc_error(
            users.stub.RefreshSession(
                users_pb2.RefreshSessionRequest(refresh_token=device.refresh_token)
            )
        )
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    await asyncio.sleep(BOUND_SECONDS + 0.05)
    for device in devices:
        failure = await rpc_error(get_account(users, account_id, device.access_token))
        assert failure.reason == "SESSION_REVOKED"
    # A new sign-in may stream at once: the old slot went with its session.
    fresh = await login(users, email)
    await users.stub.StartPlayback(
        users_pb2.StartPlaybackRequest(profile_id=profile_id), metadata=bearer(fresh.access_token)
    )


async def test_reusing_a_rotated_refresh_token_revokes_the_session(users: RunningUsers) -> None:
    account_id, email = await new_account(users)
    first = await login(users, email)
    second = await users.stub.RefreshSession(
        users_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
    )
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    assert await get_account(users, account_id, second.access_token)
    reused = await rpc_error(
        users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
        )
    )
    assert (reused.code, reused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    # The thief's copy and the device's current token are both dead now.
    current = await rpc_error(
        users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=second.refresh_token)
        )
    )
    assert current.code == grpc.StatusCode.UNAUTHENTICATED
    await signed_out_within_bound(users, account_id, second.access_token)
    await signed_out_within_bound(users, account_id, first.access_token)


async def test_of_concurrent_refreshes_with_one_token_exactly_one_rotates(
    users: RunningUsers,
) -> None:
    _, email = await new_account(users)
    signed = await login(users, email)
    request = users_pb2.RefreshSessionRequest(refresh_token=signed.refresh_token)
    results = await asyncio.gather(
        *(users.stub.RefreshSession(request) for _ in range(8)), return_exceptions=True
    )
    [winner] = [r for r in results if isinstance(r, users_pb2.RefreshSessionResponse)]
    # The others presented a token already rotated: reuse (UNAUTHENTICATED), or,
    # on a loaded machine, a Redis call past its timeout (UNAVAILABLE, fail closed).
    codes = {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)}
    assert grpc.StatusCode.UNAUTHENTICATED in codes
    assert codes <= {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE}
    # Reuse revoked the session: the winner's new token is dead too.
    after = await rpc_error(
        users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=winner.refresh_token)
        )
    )
    assert after.code == grpc.StatusCode.UNAUTHENTICATED


# ------------------------------------------------------------ stream slots


async def test_a_third_stream_on_a_two_stream_plan_names_the_limit_and_the_devices(
    users: RunningUsers,
) -> None:
    account_id, email = await new_account(users)
    tv = await login(users, email, "Living room TV", users_pb2.DEVICE_TYPE_TV)
    phone = await login(users, email, "Ada's phone", users_pb2.DEVICE_TYPE_MOBILE)
    laptop = await login(users, email, "Laptop", users_pb2.DEVICE_TYPE_WEB)
    profile_id = await profile_of(users, account_id, bearer(tv.access_token))
    basic = await users.stub.GetSubscription(
        users_pb2.GetSubscriptionRequest(account_id=account_id), metadata=bearer(tv.access_token)
    )
    assert (basic.plan_id, basic.max_streams) == ("basic", 1)
    await users.stub.ChangePlan(
        users_pb2.ChangePlanRequest(account_id=account_id, plan_id="standard"),
        metadata=bearer(tv.access_token),
    )
    start = users_pb2.StartPlaybackRequest(profile_id=profile_id)
    first = await users.stub.StartPlayback(start, metadata=bearer(tv.access_token))
    assert first.max_streams == 2
    assert first.device_name == "Living room TV"
    second = await users.stub.StartPlayback(start, metadata=bearer(phone.access_token))
    refused = await rpc_error(users.stub.StartPlayback(start, metadata=bearer(laptop.access_token)))
    assert (refused.code, refused.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "STREAM_LIMIT_REACHED",
    )
    assert "allows 2 streams" in refused.message
    assert "Living room TV" in refused.message
    assert "Ada's phone" in refused.message
    # Stopping one admits the next; stopping twice is fine.
    stop = users_pb2.StopPlaybackRequest(playback_id=second.playback_id)
    await users.stub.StopPlayback(stop, metadata=bearer(phone.access_token))
    await users.stub.StopPlayback(stop, metadata=bearer(phone.access_token))
    third = await users.stub.StartPlayback(start, metadata=bearer(laptop.access_token))
    # Heartbeats keep a slot; one that lapses is freed and cannot be beaten back.
    deadline = time.monotonic() + 2 * SLOT_TTL_SECONDS
    while time.monotonic() < deadline:
        await users.stub.HeartbeatPlayback(
            users_pb2.HeartbeatPlaybackRequest(playback_id=first.playback_id),
            metadata=bearer(tv.access_token),
        )
        await asyncio.sleep(SLOT_TTL_SECONDS / 4)
    await asyncio.sleep(SLOT_TTL_SECONDS + 0.1)  # the laptop's slot lapses
    lapsed = await rpc_error(
        users.stub.HeartbeatPlayback(
            users_pb2.HeartbeatPlaybackRequest(playback_id=third.playback_id),
            metadata=bearer(laptop.access_token),
        )
    )
    assert (lapsed.code, lapsed.reason) == (grpc.StatusCode.NOT_FOUND, "PLAYBACK_NOT_FOUND")
    assert await users.stub.StartPlayback(start, metadata=bearer(phone.access_token))


async def test_another_accounts_playback_cannot_be_beaten_or_stopped(users: RunningUsers) -> None:
    owner_id, owner_email = await new_account(users)
    _, other_email = await new_account(users)
    owner = await login(users, owner_email)
    other = await login(users, other_email)
    profile_id = await profile_of(users, owner_id, bearer(owner.access_token))
    playing = await users.stub.StartPlayback(
        users_pb2.StartPlaybackRequest(profile_id=profile_id), metadata=bearer(owner.access_token)
    )
    foreign = await rpc_error(
        users.stub.StartPlayback(
            users_pb2.StartPlaybackRequest(profile_id=profile_id),
            metadata=bearer(other.access_token),
        )
    )
    assert foreign.code == grpc.StatusCode.PERMISSION_DENIED
    beat = await rpc_error(
        users.stub.HeartbeatPlayback(
            users_pb2.HeartbeatPlaybackRequest(playback_id=playing.playback_id),
            metadata=bearer(other.access_token),
        )
    )
    assert beat.code == grpc.StatusCode.NOT_FOUND
    await users.stub.StopPlayback(
        users_pb2.StopPlaybackRequest(playback_id=playing.playback_id),
        metadata=bearer(other.access_token),
    )
    # Still the owner's: a second stream on Basic is refused.
    refused = await rpc_error(
        users.stub.StartPlayback(
            users_pb2.StartPlaybackRequest(profile_id=profile_id),
            metadata=bearer(owner.access_token),
        )
    )
    assert refused.reason == "STREAM_LIMIT_REACHED"


async def test_fifty_concurrent_starts_on_a_two_stream_plan_admit_exactly_two(
    redis_url: str, redis_prefix: str
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        sessions = SessionStore(redis, prefix=f"{redis_prefix}slots:", refresh_ttl_seconds=60)
        slots = StreamSlots(
            redis,
            prefix=f"{redis_prefix}slots:",
            ttl_seconds=60,
            session_key_prefix=sessions.session_key(""),
        )
        issued = [await sessions.create(4242, 1, f"tv {n}") for n in range(50)]
        taken = await asyncio.gather(
            *(
                slots.start(4242, limit=2, profile_id="1", session_id=i.session_id, title_id="t")
                for i in issued
            )
        )
        admitted = [t for t in taken if not isinstance(t, Refused)]
        assert len(admitted) == 2
        assert len(await slots.live(4242)) == 2
        refusals = [t for t in taken if isinstance(t, Refused)]
        assert all(len(r.in_use) == 2 for r in refusals)
    finally:
        await redis.aclose()


async def test_the_plan_change_sets_the_limit_of_the_next_start(users: RunningUsers) -> None:
    account_id, email = await new_account(users)
    devices = [await login(users, email, f"screen {n}") for n in range(4)]
    md = bearer(devices[0].access_token)
    profile_id = await profile_of(users, account_id, md)
    start = users_pb2.StartPlaybackRequest(profile_id=profile_id)
    await users.stub.StartPlayback(start, metadata=bearer(devices[0].access_token))
    refused = await rpc_error(
        users.stub.StartPlayback(start, metadata=bearer(devices[1].access_token))
    )
    assert refused.reason == "STREAM_LIMIT_REACHED"
    premium = await users.stub.ChangePlan(
        users_pb2.ChangePlanRequest(account_id=account_id, plan_id="premium"), metadata=md
    )
    assert premium.max_streams == 4
    assert premium.max_quality == users_pb2.VIDEO_QUALITY_UHD
    for device in devices[1:]:
        await users.stub.StartPlayback(start, metadata=bearer(device.access_token))
    unknown = await rpc_error(
        users.stub.ChangePlan(
            users_pb2.ChangePlanRequest(account_id=account_id, plan_id="platinum"), metadata=md
        )
    )
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    history = await users.stub.ListBillingRecords(
        users_pb2.ListBillingRecordsRequest(account_id=account_id, page_size=1), metadata=md
    )
    assert [r.kind for r in history.billing_records] == [users_pb2.BILLING_RECORD_KIND_PLAN_CHANGED]
    assert history.billing_records[0].price.currency_code == "GBP"
    older = await users.stub.ListBillingRecords(
        users_pb2.ListBillingRecordsRequest(
            account_id=account_id, page_size=5, page_token=history.next_page_token
        ),
        metadata=md,
    )
    assert [r.kind for r in older.billing_records] == [users_pb2.BILLING_RECORD_KIND_STARTED]
    # A cancelled subscription streams nothing, and gets its plan back with ChangePlan.
    await users.stub.SetSubscriptionStatus(
        users_pb2.SetSubscriptionStatusRequest(
            account_id=account_id, status=users_pb2.SUBSCRIPTION_STATUS_CANCELLED
        ),
        metadata=md,
    )
    cancelled = await rpc_error(users.stub.StartPlayback(start, metadata=md))
    assert cancelled.reason == "SUBSCRIPTION_INACTIVE"


async def test_plans_are_listed_with_the_countrys_price(users: RunningUsers) -> None:
    bad = await rpc_error(users.stub.ListPlans(users_pb2.ListPlansRequest(country="gb")))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    gb = await users.stub.ListPlans(users_pb2.ListPlansRequest(country="GB"))
    assert [(p.plan_id, p.max_streams) for p in gb.plans] == [
        ("basic", 1),
        ("standard", 2),
        ("premium", 4),
    ]
    assert {p.monthly_price.currency_code for p in gb.plans} == {"GBP"}
    elsewhere = await users.stub.ListPlans(users_pb2.ListPlansRequest(country="NZ"))
    assert {p.monthly_price.currency_code for p in elsewhere.plans} == {"USD"}


# ------------------------------------------------------------ Redis down or restarted


async def test_without_redis_sign_in_and_refresh_fail_closed(start_users: StartUsers) -> None:
    users = await start_users(redis_url=f"redis://127.0.0.1:{unused_port()}/0")
    email = unique_email("noredis")
    await users.stub.CreateAccount(
        users_pb2.CreateAccountRequest(
            email=email, password=PASSWORD, first_name="A", last_name="B", country_code="GB"
        )
    )
    signin = await rpc_error(login(users, email))
    assert signin.code == grpc.StatusCode.UNAVAILABLE
    refresh = await rpc_error(
        users.stub.RefreshSession(users_pb2.RefreshSessionRequest(refresh_token="s.1.mac"))
    )
    assert refresh.code == grpc.StatusCode.UNAVAILABLE


async def test_sessions_survive_a_redis_restart_and_refresh_fails_closed_while_it_is_down(
    start_users: StartUsers, tmp_path: Path
) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.workdir.mkdir()
    await redis.start()
    try:
        users = await start_users(redis_url=redis.url, revocation_bound_seconds=BOUND_SECONDS)
        account_id, email = await new_account(users)
        signed = await login(users, email, "TV")
        await asyncio.sleep(1.2)  # past the AOF's everysec window
        await redis.kill()
        down = await rpc_error(
            users.stub.RefreshSession(
                users_pb2.RefreshSessionRequest(refresh_token=signed.refresh_token)
            )
        )
        assert down.code == grpc.StatusCode.UNAVAILABLE
        # Access tokens: a session confirmed within the bound is still served;
        # after it the check cannot be made, and the call fails closed.
        await asyncio.sleep(BOUND_SECONDS + 0.05)
        closed = await rpc_error(get_account(users, account_id, signed.access_token))
        assert closed.code == grpc.StatusCode.UNAVAILABLE
        await redis.start()
        renewed = await users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=signed.refresh_token)
        )
        assert renewed.session_id == signed.session_id
        assert await get_account(users, account_id, renewed.access_token)
    finally:
        await redis.kill()


async def test_a_rotation_lost_by_a_redis_crash_does_not_sign_the_device_out(
    users: RunningUsers, redis_url: str
) -> None:
    account_id, email = await new_account(users)
    first = await login(users, email)
    second = await users.stub.RefreshSession(
        users_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
    )
    # As if the AOF lost the rotation: the store is back at the first generation.
    redis = Redis.from_url(redis_url)
    try:
        key = f"{users.config.redis_prefix}users:session:{first.session_id}"
        await redis.hset(key, "generation", "1")
    finally:
        await redis.aclose()
    third = await users.stub.RefreshSession(
        users_pb2.RefreshSessionRequest(refresh_token=second.refresh_token)
    )
    assert third.session_id == first.session_id
    assert await get_account(users, account_id, third.access_token)
    # The token older than the store's generation is still a reuse.
    reused = await rpc_error(
        users.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
        )
    )
    assert reused.reason == "REFRESH_TOKEN_REUSED"
