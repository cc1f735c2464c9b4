"""The users service's changes reach a consumer group through its outbox relay.

A real users server (port 0, SQLite and MariaDB) runs its relay beside it;
a consumer of ``streammesh.users`` receives one account's events in order,
with typed data and a span linked to the request that caused them.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2
from redis.asyncio import Redis

from services.events import streams
from services.events.envelope import unpack
from services.kit import server as runtime
from services.users import migrations
from services.users.server import create_server
from streammesh.users.v1 import events_pb2, users_pb2, users_pb2_grpc
from tests.events.helpers import consume_aggregate
from tests.users.conftest import PASSWORD, RunningUsers, unique_email, users_config


@pytest.fixture(params=["sqlite", "mariadb"])
def users_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    return url


@pytest_asyncio.fixture
async def users_server(
    users_database: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[RunningUsers]:
    await migrations.apply_url(users_database)
    config = users_config(
        database_url=users_database,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}{secrets.token_hex(3)}:",
        key_dir=tmp_path / "keys",
    )
    server, port = await create_server(config)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    running = RunningUsers(config, server, port, channel, users_pb2_grpc.UserServiceStub(channel))
    yield running
    await channel.close()
    await runtime.stop(server, 0)


async def test_an_accounts_events_reach_a_consumer_in_order_with_typed_data(
    users_server: RunningUsers, redis: Redis
) -> None:
    stream = streams.stream_name("users", prefix=users_server.config.redis_prefix)
    account, metadata = await users_server.signup(unique_email("events"))
    profiles = await users_server.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=metadata
    )
    primary = profiles.profiles[0]
    for name in ("Kids", "Grown-ups"):
        await users_server.stub.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=primary.profile_id, profile_name=name),
                update_mask=field_mask_pb2.FieldMask(paths=["profile_name"]),
            ),
            metadata=metadata,
        )

    received = await consume_aggregate(
        redis, stream, str(account.account_id), 3, "the account's three events"
    )

    assert [event.event_type for event in received] == [
        "user.account.created",
        "user.profile.updated",
        "user.profile.updated",
    ]
    created = unpack(received[0], events_pb2.AccountCreatedEvent)
    assert isinstance(created, events_pb2.AccountCreatedEvent)
    assert created.account.account_id == account.account_id
    names = [unpack(e, events_pb2.ProfileUpdatedEvent) for e in received[1:]]
    assert [n.profile.profile_name for n in names] == ["Kids", "Grown-ups"]  # type: ignore[attr-defined]
    assert all(event.source == "users" for event in received)
    assert PASSWORD not in str(received)
