"""The users domain: accounts, profiles, preferences and sign-in.

Inputs are checked by :mod:`services.users.rules`; state-dependent rules run
inside the store's transaction (see store.py). Ownership is decided here:
every owner operation takes the verified caller's account id and answers
PERMISSION_DENIED for another account's resource, whether the call came
through the edge or straight to the service port.

Reads of accounts and profiles go through the Redis cache (cache-aside,
serialized contract messages); every committed write invalidates what it
changed before it returns, so the writer's next read sees its write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from redis.exceptions import RedisError

from services.runtime.cache import Loader
from services.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.users import events, mapping, rules
from services.users.passwords import PasswordHasherPool
from services.users.ratelimit import LoginLimiter
from services.users.store import NewAccount, ProfileFields, ProfileRecord, UserStore
from services.users.tokens import TokenIssuer
from streammesh.users.v1 import users_pb2

log = logging.getLogger(__name__)

PREFERENCES_PAGE_DEFAULT: Final = 100
PREFERENCES_PAGE_MAX: Final = 1000
WRONG_CREDENTIALS: Final = "wrong e-mail address or password"


class ReadCache(Protocol):
    """What the domain needs of services.runtime.cache.Cache."""

    async def get_or_load(self, key: str, loader: Loader) -> bytes | None: ...

    async def invalidate(self, *keys: str) -> None: ...


class NoCache:
    """Every read from the store (``cache_ttl_seconds = 0``)."""

    async def get_or_load(self, key: str, loader: Loader) -> bytes | None:
        return await loader()

    async def invalidate(self, *keys: str) -> None:
        return None


@dataclass(frozen=True)
class Caches:
    account: ReadCache  # key: account id -> users.v1.Account
    profile: ReadCache  # key: profile id -> users.v1.Profile
    profiles: ReadCache  # key: account id -> users.v1.ListProfilesResponse (all profiles)


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_at: int
    account_id: int


class UsersDomain:
    def __init__(
        self,
        *,
        store: UserStore,
        caches: Caches,
        passwords: PasswordHasherPool,
        limiter: LoginLimiter,
        tokens: TokenIssuer,
        max_profiles: int = 5,
    ) -> None:
        self._store = store
        self._caches = caches
        self._passwords = passwords
        self._limiter = limiter
        self._tokens = tokens
        self._max_profiles = max_profiles

    # -- accounts ---------------------------------------------------------

    async def create_account(
        self,
        *,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        country_code: str,
        language_code: str,
    ) -> users_pb2.Account:
        errors = rules.Collector()
        clean_email = errors.check(lambda: rules.normalise_email(email))
        errors.check(lambda: rules.check_password(password))
        first = errors.check(
            lambda: rules.clean_text(first_name, "first_name", max_length=rules.NAME_MAX)
        )
        last = errors.check(
            lambda: rules.clean_text(last_name, "last_name", max_length=rules.NAME_MAX)
        )
        country = errors.check(lambda: rules.country_code(country_code))
        language = errors.check(lambda: rules.language_tag(language_code))
        errors.raise_if_any()
        assert clean_email
        assert first
        assert last
        assert country
        assert language
        account = NewAccount(
            email=clean_email,
            password_hash=await self._passwords.hash(password),
            first_name=first,
            last_name=last,
            country_code=country,
            language_code=language,
        )
        # The primary profile is named after the account holder; its name
        # is cut to the profile name limit, which is shorter.
        primary = ProfileFields(
            profile_name=first[: rules.PROFILE_NAME_MAX].strip(),
            avatar_url="",
            maturity_rating=rules.maturity_rating("", "", kids_profile=False),
            kids_profile=False,
        )
        created, _ = await self._store.create_account(account, primary, events.account_created)
        return mapping.account_to_proto(created)

    async def login(self, *, email: str, password: str, client_address: str) -> LoginResult:
        """A token for the account, or UNAUTHENTICATED (same answer for any mismatch)."""
        clean_email = email.strip().lower()
        if not clean_email or len(clean_email) > rules.EMAIL_MAX:
            raise InvalidArgument.for_field("email", "must be an e-mail address")
        if not password or len(password) > rules.PASSWORD_MAX:
            raise InvalidArgument.for_field(
                "password", f"must be 1 to {rules.PASSWORD_MAX} characters"
            )
        await self._limiter.admit(clean_email, client_address)
        account = await self._store.find_account_by_email(clean_email)
        if account is None:
            await self._passwords.burn(password)
            raise Unauthenticated(WRONG_CREDENTIALS, reason="WRONG_CREDENTIALS")
        if not await self._passwords.verify(account.password_hash, password):
            raise Unauthenticated(WRONG_CREDENTIALS, reason="WRONG_CREDENTIALS")
        await self._limiter.succeeded(clean_email, client_address)
        token, expires_at = self._tokens.issue(account.account_id)
        return LoginResult(access_token=token, expires_at=expires_at, account_id=account.account_id)

    def jwks(self) -> users_pb2.GetJwksResponse:
        return users_pb2.GetJwksResponse(keys=[users_pb2.JsonWebKey(**self._tokens.key.jwk)])

    async def get_account(self, caller: str, account_id: str) -> users_pb2.Account:
        wanted = rules.parse_id(account_id, "account_id")
        _require_owner(caller, wanted)

        async def load() -> bytes | None:
            record = await self._store.get_account(wanted)
            return None if record is None else mapping.account_to_proto(record).SerializeToString()

        cached = await self._caches.account.get_or_load(str(wanted), load)
        if cached is None:
            raise NotFound(f"account {wanted} does not exist", reason="ACCOUNT_NOT_FOUND")
        return users_pb2.Account.FromString(cached)

    # -- profiles ---------------------------------------------------------

    async def list_profiles(
        self, caller: str, account_id: str, *, page_size: int, page_token: str
    ) -> users_pb2.ListProfilesResponse:
        wanted = rules.parse_id(account_id, "account_id")
        errors = rules.Collector()
        size = errors.check(
            lambda: rules.page_size(
                page_size, default=self._max_profiles, maximum=self._max_profiles
            )
        )
        after = errors.check(lambda: rules.decode_page_token(page_token))
        errors.raise_if_any()
        assert size is not None
        assert after is not None
        _require_owner(caller, wanted)

        async def load() -> bytes | None:
            records = await self._store.list_profiles(wanted)
            if not records:
                return None  # every account has its primary profile: no account
            return users_pb2.ListProfilesResponse(
                profiles=[mapping.profile_to_proto(record) for record in records]
            ).SerializeToString()

        cached = await self._caches.profiles.get_or_load(str(wanted), load)
        if cached is None:
            raise NotFound(f"account {wanted} does not exist", reason="ACCOUNT_NOT_FOUND")
        every = list(users_pb2.ListProfilesResponse.FromString(cached).profiles)
        # Token: the id of the last profile returned; the order is stable.
        start = 0
        if after:
            ids = [profile.profile_id for profile in every]
            start = ids.index(after) + 1 if after in ids else len(every)
        page = every[start : start + size]
        more = start + size < len(every)
        return users_pb2.ListProfilesResponse(
            profiles=page,
            next_page_token=rules.encode_page_token(page[-1].profile_id) if more and page else "",
        )

    async def _owned_profile(self, caller: str, profile_id: int) -> users_pb2.Profile:
        async def load() -> bytes | None:
            record = await self._store.get_profile(profile_id)
            return None if record is None else mapping.profile_to_proto(record).SerializeToString()

        cached = await self._caches.profile.get_or_load(str(profile_id), load)
        if cached is None:
            raise NotFound(f"profile {profile_id} does not exist", reason="PROFILE_NOT_FOUND")
        profile = users_pb2.Profile.FromString(cached)
        _require_owner(caller, int(profile.account_id))
        return profile

    async def get_profile(self, caller: str, profile_id: str) -> users_pb2.Profile:
        return await self._owned_profile(caller, rules.parse_id(profile_id, "profile_id"))

    async def create_profile(
        self, caller: str, account_id: str, profile: users_pb2.Profile
    ) -> users_pb2.Profile:
        wanted = rules.parse_id(account_id, "account_id")
        if profile.primary:
            description = "an account has exactly one primary profile, made with the account"
            raise FailedPrecondition(
                f"profile.primary: {description}",
                reason="PRIMARY_PROFILE_EXISTS",
                violations=[FieldViolation("profile.primary", description, "PRIMARY_EXISTS")],
            )
        fields = rules.new_profile_fields(
            profile_name=profile.profile_name,
            avatar=profile.avatar_url,
            rating=profile.maturity_rating,
            kids_profile=profile.kids_profile,
        )
        _require_owner(caller, wanted)
        created = await self._store.create_profile(
            wanted, fields, max_profiles=self._max_profiles, event=events.profile_created
        )
        await self._invalidate(profiles_of=wanted)
        return mapping.profile_to_proto(created)

    async def update_profile(
        self, caller: str, profile: users_pb2.Profile, mask_paths: list[str]
    ) -> users_pb2.Profile:
        profile_id = rules.parse_id(profile.profile_id, "profile.profile_id")
        paths = rules.update_paths(mask_paths)

        def update(current: ProfileRecord) -> ProfileFields:
            _require_owner(caller, current.account_id)
            return rules.updated_profile_fields(
                current,
                paths,
                profile_name=profile.profile_name,
                avatar=profile.avatar_url,
                rating=profile.maturity_rating,
                kids_profile=profile.kids_profile,
            )

        updated = await self._store.update_profile(
            profile_id, update, events.profile_updated(paths)
        )
        await self._invalidate(profile=profile_id, profiles_of=updated.account_id)
        return mapping.profile_to_proto(updated)

    async def delete_profile(self, caller: str, profile_id: str) -> None:
        wanted = rules.parse_id(profile_id, "profile_id")

        def guard(current: ProfileRecord) -> None:
            _require_owner(caller, current.account_id)

        deleted = await self._store.delete_profile(wanted, guard, events.profile_deleted)
        await self._invalidate(profile=wanted, profiles_of=deleted.account_id)

    # -- preferences ------------------------------------------------------

    async def list_preferences(
        self, caller: str, profile_id: str, *, page_size: int, page_token: str
    ) -> users_pb2.ListPreferencesResponse:
        wanted = rules.parse_id(profile_id, "profile_id")
        errors = rules.Collector()
        size = errors.check(
            lambda: rules.page_size(
                page_size, default=PREFERENCES_PAGE_DEFAULT, maximum=PREFERENCES_PAGE_MAX
            )
        )
        after = errors.check(lambda: rules.decode_page_token(page_token))
        errors.raise_if_any()
        assert size is not None
        assert after is not None
        await self._owned_profile(caller, wanted)
        records = await self._store.list_preferences(wanted, after_key=after, limit=size + 1)
        page = records[:size]
        return users_pb2.ListPreferencesResponse(
            preferences=[mapping.preference_to_proto(record) for record in page],
            next_page_token=rules.encode_page_token(page[-1].key) if len(records) > size else "",
        )

    async def set_preference(
        self, caller: str, preference: users_pb2.Preference
    ) -> users_pb2.Preference:
        errors = rules.Collector()
        profile_id = errors.check(
            lambda: rules.parse_id(preference.profile_id, "preference.profile_id")
        )
        key = errors.check(lambda: rules.preference_key(preference.key))
        value = errors.check(lambda: rules.preference_value(preference.value))
        errors.raise_if_any()
        assert profile_id is not None
        assert key is not None
        assert value is not None

        def guard(current: ProfileRecord) -> None:
            _require_owner(caller, current.account_id)

        stored = await self._store.set_preference(
            profile_id, key, value, guard, events.preference_updated
        )
        return mapping.preference_to_proto(stored)

    async def _invalidate(self, *, profiles_of: int, profile: int | None = None) -> None:
        try:
            await self._caches.profiles.invalidate(str(profiles_of))
            if profile is not None:
                await self._caches.profile.invalidate(str(profile))
        except RedisError as err:
            # The write is committed and must be reported as done; a stale
            # entry lives at most one TTL.
            log.warning("cache invalidation failed after a write", extra={"error": str(err)})


def _require_owner(caller: str, account_id: int) -> None:
    if caller != str(account_id):
        raise PermissionDenied(
            "this resource belongs to another account", reason="NOT_RESOURCE_OWNER"
        )


def expiry(expires_at: int) -> datetime:
    return datetime.fromtimestamp(expires_at, UTC)
