"""How the browse service passes on the users service's refusals.

Real servers on port 0: a users server (embedded SQLite, the real Redis) and
the browse server in front of it. Neither the catalog nor the history runs:
their addresses are ports nothing listens on, so every row fails, and the
page still renders.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.browse.config import Config as BrowseConfig
from services.browse.server import create_server as create_browse
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from services.users.config import Config as UsersConfig
from services.users.config import PasswordHashing
from services.users.server import create_server as create_users
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

PASSWORD = "correct horse battery"
Caller = tuple[tuple[str, str], ...]


@dataclass
class Browse:
    stub: browse_pb2_grpc.BrowseServiceStub
    caller: Caller
    profile_id: str
    users_server: grpc.aio.Server
    catalog_port: int


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def browse(
    tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Browse]:
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
    catalog_port = unused_port()
    monkeypatch.setenv("STREAMMESH_CATALOG_ADDR", f"127.0.0.1:{catalog_port}")
    monkeypatch.setenv("STREAMMESH_HISTORY_ADDR", f"127.0.0.1:{unused_port()}")
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
        caller = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await users.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=caller
        )
        yield Browse(
            browse_pb2_grpc.BrowseServiceStub(browse_channel),
            caller,
            profiles.profiles[0].profile_id,
            users_server,
            catalog_port,
        )
    await runtime.stop(browse_server, 0)
    await runtime.stop(users_server, 0)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


async def test_an_invalid_profile_id_keeps_the_users_field_violations(browse: Browse) -> None:
    # Found by the REST fuzzer (tests/e2e/test_fuzz.py): the users service
    # named the bad field, the home screen's answer did not.
    stub, caller = browse.stub, browse.caller
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


async def test_rows_their_sources_cannot_serve_are_listed_without_their_address(
    browse: Browse,
) -> None:
    home = await browse.stub.GetHome(
        browse_pb2.GetHomeRequest(profile_id=browse.profile_id), metadata=browse.caller, timeout=10
    )
    assert home.profile_id == browse.profile_id
    assert not home.rows
    assert home.failed_rows
    # The history rows fail in the history, the others in the catalog.
    history_rows = {"continue-watching", "trending"}
    assert history_rows <= {failure.row_id for failure in home.failed_rows}
    for failure in home.failed_rows:
        source = "history" if failure.row_id in history_rows else "catalog"
        assert failure.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), failure
        assert failure.reason in (f"{source} failed ({failure.code})", "row timed out"), failure
        assert str(browse.catalog_port) not in failure.reason


async def test_the_users_service_down_is_unavailable_so_the_caller_retries(
    browse: Browse,
) -> None:
    request = browse_pb2.GetHomeRequest(profile_id=browse.profile_id)
    # One call while users is up: the token's keys are fetched and kept.
    await browse.stub.GetHome(request, metadata=browse.caller, timeout=10)
    await runtime.stop(browse.users_server, 0)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await browse.stub.GetHome(request, metadata=browse.caller, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() in (
        "users failed (UNAVAILABLE)",
        "users failed (DEADLINE_EXCEEDED)",
    )
    info = error_info(raised.value)
    assert info.reason == "DEPENDENCY_FAILED"
    assert info.metadata["dependency"] == "users"
