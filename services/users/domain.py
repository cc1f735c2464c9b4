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

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2
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
from services.users.billing import NOT_COLLECTED, PaymentProvider
from services.users.passwords import PasswordHasherPool
from services.users.ratelimit import LoginLimiter
from services.users.sagas.definitions import ACCOUNT_DELETION, PROFILE_UPDATE
from services.users.sessions import DEVICE_NAME_MAX, IssuedRefresh, SessionStore
from services.users.store import (
    NewAccount,
    NewSaga,
    ProfileFields,
    ProfileRecord,
    SubscriptionChange,
    SubscriptionRecord,
    UserStore,
)
from services.users.streams import Refused, SessionGone, StreamSlots
from services.users.tokens import TokenIssuer
from streammesh.users.v1 import users_pb2

# Saga names and states, as the saga log stores them (services/users/sagas).
PROFILE_UPDATE_SAGA: Final = PROFILE_UPDATE.name
ACCOUNT_DELETION_SAGA: Final = ACCOUNT_DELETION.name
SAGA_STATES: Final = {
    "RUNNING": users_pb2.SAGA_STATE_RUNNING,
    "COMPENSATING": users_pb2.SAGA_STATE_COMPENSATING,
    "COMPLETED": users_pb2.SAGA_STATE_COMPLETED,
    "COMPENSATED": users_pb2.SAGA_STATE_COMPENSATED,
}
ACCOUNT_DELETED_MESSAGE: Final = "the account has been deleted or is being deleted"


class SagaView(Protocol):
    """What the domain reads of a saga (services.users.sagas.log.Saga)."""

    @property
    def saga_id(self) -> str: ...

    @property
    def saga_type(self) -> str: ...

    @property
    def account_id(self) -> int: ...

    @property
    def state(self) -> str: ...

    @property
    def steps_done(self) -> int: ...

    @property
    def step_index(self) -> int: ...

    @property
    def attempts(self) -> int: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def last_error(self) -> str: ...

    @property
    def error_code(self) -> int: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime: ...


class SagaReader(Protocol):
    """The saga log as the domain reads it (services.users.sagas.log.SagaLog)."""

    async def get(self, saga_id: str) -> SagaView | None: ...


class NoSagas:
    """A saga reader for a domain built without the saga log (tests of other parts)."""

    async def get(self, saga_id: str) -> SagaView | None:
        return None


log = logging.getLogger(__name__)

PREFERENCES_PAGE_DEFAULT: Final = 100
PREFERENCES_PAGE_MAX: Final = 1000
WRONG_CREDENTIALS: Final = "wrong e-mail address or password"
SESSIONS_PAGE_DEFAULT: Final = 50
SESSIONS_PAGE_MAX: Final = 100
BILLING_PAGE_DEFAULT: Final = 20
BILLING_PAGE_MAX: Final = 100
ACTIVE: Final = "ACTIVE"
CANCELLED: Final = "CANCELLED"


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
    # key: account id -> users.v1.Subscription; invalidated by every change,
    # so a new plan's limit applies to the next playback start.
    subscription: ReadCache = field(default_factory=lambda: NoCache())


class SessionForgetting(Protocol):
    """What the domain needs of interceptors.auth.SessionCheck: drop what this
    process remembers of sessions it revoked."""

    def forget(self, *session_ids: str) -> None: ...


class _ForgetNothing:
    def forget(self, *session_ids: str) -> None:
        return None


@dataclass(frozen=True)
class Sessions:
    """The session and stream parts (Redis) and the payment port."""

    store: SessionStore
    slots: StreamSlots
    payments: PaymentProvider
    checks: SessionForgetting = field(default_factory=_ForgetNothing)
    default_plan: str = "basic"


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_at: int
    account_id: int
    refresh_token: str = ""
    refresh_expires_at: int = 0
    session_id: str = ""


class UsersDomain:
    def __init__(
        self,
        *,
        store: UserStore,
        caches: Caches,
        passwords: PasswordHasherPool,
        limiter: LoginLimiter,
        tokens: TokenIssuer,
        sessions: Sessions,
        max_profiles: int = 5,
        sagas: SagaReader | None = None,
        profile_update_sagas: bool = True,
    ) -> None:
        self._sagas: SagaReader = sagas or NoSagas()
        self._profile_update_sagas = profile_update_sagas
        self._sessions = sessions
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
        created, _ = await self._store.create_account(
            account,
            primary,
            events.account_created,
            plan_id=self._sessions.default_plan,
            payment_reference=NOT_COLLECTED,
        )
        return mapping.account_to_proto(created)

    async def login(
        self,
        *,
        email: str,
        password: str,
        client_address: str,
        device_type: int = 0,
        device_name: str = "",
    ) -> LoginResult:
        """Tokens of a new device session, or UNAUTHENTICATED (same answer for any mismatch)."""
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
        if account.deletion_saga_id:
            # Told only to whoever knows the password.
            raise Unauthenticated(ACCOUNT_DELETED_MESSAGE, reason="ACCOUNT_DELETED")
        await self._limiter.succeeded(clean_email, client_address)
        name = _device_name(device_name, device_type, "device_name")
        issued = await self._sessions.store.create(account.account_id, device_type, name)
        return self._tokens_for(issued)

    def _tokens_for(self, issued: IssuedRefresh) -> LoginResult:
        token, expires_at = self._tokens.issue(issued.account_id, session_id=issued.session_id)
        return LoginResult(
            access_token=token,
            expires_at=expires_at,
            account_id=issued.account_id,
            refresh_token=issued.refresh_token,
            refresh_expires_at=issued.refresh_expires_at,
            session_id=issued.session_id,
        )

    # -- device sessions --------------------------------------------------

    async def refresh(self, refresh_token: str) -> LoginResult:
        """New tokens for the refresh token's session (rotation; reuse revokes it)."""
        if not refresh_token or len(refresh_token) > 512:
            raise InvalidArgument.for_field("refresh_token", "must be 1 to 512 characters")

        async def reused(session_id: str, account_id: int) -> None:
            self._sessions.checks.forget(session_id)
            await self._sessions.slots.release(account_id, session_id)

        issued = await self._sessions.store.rotate(refresh_token, reused)
        account = await self._store.get_account(issued.account_id)
        if account is None or account.deletion_saga_id:
            # A deleted (or deleting) account's devices cannot renew their tokens.
            await self._sessions.store.revoke(issued.account_id, issued.session_id)
            self._sessions.checks.forget(issued.session_id)
            raise Unauthenticated(ACCOUNT_DELETED_MESSAGE, reason="ACCOUNT_DELETED")
        return self._tokens_for(issued)

    async def check_session(
        self, caller: str, session_id: str | None
    ) -> users_pb2.CheckSessionResponse:
        """The caller's session when it is live, read from the store (never remembered)."""
        if not session_id:
            raise Unauthenticated("the access token names no session", reason="TOKEN_INVALID")
        account = await self._sessions.store.live_account(session_id)
        if account is None or str(account) != caller:
            self._sessions.checks.forget(session_id)
            raise Unauthenticated(
                "the access token's session has been signed out", reason="SESSION_REVOKED"
            )
        return users_pb2.CheckSessionResponse(session_id=session_id, account_id=caller)

    async def list_sessions(
        self,
        caller: str,
        current_session: str | None,
        account_id: str,
        *,
        page_size: int,
        page_token: str,
    ) -> users_pb2.ListSessionsResponse:
        wanted = rules.parse_id(account_id, "account_id")
        errors = rules.Collector()
        size = errors.check(
            lambda: rules.page_size(
                page_size, default=SESSIONS_PAGE_DEFAULT, maximum=SESSIONS_PAGE_MAX
            )
        )
        after = errors.check(lambda: rules.decode_page_token(page_token))
        errors.raise_if_any()
        assert size is not None
        assert after is not None
        _require_owner(caller, wanted)
        every = await self._sessions.store.of_account(wanted)
        start = 0
        if after:
            ids = [session.session_id for session in every]
            start = ids.index(after) + 1 if after in ids else len(every)
        page = every[start : start + size]
        more = start + size < len(every)
        return users_pb2.ListSessionsResponse(
            sessions=[
                mapping.session_to_proto(s, current=s.session_id == current_session) for s in page
            ],
            next_page_token=rules.encode_page_token(page[-1].session_id) if more and page else "",
        )

    async def rename_session(
        self,
        caller: str,
        current_session: str | None,
        account_id: str,
        session: users_pb2.Session,
        mask_paths: list[str],
    ) -> users_pb2.Session:
        wanted = rules.parse_id(account_id, "account_id")
        unknown = [path for path in mask_paths if path != "device_name"]
        if unknown:
            raise InvalidArgument.for_field(
                "update_mask", f"only device_name can change, not {', '.join(unknown)}"
            )
        if not session.session_id:
            raise InvalidArgument.for_field("session.session_id", "is required")
        name = _device_name(session.device_name, 0, "session.device_name", required=True)
        _require_owner(caller, wanted)
        renamed = await self._sessions.store.rename(wanted, session.session_id, name)
        return mapping.session_to_proto(renamed, current=renamed.session_id == current_session)

    async def revoke_session(self, caller: str, account_id: str, session_id: str) -> None:
        wanted = rules.parse_id(account_id, "account_id")
        if not session_id:
            raise InvalidArgument.for_field("session_id", "is required")
        _require_owner(caller, wanted)
        revoked = await self._sessions.store.revoke(wanted, session_id)
        if not revoked:
            raise NotFound(f"session {session_id} does not exist", reason="SESSION_NOT_FOUND")
        self._sessions.checks.forget(*revoked)
        await self._sessions.slots.release(wanted, session_id)

    async def revoke_all_sessions(self, caller: str, account_id: str) -> int:
        """Sign out everywhere: every session of the account, and every stream slot."""
        wanted = rules.parse_id(account_id, "account_id")
        _require_owner(caller, wanted)
        revoked = await self._sessions.store.revoke(wanted)
        self._sessions.checks.forget(*revoked)
        await self._sessions.slots.release(wanted)
        return len(revoked)

    # -- plans and subscriptions ------------------------------------------

    async def list_plans(
        self, country: str, *, page_size: int, page_token: str
    ) -> users_pb2.ListPlansResponse:
        errors = rules.Collector()
        clean = errors.check(lambda: rules.country_code(country, "country"))
        errors.check(lambda: rules.decode_page_token(page_token))
        errors.raise_if_any()
        assert clean
        # A handful of plans: one page whatever page_size says.
        plans = await self._store.list_plans(clean)
        return users_pb2.ListPlansResponse(plans=[mapping.plan_to_proto(p) for p in plans])

    async def _subscription(self, account_id: int) -> users_pb2.Subscription:
        async def load() -> bytes | None:
            record = await self._store.get_subscription(account_id)
            return (
                None
                if record is None
                else mapping.subscription_to_proto(record).SerializeToString()
            )

        cached = await self._caches.subscription.get_or_load(str(account_id), load)
        if cached is None:
            raise NotFound(
                f"account {account_id} has no subscription", reason="SUBSCRIPTION_NOT_FOUND"
            )
        return users_pb2.Subscription.FromString(cached)

    async def get_subscription(self, caller: str, account_id: str) -> users_pb2.Subscription:
        wanted = rules.parse_id(account_id, "account_id")
        _require_owner(caller, wanted)
        return await self._subscription(wanted)

    async def change_plan(
        self, caller: str, account_id: str, plan_id: str
    ) -> users_pb2.Subscription:
        wanted = rules.parse_id(account_id, "account_id")
        if not plan_id:
            raise InvalidArgument.for_field("plan_id", "is required")
        _require_owner(caller, wanted)
        account = await self.get_account(caller, account_id)
        plan = await self._store.get_plan(plan_id, account.country_code)
        if plan is None:
            raise NotFound(f"plan {plan_id} does not exist", reason="PLAN_NOT_FOUND")
        current = await self._store.get_subscription(wanted)
        if current is not None and _unchanged(current, plan_id, ACTIVE):
            return mapping.subscription_to_proto(current)
        reference = await self._sessions.payments.authorize_plan(wanted, plan)

        def decide(locked: SubscriptionRecord) -> SubscriptionChange | None:
            if _unchanged(locked, plan_id, ACTIVE):
                return None
            return SubscriptionChange(plan_id, ACTIVE, "PLAN_CHANGED", reference)

        changed = await self._store.change_subscription(wanted, decide, events.subscription_changed)
        await self._invalidate_subscription(wanted)
        return mapping.subscription_to_proto(changed)

    async def set_subscription_status(
        self, account_id: str, status: users_pb2.SubscriptionStatus, payment_reference: str
    ) -> users_pb2.Subscription:
        """What a payment provider's webhook reports (internal)."""
        wanted = rules.parse_id(account_id, "account_id")
        if status not in (
            users_pb2.SUBSCRIPTION_STATUS_ACTIVE,
            users_pb2.SUBSCRIPTION_STATUS_PAST_DUE,
            users_pb2.SUBSCRIPTION_STATUS_CANCELLED,
        ):
            raise InvalidArgument.for_field("status", "must be ACTIVE, PAST_DUE or CANCELLED")
        wanted_status = mapping.status_from_proto(status)

        def decide(locked: SubscriptionRecord) -> SubscriptionChange | None:
            if locked.status == wanted_status:
                return None
            return SubscriptionChange(
                locked.plan.plan_id,
                wanted_status,
                "STATUS_CHANGED",
                payment_reference or NOT_COLLECTED,
            )

        changed = await self._store.change_subscription(wanted, decide, events.subscription_changed)
        await self._invalidate_subscription(wanted)
        if wanted_status == CANCELLED:
            await self._sessions.slots.release(wanted)
        return mapping.subscription_to_proto(changed)

    async def list_billing_records(
        self, caller: str, account_id: str, *, page_size: int, page_token: str
    ) -> users_pb2.ListBillingRecordsResponse:
        wanted = rules.parse_id(account_id, "account_id")
        errors = rules.Collector()
        size = errors.check(
            lambda: rules.page_size(
                page_size, default=BILLING_PAGE_DEFAULT, maximum=BILLING_PAGE_MAX
            )
        )
        after = errors.check(lambda: rules.decode_page_token(page_token))
        errors.raise_if_any()
        assert size is not None
        assert after is not None
        if after and not after.isdigit():
            raise InvalidArgument.for_field("page_token", "is not a token of this list")
        _require_owner(caller, wanted)
        records = await self._store.list_billing_records(
            wanted, before_id=int(after or 0), limit=size + 1
        )
        page = records[:size]
        return users_pb2.ListBillingRecordsResponse(
            billing_records=[mapping.billing_record_to_proto(r) for r in page],
            next_page_token=(
                rules.encode_page_token(str(page[-1].billing_record_id))
                if len(records) > size
                else ""
            ),
        )

    async def _invalidate_subscription(self, account_id: int) -> None:
        try:
            await self._caches.subscription.invalidate(str(account_id))
        except RedisError as err:
            log.warning("cache invalidation failed after a write", extra={"error": str(err)})

    # -- playback (stream slots) ------------------------------------------

    async def start_playback(
        self, caller: str, session_id: str | None, profile_id: str, title_id: str
    ) -> users_pb2.Playback:
        wanted = rules.parse_id(profile_id, "profile_id")
        if len(title_id) > 64:
            raise InvalidArgument.for_field("title_id", "must be at most 64 characters")
        if not session_id:
            raise Unauthenticated("the access token names no session", reason="TOKEN_INVALID")
        profile = await self._owned_profile(caller, wanted)
        account_id = int(profile.account_id)
        subscription = await self._subscription(account_id)
        if subscription.status == users_pb2.SUBSCRIPTION_STATUS_CANCELLED:
            raise FailedPrecondition(
                "the subscription is cancelled: choose a plan to watch again",
                reason="SUBSCRIPTION_INACTIVE",
            )
        limit = subscription.max_streams
        try:
            taken = await self._sessions.slots.start(
                account_id,
                limit=limit,
                profile_id=str(wanted),
                session_id=session_id,
                title_id=title_id,
            )
        except SessionGone as gone:
            self._sessions.checks.forget(session_id)
            raise Unauthenticated(
                "the access token's session has been signed out", reason="SESSION_REVOKED"
            ) from gone
        if isinstance(taken, Refused):
            raise _stream_limit(subscription, taken)
        return mapping.playback_to_proto(
            taken, ttl_ms=self._sessions.slots.ttl_ms, max_streams=limit
        )

    async def heartbeat_playback(self, caller: str, playback_id: str) -> users_pb2.Playback:
        if not playback_id or len(playback_id) > 64:
            raise InvalidArgument.for_field("playback_id", "must be 1 to 64 characters")
        account_id = int(caller)
        slot = await self._sessions.slots.heartbeat(account_id, playback_id)
        if slot is None:
            raise NotFound(
                f"playback {playback_id} is not live (stopped, expired or not yours): start again",
                reason="PLAYBACK_NOT_FOUND",
            )
        limit = (await self._subscription(account_id)).max_streams
        return mapping.playback_to_proto(
            slot, ttl_ms=self._sessions.slots.ttl_ms, max_streams=limit
        )

    async def stop_playback(self, caller: str, playback_id: str) -> None:
        if not playback_id or len(playback_id) > 64:
            raise InvalidArgument.for_field("playback_id", "must be 1 to 64 characters")
        await self._sessions.slots.stop(int(caller), playback_id)

    async def check_playback(
        self, caller: str, session_id: str | None, profile_id: str
    ) -> users_pb2.CheckPlaybackResponse:
        """The caller's session's live slot for the profile, else FAILED_PRECONDITION."""
        wanted = rules.parse_id(profile_id, "profile_id")
        for slot in await self._sessions.slots.live(int(caller)):
            if slot.session_id == session_id and slot.profile_id == str(wanted):
                return users_pb2.CheckPlaybackResponse(
                    playback=mapping.playback_to_proto(
                        slot, ttl_ms=self._sessions.slots.ttl_ms, max_streams=0
                    )
                )
        raise FailedPrecondition(
            f"profile {wanted} has no live stream on this device: start playback first",
            reason="NO_LIVE_STREAM",
            violations=[
                FieldViolation(
                    "profile_id", "has no live stream slot on this device", "NO_LIVE_STREAM"
                )
            ],
        )

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

    # -- account deletion (a saga) ----------------------------------------

    async def delete_account(
        self, caller: str, account_id: str, session_id: str | None
    ) -> operations_pb2.Operation:
        """Starts the account-deletion saga (or finds the one running) and returns
        its operation. From the commit on the account cannot sign in."""
        wanted = rules.parse_id(account_id, "account_id")
        _require_owner(caller, wanted)
        saga_id = str(uuid.uuid4())

        def build(profile_ids: list[int]) -> NewSaga:
            return NewSaga(
                saga_id=saga_id,
                saga_type=ACCOUNT_DELETION_SAGA,
                subject_id=str(wanted),
                account_id=wanted,
                done_at_start=ACCOUNT_DELETION.done_at_start,
                payload=json.dumps(
                    {
                        "account_id": str(wanted),
                        "profile_ids": [str(p) for p in profile_ids],
                        "requesting_session_id": session_id or "",
                    },
                    sort_keys=True,
                ),
            )

        deleting = await self._store.start_account_deletion(
            wanted, build, events.account_deletion_requested(wanted, saga_id)
        )
        try:
            await self._caches.account.invalidate(str(wanted))
        except RedisError as err:
            log.warning("cache invalidation failed after a write", extra={"error": str(err)})
        return await self.get_operation(caller, deleting)

    async def get_operation(self, caller: str, operation_id: str) -> operations_pb2.Operation:
        saga = await self._sagas.get(operation_id)
        if saga is None or saga.saga_type != ACCOUNT_DELETION_SAGA:
            raise NotFound(f"operation {operation_id} does not exist", reason="OPERATION_NOT_FOUND")
        _require_owner(caller, saga.account_id)
        return deletion_operation(saga)

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
                profiles=[await self._profile_proto(record) for record in records]
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

    async def _profile_proto(self, record: ProfileRecord) -> users_pb2.Profile:
        """The profile with its settings change's saga state (the saga log's)."""
        profile = mapping.profile_to_proto(record)
        if record.settings_saga_id:
            saga = await self._sagas.get(record.settings_saga_id)
            if saga is not None:
                profile.settings_change.CopyFrom(settings_change(saga))
        return profile

    async def _owned_profile(self, caller: str, profile_id: int) -> users_pb2.Profile:
        async def load() -> bytes | None:
            record = await self._store.get_profile(profile_id)
            if record is None:
                return None
            return (await self._profile_proto(record)).SerializeToString()

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
        """Writes the masked fields. A change of maturity_rating, kids_profile or
        language_code starts the profile-update saga in the same transaction
        (services/users/sagas): the answer's settings_change says RUNNING, and
        GetProfile tells how it ended."""
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
                language=profile.language_code,
            )

        updated = await self._store.update_profile(
            profile_id,
            update,
            events.profile_updated(paths),
            saga=profile_update_saga if self._profile_update_sagas else None,
        )
        await self._invalidate(profile=profile_id, profiles_of=updated.account_id)
        return await self._profile_proto(updated)

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


def _unchanged(subscription: SubscriptionRecord, plan_id: str, status: str) -> bool:
    return subscription.plan.plan_id == plan_id and subscription.status == status


def _device_name(name: str, device_type: int, field_name: str, *, required: bool = False) -> str:
    clean = " ".join(name.split())
    if len(clean) > DEVICE_NAME_MAX:
        raise InvalidArgument.for_field(field_name, f"must be at most {DEVICE_NAME_MAX} characters")
    if clean:
        return clean
    if required:
        raise InvalidArgument.for_field(field_name, "is required")
    known = set(users_pb2.DeviceType.values())
    kind = device_type if device_type in known else users_pb2.DEVICE_TYPE_UNSPECIFIED
    if kind == users_pb2.DEVICE_TYPE_UNSPECIFIED:
        return "Unknown device"
    return users_pb2.DeviceType.Name(kind).removeprefix("DEVICE_TYPE_").capitalize()


def _stream_limit(subscription: users_pb2.Subscription, refused: Refused) -> FailedPrecondition:
    devices = [
        f"{slot.device_name or 'Unknown device'} (profile {slot.profile_id})"
        for slot in refused.in_use
    ]
    limit = subscription.max_streams
    plan = subscription.plan_id
    streams = "stream" if limit == 1 else "streams"
    description = (
        f"the {plan} plan allows {limit} {streams} at once, in use on: "
        f"{', '.join(devices) or 'other devices'}"
    )
    return FailedPrecondition(
        description,
        reason="STREAM_LIMIT_REACHED",
        metadata={"max_streams": str(limit), "plan_id": plan, "devices": "; ".join(devices)},
        violations=[FieldViolation("profile_id", description, "STREAM_LIMIT_REACHED")],
    )


def expiry(expires_at: int) -> datetime:
    return datetime.fromtimestamp(expires_at, UTC)


def profile_update_saga(current: ProfileRecord, fields: ProfileFields) -> NewSaga | None:
    """The profile-update saga when the settings other services copy change."""
    before = (current.maturity_rating, current.kids_profile, current.language_code)
    after = (fields.maturity_rating, fields.kids_profile, fields.language_code)
    if before == after:
        return None
    return NewSaga(
        saga_id=str(uuid.uuid4()),
        saga_type=PROFILE_UPDATE_SAGA,
        subject_id=str(current.profile_id),
        account_id=current.account_id,
        done_at_start=PROFILE_UPDATE.done_at_start,
        payload=json.dumps(
            {
                "profile_id": str(current.profile_id),
                "account_id": str(current.account_id),
                "new": dict(zip(_SETTINGS, after, strict=True)),
                "previous": dict(zip(_SETTINGS, before, strict=True)),
            },
            sort_keys=True,
        ),
    )


_SETTINGS: Final = ("maturity_rating", "kids_profile", "language_code")


def _timestamp(value: datetime) -> Any:
    return mapping.timestamp(value)


def _status(saga: SagaView) -> status_pb2.Status:
    return status_pb2.Status(code=saga.error_code, message=saga.last_error)


def settings_change(saga: SagaView) -> users_pb2.ProfileSettingsChange:
    previous = saga.payload.get("previous", {})
    change = users_pb2.ProfileSettingsChange(
        saga_id=saga.saga_id,
        state=SAGA_STATES.get(saga.state, users_pb2.SAGA_STATE_UNSPECIFIED),
        previous_maturity_rating=str(previous.get("maturity_rating", "")),
        previous_kids_profile=bool(previous.get("kids_profile", False)),
        previous_language_code=str(previous.get("language_code", "")),
        create_time=_timestamp(saga.created_at),
        update_time=_timestamp(saga.updated_at),
    )
    if saga.state in ("COMPENSATING", "COMPENSATED") and saga.last_error:
        change.error.CopyFrom(_status(saga))
    return change


def deletion_operation(saga: SagaView) -> operations_pb2.Operation:
    """The AIP-151 operation of an account-deletion saga."""
    steps = ACCOUNT_DELETION.steps
    running = saga.state == "RUNNING" and saga.step_index < len(steps)
    metadata = users_pb2.DeleteAccountMetadata(
        account_id=str(saga.account_id),
        saga_id=saga.saga_id,
        state=SAGA_STATES.get(saga.state, users_pb2.SAGA_STATE_UNSPECIFIED),
        steps_done=saga.steps_done,
        steps_total=len(steps),
        current_step=steps[saga.step_index].name if running else "",
        current_step_attempts=saga.attempts,
        create_time=_timestamp(saga.created_at),
        update_time=_timestamp(saga.updated_at),
    )
    if saga.attempts and saga.last_error:
        metadata.last_error.CopyFrom(_status(saga))
    packed_metadata = any_pb2.Any()
    packed_metadata.Pack(metadata)
    operation = operations_pb2.Operation(
        name=f"operations/{saga.saga_id}", metadata=packed_metadata
    )
    if saga.state == "COMPLETED":
        operation.done = True
        operation.response.Pack(users_pb2.DeleteAccountResponse(account_id=str(saga.account_id)))
    return operation
