"""How the browse service passes on the users service's refusals.

Real servers on port 0: a users server (embedded SQLite, the real Redis) and
the browse server in front of it. No catalog, history or recommendations runs:
their addresses are ports nothing listens on, so every row fails, and the
page still renders.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.kit import server as runtime
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.mesh import Caller, Storage, browse_config, sign_up, start_mesh, users_config


@dataclass
class Browse:
    stub: browse_pb2_grpc.BrowseServiceStub
    caller: Caller
    profile_id: str
    users_server: grpc.aio.Server
    catalog_port: int


@pytest.fixture
async def browse(tmp_path: Path, redis_url: str, redis_prefix: str) -> AsyncIterator[Browse]:
    storage = Storage(tmp_path, redis_url, f"{redis_prefix}browse-{secrets.token_hex(3)}:")
    async with (
        start_mesh(users_config(storage), browse_config()) as mesh,
        grpc.aio.insecure_channel(mesh.address("users")) as users_channel,
        grpc.aio.insecure_channel(mesh.address("browse")) as browse_channel,
    ):
        account = await sign_up(users_pb2_grpc.UserServiceStub(users_channel), "browse")
        yield Browse(
            browse_pb2_grpc.BrowseServiceStub(browse_channel),
            account.caller,
            account.primary_profile_id,
            mesh.servers["users"],
            mesh.unserved_ports["catalog"],
        )


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
    # The history rows fail in the history, the top picks in the
    # recommendations, the others in the catalog.
    sources = {
        "continue-watching": "history",
        "trending": "history",
        "top-picks": "recommendations",
    }
    assert set(sources) <= {failure.row_id for failure in home.failed_rows}
    for failure in home.failed_rows:
        source = sources.get(failure.row_id, "catalog")
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
