"""How the browse service passes on the users service's refusals.

Real servers on port 0: a users server (embedded SQLite, the real Redis) and
the browse server in front of it; no catalog is needed, the calls fail before
any row is fetched.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.browse.config import Config as BrowseConfig
from services.browse.server import create_server as create_browse
from services.runtime import server as runtime
from services.runtime.config import ServerConfig
from services.users.config import Config as UsersConfig
from services.users.config import PasswordHashing
from services.users.server import create_server as create_users
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

PASSWORD = "correct horse battery"
Caller = tuple[tuple[str, str], ...]


@pytest.fixture
async def browse(
    tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[browse_pb2_grpc.BrowseServiceStub, Caller]]:
    users_server, users_port = await create_users(
        UsersConfig(
            server=ServerConfig(service="users", port=0, access_log=False),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'users.db'}",
            redis_url=redis_url,
            redis_prefix=f"{redis_prefix}browse-{secrets.token_hex(3)}:",
            data_dir=tmp_path / "users",
            key_dir=tmp_path / "users" / "keys",
            # The cheapest Argon2id: this test is about errors, not the KDF.
            passwords=PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1),
        )
    )
    monkeypatch.setenv("STREAMMESH_USERS_ADDR", f"127.0.0.1:{users_port}")
    browse_server, browse_port = await create_browse(
        BrowseConfig(server=ServerConfig(service="browse", port=0, access_log=False))
    )
    email = f"browse.{secrets.token_hex(5)}@example.com"
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{users_port}") as users_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{browse_port}") as browse_channel,
    ):
        users = users_pb2_grpc.UserServiceStub(users_channel)
        await users.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=email,
                password=PASSWORD,
                first_name="Ada",
                last_name="Lovelace",
                country_code="GB",
            )
        )
        login = await users.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
        yield (
            browse_pb2_grpc.BrowseServiceStub(browse_channel),
            (("authorization", f"Bearer {login.access_token}"),),
        )
    await runtime.stop(browse_server, 0)
    await runtime.stop(users_server, 0)


async def test_an_invalid_profile_id_keeps_the_users_field_violations(
    browse: tuple[browse_pb2_grpc.BrowseServiceStub, Caller],
) -> None:
    # Found by the REST fuzzer (tests/e2e/test_fuzz.py): the users service
    # named the bad field, the home screen's answer did not.
    stub, caller = browse
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetHome(browse_pb2.GetHomeRequest(profile_id="0"), metadata=caller, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    fields: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend((v.field, v.description) for v in bad_request.field_violations)
    assert [field for field, _ in fields] == ["profile_id"], status
    assert all(description for _, description in fields)
