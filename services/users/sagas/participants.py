"""The commands the orchestrator sends: one coroutine per step and compensation.

Remote steps are the participants' internal RPCs, each carrying
``(saga_id, step)`` as its idempotency key, called with the orchestrator's
service token: an access token of account 0 (no account has id 0) whose
device session the orchestrator keeps in the users session store, so every
participant's auth interceptor accepts it like any token and its handler
checks it is the orchestrator's (services/runtime/sagas.py). Local steps
write the users database or Redis directly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import grpc.aio

from services.runtime.object_store import ObjectStore
from services.runtime.sagas import ORCHESTRATOR_ACCOUNT_ID
from services.users import events
from services.users.sagas.log import Saga
from services.users.sessions import SessionStore
from services.users.store import UserStore
from services.users.tokens import TokenIssuer
from streammesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2, recommendations_pb2_grpc
from streammesh.search.v1 import search_pb2, search_pb2_grpc

# The service token is renewed this long before it expires.
TOKEN_RENEW_MARGIN_SECONDS: Final = 60.0
DEVICE_NAME: Final = "saga-orchestrator"

Command = Callable[[Saga, str], Awaitable[str]]


class ServiceToken:
    """The orchestrator's access token (see the module docstring), renewed before expiry."""

    def __init__(self, sessions: SessionStore, issuer: TokenIssuer) -> None:
        self._sessions = sessions
        self._issuer = issuer
        self._token = ""
        self._expires_at = 0.0

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        if time.time() > self._expires_at - TOKEN_RENEW_MARGIN_SECONDS:
            issued = await self._sessions.create(ORCHESTRATOR_ACCOUNT_ID, 0, DEVICE_NAME)
            token, expires_at = self._issuer.issue(
                ORCHESTRATOR_ACCOUNT_ID, session_id=issued.session_id
            )
            self._token, self._expires_at = token, float(expires_at)
        return (("authorization", f"Bearer {self._token}"),)

    def forget(self) -> None:
        """A participant refused the token (its session is gone: Redis lost it):
        the next command gets a new session and token."""
        self._expires_at = 0.0


@dataclass
class Participants:
    """Everything the steps talk to."""

    store: UserStore
    sessions: SessionStore
    token: ServiceToken
    recommendations: grpc.aio.Channel
    search: grpc.aio.Channel
    history: grpc.aio.Channel
    analytics: grpc.aio.Channel
    objects: ObjectStore
    uploads_bucket: str
    poll_window_seconds: int
    # Drops the users service's cached copies of a profile / an account.
    invalidate: Callable[[Saga], Awaitable[None]]

    def commands(self) -> dict[str, Command]:
        return {
            "recommendations.apply_settings": self._recs_apply,
            "recommendations.apply_settings:compensate": self._recs_apply,
            "search.apply_settings": self._search_apply,
            "search.apply_settings:compensate": self._search_apply,
            "users.revoke_sessions": self._revoke_sessions,
            "history.purge": self._history_purge,
            "recommendations.purge": self._recs_purge,
            "search.purge": self._search_purge,
            "analytics.anonymise": self._analytics_anonymise,
            "objects.delete_uploads": self._delete_uploads,
            "users.delete_account": self._delete_account,
        }

    # -- profile update ---------------------------------------------------

    @staticmethod
    def _settings(saga: Saga, step: str) -> dict[str, Any]:
        which = "previous" if step.endswith(":compensate") else "new"
        return dict(saga.payload[which])

    async def _recs_apply(self, saga: Saga, step: str) -> str:
        stub = recommendations_pb2_grpc.RecommendationServiceStub(self.recommendations)
        reply = await stub.ApplyProfileSettings(
            recommendations_pb2.ApplyProfileSettingsRequest(
                saga_id=saga.saga_id,
                step=step,
                profile_id=saga.subject_id,
                settings=recommendations_pb2.ProfileSettings(**self._settings(saga, step)),
            ),
            metadata=await self.token.metadata(),
        )
        return _replayed(reply.replayed)

    async def _search_apply(self, saga: Saga, step: str) -> str:
        stub = search_pb2_grpc.SearchServiceStub(self.search)
        reply = await stub.ApplyProfileSettings(
            search_pb2.ApplyProfileSettingsRequest(
                saga_id=saga.saga_id,
                step=step,
                profile_id=saga.subject_id,
                settings=search_pb2.ProfileSettings(**self._settings(saga, step)),
            ),
            metadata=await self.token.metadata(),
        )
        return _replayed(reply.replayed)

    # -- account deletion -------------------------------------------------

    def _purge_fields(self, saga: Saga, step: str) -> dict[str, Any]:
        return {
            "saga_id": saga.saga_id,
            "step": step,
            "account_id": str(saga.account_id),
            "profile_ids": list(saga.payload["profile_ids"]),
        }

    async def _revoke_sessions(self, saga: Saga, step: str) -> str:
        keep = str(saga.payload.get("requesting_session_id", ""))
        revoked = 0
        for session in await self.sessions.of_account(saga.account_id):
            if session.session_id != keep:
                revoked += len(await self.sessions.revoke(saga.account_id, session.session_id))
        return f"{revoked} sessions revoked"

    async def _history_purge(self, saga: Saga, step: str) -> str:
        stub = history_pb2_grpc.HistoryServiceStub(self.history)
        reply = await stub.PurgeAccountData(
            history_pb2.PurgeAccountDataRequest(**self._purge_fields(saga, step)),
            metadata=await self.token.metadata(),
        )
        return _counted(reply.deleted_count, reply.replayed)

    async def _recs_purge(self, saga: Saga, step: str) -> str:
        stub = recommendations_pb2_grpc.RecommendationServiceStub(self.recommendations)
        reply = await stub.PurgeAccountData(
            recommendations_pb2.PurgeAccountDataRequest(**self._purge_fields(saga, step)),
            metadata=await self.token.metadata(),
        )
        return _counted(reply.deleted_count, reply.replayed)

    async def _search_purge(self, saga: Saga, step: str) -> str:
        stub = search_pb2_grpc.SearchServiceStub(self.search)
        reply = await stub.PurgeAccountData(
            search_pb2.PurgeAccountDataRequest(**self._purge_fields(saga, step)),
            metadata=await self.token.metadata(),
        )
        return _counted(reply.deleted_count, reply.replayed)

    async def _analytics_anonymise(self, saga: Saga, step: str) -> str:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(self.analytics)
        reply = await stub.AnonymiseAccountData(
            analytics_pb2.AnonymiseAccountDataRequest(**self._purge_fields(saga, step)),
            metadata=await self.token.metadata(),
        )
        return _counted(reply.anonymised_count, reply.replayed)

    async def _delete_uploads(self, saga: Saga, step: str) -> str:
        # Deleting a missing object is not an error (S3's rule): a repeat
        # finds fewer objects and deletes those.
        prefix = f"uploads/{saga.account_id}/"
        await self.objects.ensure_bucket(self.uploads_bucket)
        found = await self.objects.list(self.uploads_bucket, prefix)
        for info in found:
            await self.objects.delete(self.uploads_bucket, info.key)
        return f"{len(found)} objects deleted"

    async def _delete_account(self, saga: Saga, step: str) -> str:
        deleted = await self.store.delete_account(
            saga.account_id, events.account_deleted(saga.account_id, saga.saga_id)
        )
        # The requesting device keeps polling its operation for the poll
        # window; its refresh is refused (the account is gone), so it ends then.
        keep = str(saga.payload.get("requesting_session_id", ""))
        if keep:
            await self.sessions.expire(keep, self.poll_window_seconds)
        await self.invalidate(saga)
        return "account deleted" if deleted else "account was already deleted (replayed)"


def _replayed(replayed: bool) -> str:
    return "replayed: already applied" if replayed else "applied"


def _counted(count: int, replayed: bool) -> str:
    return "replayed: already applied" if replayed else f"{count} rows"
