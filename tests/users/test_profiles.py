"""Profiles and preferences over a real server: limits, primary, kids cap, masks, cache."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from services import ratings
from services.users.stores.sql import SqlUserStore
from streammesh.users.v1 import users_pb2
from tests.users.conftest import RunningUsers
from tests.users.helpers import rpc_error

Metadata = tuple[tuple[str, str], ...]


async def create(
    users: RunningUsers, account: users_pb2.Account, md: Metadata, **fields: object
) -> users_pb2.Profile:
    profile = users_pb2.Profile(**{"profile_name": "Extra", **fields})  # type: ignore[arg-type]
    return await users.stub.CreateProfile(
        users_pb2.CreateProfileRequest(account_id=account.account_id, profile=profile),
        metadata=md,
    )


async def listed(users: RunningUsers, account: users_pb2.Account, md: Metadata) -> list[str]:
    response = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=md
    )
    return [p.profile_name for p in response.profiles]


async def outbox_count(users: RunningUsers, account: users_pb2.Account) -> int:
    import sqlalchemy as sa

    from services.users.models import OutboxRow

    store = SqlUserStore.from_url(users.config.database_url)
    try:
        async with store.engine.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).where(OutboxRow.aggregate_id == account.account_id)
            )
            return int(count or 0)
    finally:
        await store.close()


BAD_PROFILES = [
    pytest.param({"profile_name": ""}, "profile", id="missing-name"),
    pytest.param({"profile_name": "N" * 51}, "profile.profile_name", id="oversized-name"),
    pytest.param({"maturity_rating": "X-99"}, "profile.maturity_rating", id="unknown-rating"),
    pytest.param({"maturity_rating": "pg-13"}, "profile.maturity_rating", id="lowercase-rating"),
    pytest.param({"avatar_url": "not a url"}, "profile.avatar_url", id="bad-avatar"),
    pytest.param(
        {"avatar_url": "https://example.com/" + "a" * 2048}, "profile.avatar_url", id="long-avatar"
    ),
]


@pytest.mark.parametrize(("fields", "field"), BAD_PROFILES)
async def test_bad_profiles_are_invalid_argument_and_write_nothing(
    users: RunningUsers, fields: dict[str, str], field: str
) -> None:
    account, md = await users.signup()
    failure = await rpc_error(create(users, account, md, **fields))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f.startswith(field) for f in failure.fields), failure.fields
    assert await listed(users, account, md) == ["Ada"]
    assert await outbox_count(users, account) == 1


async def test_a_sixth_profile_is_failed_precondition(users: RunningUsers) -> None:
    account, md = await users.signup()
    for index in range(4):
        await create(users, account, md, profile_name=f"P{index}")
    failure = await rpc_error(create(users, account, md, profile_name="Sixth"))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "PROFILE_LIMIT_REACHED"
    assert await listed(users, account, md) == ["Ada", "P0", "P1", "P2", "P3"]


async def test_a_second_primary_is_failed_precondition(users: RunningUsers) -> None:
    account, md = await users.signup()
    failure = await rpc_error(create(users, account, md, primary=True))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.fields == ["profile.primary"]
    assert await listed(users, account, md) == ["Ada"]


async def test_the_primary_profile_cannot_be_deleted(users: RunningUsers) -> None:
    account, md = await users.signup()
    response = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=md
    )
    primary = response.profiles[0]
    failure = await rpc_error(
        users.stub.DeleteProfile(
            users_pb2.DeleteProfileRequest(profile_id=primary.profile_id), metadata=md
        )
    )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "PRIMARY_PROFILE"
    assert await listed(users, account, md) == ["Ada"]


@pytest.mark.parametrize("rating", ["PG-13", "TV-14", "R", "TV-MA", "NC-17", "NR", "UR"])
async def test_a_kids_profile_with_an_adult_rating_is_failed_precondition(
    users: RunningUsers, rating: str
) -> None:
    account, md = await users.signup()
    failure = await rpc_error(create(users, account, md, kids_profile=True, maturity_rating=rating))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "KIDS_RATING_LIMIT"
    assert failure.fields == ["profile.maturity_rating"]
    assert await listed(users, account, md) == ["Ada"]


async def test_kids_profiles_default_to_the_kids_limit_and_accept_lower(
    users: RunningUsers,
) -> None:
    account, md = await users.signup()
    default = await create(users, account, md, kids_profile=True)
    assert default.maturity_rating == ratings.KIDS_LIMIT
    assert default.kids_profile
    assert not default.primary
    for rating in ("TV-Y", "TV-Y7-FV", "TV-PG"):
        kids = await create(users, account, md, kids_profile=True, maturity_rating=rating)
        assert kids.maturity_rating == rating


async def test_update_applies_only_the_masked_fields(users: RunningUsers) -> None:
    account, md = await users.signup()
    profile = await create(users, account, md, avatar_url="https://img.example.com/a.png")
    updated = await users.stub.UpdateProfile(
        users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(
                profile_id=profile.profile_id, profile_name="Renamed", maturity_rating="R"
            ),
            update_mask={"paths": ["profile_name"]},
        ),
        metadata=md,
    )
    assert updated.profile_name == "Renamed"
    assert updated.maturity_rating == "PG-13"
    assert updated.avatar_url == "https://img.example.com/a.png"
    assert updated.update_time.ToDatetime() >= profile.update_time.ToDatetime()


async def test_an_empty_mask_replaces_every_mutable_field(users: RunningUsers) -> None:
    account, md = await users.signup()
    profile = await create(users, account, md, avatar_url="https://img.example.com/a.png")
    updated = await users.stub.UpdateProfile(
        users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(profile_id=profile.profile_id, profile_name="Whole")
        ),
        metadata=md,
    )
    assert (updated.profile_name, updated.avatar_url, updated.maturity_rating) == (
        "Whole",
        "",
        ratings.DEFAULT_LIMIT,
    )


@pytest.mark.parametrize("path", ["primary", "account_id", "profile_id", "nickname"])
async def test_an_unknown_or_immutable_mask_path_is_invalid_argument(
    users: RunningUsers, path: str
) -> None:
    account, md = await users.signup()
    profile = await create(users, account, md)
    failure = await rpc_error(
        users.stub.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=profile.profile_id, primary=True),
                update_mask={"paths": [path]},
            ),
            metadata=md,
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields == ["update_mask"]
    assert path in failure.message


async def test_turning_an_adult_profile_into_a_kids_one_needs_a_kids_rating(
    users: RunningUsers,
) -> None:
    account, md = await users.signup()
    profile = await create(users, account, md, maturity_rating="R")

    def to_kids(**fields: object) -> users_pb2.UpdateProfileRequest:
        return users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(profile_id=profile.profile_id, kids_profile=True, **fields),  # type: ignore[arg-type]
            update_mask={"paths": ["kids_profile", *fields]},
        )

    failure = await rpc_error(users.stub.UpdateProfile(to_kids(), metadata=md))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.fields == ["profile.maturity_rating"]
    unchanged = await users.stub.GetProfile(
        users_pb2.GetProfileRequest(profile_id=profile.profile_id), metadata=md
    )
    assert (unchanged.kids_profile, unchanged.maturity_rating) == (False, "R")
    kids = await users.stub.UpdateProfile(to_kids(maturity_rating="G"), metadata=md)
    assert (kids.kids_profile, kids.maturity_rating) == (True, "G")


def cache_count(namespace: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "streammesh_cache_requests_total", {"namespace": namespace, "result": result}
    )
    return value or 0.0


async def test_reads_are_cached_and_writes_are_visible_at_once(users: RunningUsers) -> None:
    account, md = await users.signup()
    profile = await create(users, account, md, profile_name="Before")
    request = users_pb2.GetProfileRequest(profile_id=profile.profile_id)
    hits = cache_count("users.profile", "hit")
    assert (await users.stub.GetProfile(request, metadata=md)).profile_name == "Before"
    assert (await users.stub.GetProfile(request, metadata=md)).profile_name == "Before"
    assert cache_count("users.profile", "hit") == hits + 1
    assert await listed(users, account, md) == ["Ada", "Before"]

    await users.stub.UpdateProfile(
        users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(profile_id=profile.profile_id, profile_name="After"),
            update_mask={"paths": ["profile_name"]},
        ),
        metadata=md,
    )
    assert (await users.stub.GetProfile(request, metadata=md)).profile_name == "After"
    assert await listed(users, account, md) == ["Ada", "After"]

    await create(users, account, md, profile_name="Third")
    assert await listed(users, account, md) == ["Ada", "After", "Third"]

    await users.stub.DeleteProfile(
        users_pb2.DeleteProfileRequest(profile_id=profile.profile_id), metadata=md
    )
    failure = await rpc_error(users.stub.GetProfile(request, metadata=md))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert await listed(users, account, md) == ["Ada", "Third"]


async def test_account_reads_are_cached(users: RunningUsers) -> None:
    account, md = await users.signup()
    request = users_pb2.GetAccountRequest(account_id=account.account_id)
    misses = cache_count("users.account", "miss")
    hits = cache_count("users.account", "hit")
    await users.stub.GetAccount(request, metadata=md)
    await users.stub.GetAccount(request, metadata=md)
    assert cache_count("users.account", "miss") == misses + 1
    assert cache_count("users.account", "hit") == hits + 1


async def test_profiles_are_listed_in_pages(users: RunningUsers) -> None:
    account, md = await users.signup()
    for name in ("B", "C", "D"):
        await create(users, account, md, profile_name=name)
    names: list[str] = []
    token = ""
    for _ in range(5):
        page = await users.stub.ListProfiles(
            users_pb2.ListProfilesRequest(
                account_id=account.account_id, page_size=2, page_token=token
            ),
            metadata=md,
        )
        names.extend(p.profile_name for p in page.profiles)
        token = page.next_page_token
        if not token:
            break
    assert names == ["Ada", "B", "C", "D"]
    failure = await rpc_error(
        users.stub.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=account.account_id, page_token="%%%"),
            metadata=md,
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields == ["page_token"]


async def test_a_missing_profile_is_not_found(users: RunningUsers) -> None:
    _, md = await users.signup()
    failure = await rpc_error(
        users.stub.GetProfile(users_pb2.GetProfileRequest(profile_id="999999999"), metadata=md)
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND


async def test_preferences_are_set_replaced_and_listed_by_key(users: RunningUsers) -> None:
    account, md = await users.signup()
    [profile_id] = [
        p.profile_id
        for p in (
            await users.stub.ListProfiles(
                users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=md
            )
        ).profiles
    ]

    async def put(key: str, value: str) -> users_pb2.Preference:
        return await users.stub.SetPreference(
            users_pb2.SetPreferenceRequest(
                preference=users_pb2.Preference(profile_id=profile_id, key=key, value=value)
            ),
            metadata=md,
        )

    await put("subtitles.language", "fr")
    await put("autoplay", "on")
    replaced = await put("autoplay", "off")
    assert (replaced.key, replaced.value) == ("autoplay", "off")
    first = await users.stub.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=profile_id, page_size=1), metadata=md
    )
    assert [(p.key, p.value) for p in first.preferences] == [("autoplay", "off")]
    rest = await users.stub.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=profile_id, page_token=first.next_page_token),
        metadata=md,
    )
    assert [(p.key, p.value) for p in rest.preferences] == [("subtitles.language", "fr")]
    assert rest.next_page_token == ""

    for key, value, field in [
        ("Bad Key", "x", "preference.key"),
        ("9lives", "x", "preference.key"),
        ("ok", "v" * 1025, "preference.value"),
    ]:
        failure = await rpc_error(put(key, value))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in failure.fields
    everything = await users.stub.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=profile_id), metadata=md
    )
    assert len(everything.preferences) == 2


async def test_writes_record_events_with_the_request_and_trace_ids(users: RunningUsers) -> None:
    import sqlalchemy as sa

    from services.users.models import OutboxRow
    from streammesh.events.v1 import event_pb2

    account, md = await users.signup()
    await users.stub.CreateProfile(
        users_pb2.CreateProfileRequest(
            account_id=account.account_id, profile=users_pb2.Profile(profile_name="Traced")
        ),
        metadata=(*md, ("x-request-id", "req-123")),
    )
    store = SqlUserStore.from_url(users.config.database_url)
    try:
        async with store.engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(OutboxRow.event_type, OutboxRow.payload)
                    .where(OutboxRow.aggregate_id == account.account_id)
                    .order_by(OutboxRow.created_at)
                )
            ).all()
    finally:
        await store.close()
    assert [row.event_type for row in rows] == ["user.account.created", "user.profile.created"]
    event = event_pb2.Event.FromString(rows[-1].payload)
    assert event.metadata.request_id == "req-123"
    assert event.trace_context.traceparent.startswith("00-")
