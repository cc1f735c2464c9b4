"""Failed sign-ins are limited per account and per client address, in Redis."""

from __future__ import annotations

import grpc

from services.users.config import LoginLimits
from streammesh.users.v1 import users_pb2
from tests.users.conftest import PASSWORD, StartUsers, unique_email
from tests.users.helpers import rpc_error

WINDOW_SECONDS = 600


def login(email: str, password: str) -> users_pb2.LoginRequest:
    return users_pb2.LoginRequest(email=email, password=password)


def from_address(address: str) -> tuple[tuple[str, str], ...]:
    # The test client is on loopback, a trusted proxy: like the edge, it
    # tells the service which client address it forwards.
    return (("x-forwarded-for", f"198.51.100.77, {address}"),)


async def test_an_account_is_locked_after_n_failures_even_for_the_right_password(
    start_users: StartUsers,
) -> None:
    users = await start_users(
        login_limits=LoginLimits(account_failures=3, address_failures=100, window_seconds=600)
    )
    account, _ = await users.signup()
    email = account.email
    for attempt in range(3):
        failure = await rpc_error(
            users.stub.Login(
                login(email, "wrong password"), metadata=from_address(f"10.0.0.{attempt}")
            )
        )
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    limited = await rpc_error(
        users.stub.Login(login(email, PASSWORD), metadata=from_address("10.0.0.9"))
    )
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert limited.reason == "LOGIN_RATE_LIMITED"
    assert 0 < limited.retry_after_seconds <= WINDOW_SECONDS
    # Another account is not affected.
    other, _ = await users.signup()
    assert (await users.stub.Login(login(other.email, PASSWORD))).account_id == other.account_id


async def test_a_successful_sign_in_forgives_earlier_failures(start_users: StartUsers) -> None:
    users = await start_users(
        login_limits=LoginLimits(account_failures=3, address_failures=100, window_seconds=600)
    )
    account, _ = await users.signup()
    for _ in range(2):
        await rpc_error(users.stub.Login(login(account.email, "wrong password")))
        await rpc_error(users.stub.Login(login(account.email, "wrong password")))
        assert (await users.stub.Login(login(account.email, PASSWORD))).account_id
    assert (await users.stub.Login(login(account.email, PASSWORD))).account_id


async def test_one_address_spraying_many_accounts_is_limited(start_users: StartUsers) -> None:
    users = await start_users(
        login_limits=LoginLimits(account_failures=100, address_failures=4, window_seconds=600)
    )
    for _ in range(4):
        failure = await rpc_error(
            users.stub.Login(
                login(unique_email("spray"), PASSWORD), metadata=from_address("203.0.113.5")
            )
        )
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    limited = await rpc_error(
        users.stub.Login(
            login(unique_email("spray"), PASSWORD), metadata=from_address("203.0.113.5")
        )
    )
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert limited.retry_after_seconds > 0
    # A different client address still gets through to the password check.
    elsewhere = await rpc_error(
        users.stub.Login(
            login(unique_email("spray"), PASSWORD), metadata=from_address("203.0.113.6")
        )
    )
    assert elsewhere.code == grpc.StatusCode.UNAUTHENTICATED


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(start_users: StartUsers) -> None:
    users = await start_users(
        trusted_proxies=(),
        login_limits=LoginLimits(account_failures=100, address_failures=2, window_seconds=600),
    )
    for index in range(2):
        await rpc_error(
            users.stub.Login(
                login(unique_email("direct"), PASSWORD), metadata=from_address(f"192.0.2.{index}")
            )
        )
    # Rotating the claimed address does not help: the peer address counts.
    limited = await rpc_error(
        users.stub.Login(
            login(unique_email("direct"), PASSWORD), metadata=from_address("192.0.2.99")
        )
    )
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_trusted_proxy_network_covers_every_address_in_it(
    start_users: StartUsers,
) -> None:
    # The edge's pod address is not fixed in a cluster: trust its network.
    users = await start_users(
        trusted_proxies=("127.0.0.0/8",),
        login_limits=LoginLimits(account_failures=100, address_failures=2, window_seconds=600),
    )
    for _ in range(2):
        await rpc_error(
            users.stub.Login(
                login(unique_email("net"), "wrong password"), metadata=from_address("192.0.2.50")
            )
        )
    limited = await rpc_error(
        users.stub.Login(login(unique_email("net"), PASSWORD), metadata=from_address("192.0.2.50"))
    )
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Another forwarded client is counted on its own, so the header was believed.
    other = await rpc_error(
        users.stub.Login(login(unique_email("net"), PASSWORD), metadata=from_address("192.0.2.51"))
    )
    assert other.code == grpc.StatusCode.UNAUTHENTICATED
