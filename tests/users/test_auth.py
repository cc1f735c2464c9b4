"""Ownership and authentication, called straight at the service port (no edge)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.echo.servicer import SERVICE_NAME as ECHO
from devtools.echo.servicer import EchoServicer
from interceptors.auth import (
    AuthInterceptor,
    GrpcJwksKeySource,
    JwksFileKeySource,
    StaticKeySource,
    TokenVerifier,
)
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from services.runtime.errors import Unauthenticated
from services.runtime.visibility import INTERNAL, OWNER, PUBLIC, methods_with
from services.users.servicer import SERVICE_NAME
from services.users.tokens import SigningKey, TokenIssuer, load_or_create_signing_key, public_jwk
from streammesh.catalog.v1 import catalog_pb2
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from streammesh.options.v1 import visibility_pb2
from streammesh.users.v1 import users_pb2
from tests.users.conftest import RunningUsers, unique_email
from tests.users.helpers import rpc_error

Metadata = tuple[tuple[str, str], ...]
OwnerCall = Callable[[RunningUsers, users_pb2.Account, str, Metadata], Awaitable[object]]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def primary_profile_id(users: RunningUsers, account: users_pb2.Account, md: Metadata) -> str:
    listed = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=md
    )
    return listed.profiles[0].profile_id


# Every owner RPC, aimed at `account` (whose primary profile is `profile_id`).
OWNER_CALLS: dict[str, OwnerCall] = {
    "GetAccount": lambda u, a, p, md: u.stub.GetAccount(
        users_pb2.GetAccountRequest(account_id=a.account_id), metadata=md
    ),
    "ListProfiles": lambda u, a, p, md: u.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=a.account_id), metadata=md
    ),
    "CreateProfile": lambda u, a, p, md: u.stub.CreateProfile(
        users_pb2.CreateProfileRequest(
            account_id=a.account_id, profile=users_pb2.Profile(profile_name="Intruder")
        ),
        metadata=md,
    ),
    "GetProfile": lambda u, a, p, md: u.stub.GetProfile(
        users_pb2.GetProfileRequest(profile_id=p), metadata=md
    ),
    "UpdateProfile": lambda u, a, p, md: u.stub.UpdateProfile(
        users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(profile_id=p, profile_name="Hijacked"),
            update_mask={"paths": ["profile_name"]},
        ),
        metadata=md,
    ),
    "DeleteProfile": lambda u, a, p, md: u.stub.DeleteProfile(
        users_pb2.DeleteProfileRequest(profile_id=p), metadata=md
    ),
    "DeleteAccount": lambda u, a, p, md: u.stub.DeleteAccount(
        users_pb2.DeleteAccountRequest(account_id=a.account_id), metadata=md
    ),
    "ListPreferences": lambda u, a, p, md: u.stub.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=p), metadata=md
    ),
    "SetPreference": lambda u, a, p, md: u.stub.SetPreference(
        users_pb2.SetPreferenceRequest(
            preference=users_pb2.Preference(profile_id=p, key="autoplay", value="off")
        ),
        metadata=md,
    ),
    "GetSubscription": lambda u, a, p, md: u.stub.GetSubscription(
        users_pb2.GetSubscriptionRequest(account_id=a.account_id), metadata=md
    ),
    "ChangePlan": lambda u, a, p, md: u.stub.ChangePlan(
        users_pb2.ChangePlanRequest(account_id=a.account_id, plan_id="premium"), metadata=md
    ),
    "ListBillingRecords": lambda u, a, p, md: u.stub.ListBillingRecords(
        users_pb2.ListBillingRecordsRequest(account_id=a.account_id), metadata=md
    ),
    "ListSessions": lambda u, a, p, md: u.stub.ListSessions(
        users_pb2.ListSessionsRequest(account_id=a.account_id), metadata=md
    ),
    "UpdateSession": lambda u, a, p, md: u.stub.UpdateSession(
        users_pb2.UpdateSessionRequest(
            account_id=a.account_id,
            session=users_pb2.Session(session_id="any", device_name="Hijacked"),
        ),
        metadata=md,
    ),
    "DeleteSession": lambda u, a, p, md: u.stub.DeleteSession(
        users_pb2.DeleteSessionRequest(account_id=a.account_id, session_id="any"), metadata=md
    ),
    "RevokeAllSessions": lambda u, a, p, md: u.stub.RevokeAllSessions(
        users_pb2.RevokeAllSessionsRequest(account_id=a.account_id), metadata=md
    ),
    "StartPlayback": lambda u, a, p, md: u.stub.StartPlayback(
        users_pb2.StartPlaybackRequest(profile_id=p), metadata=md
    ),
}

# Owner RPCs that name no account: they act on the caller's own slots, so
# another account's playback id is simply not found (tests/users/test_sessions.py).
CALLER_SCOPED_CALLS: dict[str, OwnerCall] = {
    "GetOperation": lambda u, a, p, md: u.stub.GetOperation(
        users_pb2.GetOperationRequest(operation_id="any"), metadata=md
    ),
    "HeartbeatPlayback": lambda u, a, p, md: u.stub.HeartbeatPlayback(
        users_pb2.HeartbeatPlaybackRequest(playback_id="any"), metadata=md
    ),
    "StopPlayback": lambda u, a, p, md: u.stub.StopPlayback(
        users_pb2.StopPlaybackRequest(playback_id="any"), metadata=md
    ),
}


async def _login_then_refresh(users: RunningUsers, email: str) -> object:
    login = await users.stub.Login(
        users_pb2.LoginRequest(email=email, password="correct horse battery")
    )
    return await users.stub.RefreshSession(
        users_pb2.RefreshSessionRequest(refresh_token=login.refresh_token)
    )


# Every public RPC, called without a token.
PUBLIC_CALLS: dict[str, Callable[[RunningUsers, str], Awaitable[object]]] = {
    "CreateAccount": lambda u, email: u.stub.CreateAccount(
        users_pb2.CreateAccountRequest(
            email=unique_email("anonymous"),
            password="correct horse battery",
            first_name="Grace",
            last_name="Hopper",
            country_code="US",
        )
    ),
    "Login": lambda u, email: u.stub.Login(
        users_pb2.LoginRequest(email=email, password="correct horse battery")
    ),
    "GetJwks": lambda u, email: u.stub.GetJwks(users_pb2.GetJwksRequest()),
    "RefreshSession": _login_then_refresh,
    "ListPlans": lambda u, email: u.stub.ListPlans(users_pb2.ListPlansRequest(country="GB")),
}


def _methods(visibility: visibility_pb2.Visibility) -> set[str]:
    """UserService's methods whose contract declares ``visibility``, by short name."""
    return {m.rsplit("/", 1)[1] for m in methods_with(SERVICE_NAME, visibility)}


async def assert_untouched(
    users: RunningUsers, victim: users_pb2.Account, profile_id: str, md: Metadata
) -> None:
    listed = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=victim.account_id), metadata=md
    )
    assert [(p.profile_id, p.profile_name) for p in listed.profiles] == [(profile_id, "Ada")]
    preferences = await users.stub.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=profile_id), metadata=md
    )
    assert list(preferences.preferences) == []


@pytest.mark.parametrize("method", sorted(OWNER_CALLS))
async def test_a_token_for_another_account_is_permission_denied(
    users: RunningUsers, method: str
) -> None:
    victim, victim_md = await users.signup()
    _, intruder_md = await users.signup()
    profile_id = await primary_profile_id(users, victim, victim_md)
    failure = await rpc_error(OWNER_CALLS[method](users, victim, profile_id, intruder_md))
    assert failure.code == grpc.StatusCode.PERMISSION_DENIED
    await assert_untouched(users, victim, profile_id, victim_md)


def forged_token(account_id: str, issuer: str, kid: str) -> str:
    """Claims as the service writes them, signed by a key that is not the service's."""
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"sub": account_id, "iss": issuer, "iat": now, "exp": now + 600}
    return jwt.encode(claims, other, algorithm="ES256", headers={"kid": kid})


def bad_tokens(users: RunningUsers, account: users_pb2.Account) -> dict[str, Metadata]:
    key = load_or_create_signing_key(users.config.key_dir)
    issuer = users.config.token_issuer
    expired, _ = TokenIssuer(key, issuer=issuer, ttl_seconds=60).issue(
        int(account.account_id), now=time.time() - 3600
    )
    foreign_issuer, _ = TokenIssuer(key, issuer="someone-else", ttl_seconds=600).issue(
        int(account.account_id)
    )
    unsigned = jwt.encode(
        {"sub": account.account_id, "iss": issuer, "iat": 0, "exp": 2**40},
        key="",
        algorithm="none",
        headers={"kid": key.kid},
    )
    return {
        "missing": (),
        "not-bearer": (("authorization", f"Basic {account.account_id}"),),
        "garbage": bearer("not.a.jwt"),
        "forged-same-kid": bearer(forged_token(account.account_id, issuer, key.kid)),
        "forged-own-kid": bearer(forged_token(account.account_id, issuer, "attacker")),
        "expired": bearer(expired),
        "wrong-issuer": bearer(foreign_issuer),
        "alg-none": bearer(unsigned),
    }


@pytest.mark.parametrize("method", sorted(OWNER_CALLS))
async def test_missing_forged_or_expired_tokens_are_unauthenticated(
    users: RunningUsers, method: str
) -> None:
    account, md = await users.signup()
    profile_id = await primary_profile_id(users, account, md)
    for name, metadata in bad_tokens(users, account).items():
        failure = await rpc_error(OWNER_CALLS[method](users, account, profile_id, metadata))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED, name
        expected = {"missing": "TOKEN_MISSING", "not-bearer": "TOKEN_MISSING"}.get(name)
        if name == "expired":
            expected = "TOKEN_EXPIRED"
        assert failure.reason == (expected or "TOKEN_INVALID"), name
    await assert_untouched(users, account, profile_id, md)


async def test_health_reflection_and_public_methods_need_no_token(users: RunningUsers) -> None:
    health = health_pb2_grpc.HealthStub(users.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    jwks = await users.stub.GetJwks(users_pb2.GetJwksRequest())
    assert len(jwks.keys) == 1


async def test_other_services_verify_tokens_through_get_jwks(users: RunningUsers) -> None:
    account, md = await users.signup()
    token = md[0][1].removeprefix("Bearer ")
    verifier = TokenVerifier(GrpcJwksKeySource(users.channel), issuer=users.config.token_issuer)
    assert await verifier.verify(token) == account.account_id
    with pytest.raises(Unauthenticated):
        await verifier.verify(forged_token(account.account_id, users.config.token_issuer, "x"))


async def test_the_jwks_file_verifies_the_same_tokens(users: RunningUsers) -> None:
    account, md = await users.signup()
    token = md[0][1].removeprefix("Bearer ")
    source = JwksFileKeySource(users.config.key_dir / "jwks.json")
    verifier = TokenVerifier(source, issuer=users.config.token_issuer)
    assert await verifier.verify(token) == account.account_id


def test_public_methods_are_exactly_the_anonymous_routes() -> None:
    # Read from users.proto's visibility options, not listed by hand.
    PUBLIC_METHODS = methods_with(SERVICE_NAME, PUBLIC)
    assert {m.rsplit("/", 1)[1] for m in PUBLIC_METHODS} == {
        "CreateAccount",
        "Login",
        "GetJwks",
        "RefreshSession",
        "ListPlans",
    }
    verifier = TokenVerifier(StaticKeySource({"keys": []}))
    listed = AuthInterceptor(verifier, PUBLIC_METHODS)
    by_contract = AuthInterceptor(verifier)
    for interceptor in (listed, by_contract):
        assert interceptor.is_public("/grpc.health.v1.Health/Check")
        assert interceptor.is_public("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        assert interceptor.is_public("/streammesh.users.v1.UserService/Login")
        assert not interceptor.is_public("/streammesh.users.v1.UserService/GetAccount")
        assert not interceptor.is_public("/streammesh.users.v1.UserService/NoSuchMethod")
        assert not interceptor.is_public("/not.a.Service/Call")
    for method in users_pb2.DESCRIPTOR.services_by_name["UserService"].methods:
        full = f"/{SERVICE_NAME}/{method.name}"
        assert by_contract.is_public(full) == (full in PUBLIC_METHODS), full
    # Any contract, not only the users service's: a public catalog read is
    # public, an internal catalog write is not.
    catalog = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
    assert by_contract.is_public(f"/{catalog}/GetTitle")
    assert not by_contract.is_public(f"/{catalog}/CreateTitle")
    # A stock service outside the contracts is not public unless always public.
    assert not by_contract.is_public("/grpc.testing.TestService/UnaryCall")


async def test_each_method_is_anonymous_iff_its_contract_declares_it_public(
    users: RunningUsers,
) -> None:
    # The calls below must cover exactly what users.proto declares.
    assert set(PUBLIC_CALLS) == _methods(PUBLIC)
    assert set(OWNER_CALLS) | set(CALLER_SCOPED_CALLS) == _methods(OWNER)
    # Internal, and not public either: they need a token on this port too.
    assert _methods(INTERNAL) == {"SetSubscriptionStatus", "CheckSession", "CheckPlayback"}
    email = unique_email("owner")
    account, md = await users.signup(email)
    profile_id = await primary_profile_id(users, account, md)
    for method, call in sorted({**OWNER_CALLS, **CALLER_SCOPED_CALLS}.items()):
        failure = await rpc_error(call(users, account, profile_id, ()))
        assert (failure.code, failure.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "TOKEN_MISSING",
        ), method
    for method in sorted(PUBLIC_CALLS):
        assert await PUBLIC_CALLS[method](users, email), method
    await assert_untouched(users, account, profile_id, md)


async def test_an_internal_method_needs_a_token_on_a_service_port_with_the_interceptor() -> None:
    """INTERNAL is not public: the interceptor never trusts a caller for being a peer."""
    assert methods_with(ECHO, INTERNAL) == {f"/{ECHO}/Echo", f"/{ECHO}/EchoOnce"}
    private = ec.generate_private_key(ec.SECP256R1())
    key = SigningKey(private, public_jwk(private.public_key()))
    verifier = TokenVerifier(StaticKeySource(key.jwks()))
    token, _ = TokenIssuer(key, issuer=verifier.issuer, ttl_seconds=60).issue(7)
    server, port = await runtime.create_server(
        ServerConfig(service="echo", port=0, metrics_port=0, shutdown_grace_seconds=0.5),
        lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(EchoServicer(), s),
        [ECHO],
        auth=AuthInterceptor(verifier),  # public methods: as the contracts declare
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = echo_pb2_grpc.EchoServiceStub(channel)
            failure = await rpc_error(echo.Echo(echo_pb2.EchoRequest(message="hi")))
            assert (failure.code, failure.reason) == (
                grpc.StatusCode.UNAUTHENTICATED,
                "TOKEN_MISSING",
            )
            reply = await echo.Echo(echo_pb2.EchoRequest(message="hi"), metadata=bearer(token))
            assert reply.message == "hi"
            health = health_pb2_grpc.HealthStub(channel)
            status = await health.Check(health_pb2.HealthCheckRequest(service=ECHO))
            assert status.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await runtime.stop(server, 0)


async def test_a_remembered_token_is_still_refused_once_it_expires() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = SigningKey(private, public_jwk(private.public_key()))
    verifier = TokenVerifier(StaticKeySource(key.jwks()), leeway_seconds=0)
    # Expires one second from now (iat/exp are whole seconds).
    token, expires_at = TokenIssuer(key, issuer=verifier.issuer, ttl_seconds=1).issue(7)
    assert await verifier.verify(token) == "7"
    assert await verifier.verify(token) == "7"  # served from the verified-token cache
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.05)
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "TOKEN_EXPIRED"
