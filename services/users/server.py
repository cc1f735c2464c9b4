"""Runs the users service: ``python -m services.users.server``."""

from __future__ import annotations

import asyncio

from interceptors.auth import SessionCheck, StaticKeySource, TokenVerifier
from services.kit import Kit, Served, Service
from services.runtime.cache import Cache
from services.users import migrations, outbox
from services.users.billing import NoPayment
from services.users.config import SERVICE, Config
from services.users.domain import Caches, NoCache, Sessions, UsersDomain
from services.users.passwords import PasswordHasherPool
from services.users.ratelimit import LoginLimiter
from services.users.sagas.log import SagaLog
from services.users.servicer import UserServicer
from services.users.sessions import SessionStore
from services.users.stores.sql import SqlUserStore
from services.users.streams import StreamSlots
from services.users.tokens import TokenIssuer, load_or_create_signing_key
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The users service's parts (migrated first when ``migrate_on_start``)."""
    if config.migrate_on_start:
        await migrations.apply(config)
    key = await asyncio.to_thread(load_or_create_signing_key, config.key_dir)
    # Building the hasher hashes a decoy password: CPU work, off the loop.
    passwords = await asyncio.to_thread(PasswordHasherPool, config.passwords)
    kit.closing(passwords, passwords.close)
    store = SqlUserStore.from_url(config.database_url)
    kit.closing(store, store.close)
    redis = kit.redis(config.redis_url)
    kit.relay(outbox.outbox_source(store), redis, config.redis_prefix)

    def cache(namespace: str) -> Cache | NoCache:
        if config.cache_ttl_seconds <= 0:
            return NoCache()
        return Cache(
            redis, namespace, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
        )

    issuer = TokenIssuer(key, issuer=config.token_issuer, ttl_seconds=config.token_ttl_seconds)
    session_store = SessionStore(
        redis, prefix=config.redis_prefix, refresh_ttl_seconds=config.refresh_ttl_seconds
    )
    checks = SessionCheck(
        _StoreSessionLookup(session_store), bound_seconds=config.revocation_bound_seconds
    )
    domain = UsersDomain(
        store=store,
        caches=Caches(
            account=cache("users.account"),
            profile=cache("users.profile"),
            profiles=cache("users.profiles"),
            subscription=cache("users.subscription"),
        ),
        passwords=passwords,
        limiter=LoginLimiter(redis, config.login_limits, prefix=config.redis_prefix),
        tokens=issuer,
        sessions=Sessions(
            store=session_store,
            slots=StreamSlots(
                redis,
                prefix=config.redis_prefix,
                ttl_seconds=config.stream_slot_ttl_seconds,
                session_key_prefix=session_store.session_key(""),
            ),
            payments=NoPayment(),
            checks=checks,
            default_plan=config.default_plan,
        ),
        max_profiles=config.max_profiles_per_account,
        sagas=SagaLog(store.engine),
        profile_update_sagas=config.profile_update_sagas,
    )
    return Served(
        UserServicer(domain, trusted_proxies=config.trusted_proxies),
        # The service that signs the tokens verifies them with its own keys,
        # and their sessions in its own session store.
        verifier=TokenVerifier(
            StaticKeySource(issuer.key.jwks()), issuer=config.token_issuer, sessions=checks
        ),
    )


class _StoreSessionLookup:
    """interceptors.auth.SessionLookup on the service's own session store."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    async def live_account(self, session_id: str, token: str) -> str | None:
        account = await self._store.live_account(session_id)
        return None if account is None else str(account)


SERVICE_DEFINITION = Service(
    SERVICE, Config.from_env, build, users_pb2_grpc.add_UserServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
