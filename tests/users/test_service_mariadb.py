"""The same service on MariaDB: the main flows and the invariants, end to end."""

from __future__ import annotations

import asyncio

import grpc

from streammesh.users.v1 import users_pb2
from tests.users.conftest import StartUsers
from tests.users.helpers import rpc_error


async def test_accounts_profiles_and_preferences_on_mariadb(
    start_users: StartUsers, users_mariadb_url: str
) -> None:
    users = await start_users(database_url=users_mariadb_url, migrate_on_start=False)
    account, md = await users.signup()
    _, stranger = await users.signup()
    taken = await rpc_error(
        users.stub.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=account.email.upper(),
                password="another password",
                first_name="Eve",
                last_name="Doe",
                country_code="FR",
            )
        )
    )
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS

    async def create(name: str) -> object:
        return await users.stub.CreateProfile(
            users_pb2.CreateProfileRequest(
                account_id=account.account_id, profile=users_pb2.Profile(profile_name=name)
            ),
            metadata=md,
        )

    # Eight concurrent creations race for the four free places.
    results = await asyncio.gather(*(create(f"P{i}") for i in range(8)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refused) == 4
    assert {r.code() for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    listed = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=md
    )
    assert len(listed.profiles) == 5
    assert listed.profiles[0].primary
    kid = listed.profiles[1]

    updated = await users.stub.UpdateProfile(
        users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(
                profile_id=kid.profile_id, kids_profile=True, maturity_rating="TV-Y7"
            ),
            update_mask={"paths": ["kids_profile", "maturity_rating"]},
        ),
        metadata=md,
    )
    fetched = await users.stub.GetProfile(
        users_pb2.GetProfileRequest(profile_id=kid.profile_id), metadata=md
    )
    assert fetched == updated
    assert (fetched.kids_profile, fetched.maturity_rating) == (True, "TV-Y7")

    await users.stub.SetPreference(
        users_pb2.SetPreferenceRequest(
            preference=users_pb2.Preference(profile_id=kid.profile_id, key="autoplay", value="on")
        ),
        metadata=md,
    )
    denied = await rpc_error(
        users.stub.ListPreferences(
            users_pb2.ListPreferencesRequest(profile_id=kid.profile_id), metadata=stranger
        )
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED
    await users.stub.DeleteProfile(
        users_pb2.DeleteProfileRequest(profile_id=kid.profile_id), metadata=md
    )
    gone = await rpc_error(
        users.stub.ListPreferences(
            users_pb2.ListPreferencesRequest(profile_id=kid.profile_id), metadata=md
        )
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND
