"""CreateAccount, Login, GetAccount and GetJwks over a real server, bad input first."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import grpc
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.runtime.logs import JsonFormatter
from services.users.models import UserRow
from services.users.stores.sql import SqlUserStore
from services.users.tokens import ALGORITHM
from streammesh.users.v1 import users_pb2
from tests.users.conftest import PASSWORD, RunningUsers, unique_email
from tests.users.helpers import rpc_error


def account_request(**overrides: str) -> users_pb2.CreateAccountRequest:
    fields = {
        "email": unique_email(),
        "password": PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "country_code": "GB",
        "language_code": "en-GB",
    }
    fields.update(overrides)
    return users_pb2.CreateAccountRequest(**fields)


async def account_exists(users: RunningUsers, email: str) -> bool:
    store = SqlUserStore.from_url(users.config.database_url)
    try:
        return await store.find_account_by_email(email.strip().lower()) is not None
    finally:
        await store.close()


BAD_ACCOUNTS = [
    pytest.param({"email": "not-an-email"}, "email", id="malformed-email"),
    pytest.param({"email": "a@b@example.com"}, "email", id="two-at-signs"),
    pytest.param({"email": ("x" * 250) + "@example.com"}, "email", id="oversized-email"),
    pytest.param({"password": "short"}, "password", id="short-password"),
    pytest.param({"password": "123456789"}, "password", id="nine-characters"),
    pytest.param({"password": "p" * 129}, "password", id="oversized-password"),
    pytest.param({"country_code": "ZZ"}, "country_code", id="unknown-country"),
    pytest.param({"country_code": "UK"}, "country_code", id="not-iso-country"),
    pytest.param({"country_code": "USA"}, "country_code", id="alpha-3-country"),
    pytest.param({"language_code": "zz"}, "language_code", id="unknown-language"),
    pytest.param({"language_code": "en_US"}, "language_code", id="malformed-language"),
    pytest.param({"first_name": ""}, "first_name", id="missing-first-name"),
    pytest.param({"first_name": "A" * 101}, "first_name", id="oversized-first-name"),
    pytest.param({"last_name": "L" * 101}, "last_name", id="oversized-last-name"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_ACCOUNTS)
async def test_bad_sign_up_is_invalid_argument_naming_the_field_and_writes_nothing(
    users: RunningUsers, overrides: dict[str, str], field: str
) -> None:
    request = account_request(**overrides)
    failure = await rpc_error(users.stub.CreateAccount(request))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.fields
    if "email" not in overrides:
        assert not await account_exists(users, request.email)


async def test_every_bad_field_is_reported_at_once(users: RunningUsers) -> None:
    failure = await rpc_error(
        users.stub.CreateAccount(account_request(email="nope", password="short", country_code="ZZ"))
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"email", "password"} <= set(failure.fields)


async def test_sign_up_normalises_and_creates_the_primary_profile(users: RunningUsers) -> None:
    email = "  " + unique_email("Mixed.Case") + " "
    account = await users.stub.CreateAccount(
        account_request(email=email.strip(), language_code="pt-br")
    )
    assert account.email == email.strip().lower()
    assert account.language_code == "pt-BR"
    assert account.account_id.isdigit()
    login = await users.stub.Login(users_pb2.LoginRequest(email=email.upper(), password=PASSWORD))
    assert login.account_id == account.account_id
    metadata = (("authorization", f"Bearer {login.access_token}"),)
    listed = await users.stub.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=account.account_id), metadata=metadata
    )
    [primary] = listed.profiles
    assert primary.primary
    assert primary.profile_name == "Ada"
    assert primary.maturity_rating == "PG-13"


async def test_language_defaults_to_english(users: RunningUsers) -> None:
    request = account_request()
    request.ClearField("language_code")
    account = await users.stub.CreateAccount(request)
    assert account.language_code == "en"


async def test_an_email_taken_in_any_case_is_already_exists(users: RunningUsers) -> None:
    email = unique_email("taken")
    first = await users.stub.CreateAccount(account_request(email=email))
    failure = await rpc_error(
        users.stub.CreateAccount(account_request(email=email.upper(), password="another password"))
    )
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert failure.reason == "EMAIL_TAKEN"
    # The original account and password are untouched.
    login = await users.stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    assert login.account_id == first.account_id


async def test_login_returns_an_es256_token_verifiable_with_the_jwks(users: RunningUsers) -> None:
    email = unique_email()
    account = await users.stub.CreateAccount(account_request(email=email))
    login = await users.stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    assert login.token_type == "Bearer"
    jwks = await users.stub.GetJwks(users_pb2.GetJwksRequest())
    [key] = jwks.keys
    assert (key.kty, key.crv, key.alg, key.use) == ("EC", "P-256", "ES256", "sig")
    header = jwt.get_unverified_header(login.access_token)
    assert header["kid"] == key.kid
    assert header["alg"] == ALGORITHM
    public = ECAlgorithm.from_jwk({"kty": key.kty, "crv": key.crv, "x": key.x, "y": key.y})
    assert isinstance(public, ec.EllipticCurvePublicKey)
    claims = jwt.decode(
        login.access_token, public, algorithms=["ES256"], issuer=users.config.token_issuer
    )
    assert claims["sub"] == account.account_id
    assert claims["exp"] - claims["iat"] == users.config.token_ttl_seconds
    assert login.expire_time.seconds == claims["exp"]
    assert abs(claims["iat"] - time.time()) < 60


async def test_wrong_password_and_unknown_email_look_the_same(users: RunningUsers) -> None:
    email = unique_email()
    await users.stub.CreateAccount(account_request(email=email))
    wrong = await rpc_error(
        users.stub.Login(users_pb2.LoginRequest(email=email, password="wrong password"))
    )
    unknown = await rpc_error(
        users.stub.Login(users_pb2.LoginRequest(email=unique_email("ghost"), password=PASSWORD))
    )
    assert wrong.code == unknown.code == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.message == unknown.message
    assert wrong.reason == unknown.reason == "WRONG_CREDENTIALS"


async def test_get_account_returns_the_callers_account(users: RunningUsers) -> None:
    account, metadata = await users.signup()
    fetched = await users.stub.GetAccount(
        users_pb2.GetAccountRequest(account_id=account.account_id), metadata=metadata
    )
    assert fetched == account


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("users-test"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_the_password_never_leaves_the_service(
    users: RunningUsers, captured_logs: io.StringIO
) -> None:
    password = "Very-Secret-Passphrase-42"
    email = unique_email("secret")
    account = await users.stub.CreateAccount(account_request(email=email, password=password))
    login = await users.stub.Login(users_pb2.LoginRequest(email=email, password=password))
    await rpc_error(users.stub.Login(users_pb2.LoginRequest(email=email, password=password + "x")))
    await rpc_error(users.stub.CreateAccount(account_request(email=email, password=password)))
    metadata = (("authorization", f"Bearer {login.access_token}"),)
    fetched = await users.stub.GetAccount(
        users_pb2.GetAccountRequest(account_id=account.account_id), metadata=metadata
    )
    for message in (account, login, fetched):
        assert password.encode() not in message.SerializeToString()
    assert "password" not in {field.name for field in users_pb2.Account.DESCRIPTOR.fields}
    logged = captured_logs.getvalue()
    assert logged, "the server logged nothing; the check would be vacuous"
    assert password not in logged
    # Stored as an Argon2id hash with the configured cost, never in clear.
    store = SqlUserStore.from_url(users.config.database_url)
    try:
        async with store.engine.connect() as connection:
            stored = await connection.scalar(
                sa.select(UserRow.password_hash).where(UserRow.email == email.lower())
            )
    finally:
        await store.close()
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert password not in stored
    assert stored not in logged


async def test_jwks_is_public_and_stable_across_restarts(
    users: RunningUsers, start_users: object
) -> None:
    first = await users.stub.GetJwks(users_pb2.GetJwksRequest())
    again: RunningUsers = await start_users(key_dir=users.config.key_dir)  # type: ignore[operator]
    second = await again.stub.GetJwks(users_pb2.GetJwksRequest())
    assert first == second
    key_file = users.config.key_dir / "signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (users.config.key_dir / "jwks.json").exists()
