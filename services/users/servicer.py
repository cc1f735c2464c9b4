"""UserService over gRPC: unpack the request, call the domain, return its message.

Field rules of the contract are enforced by the validation interceptor and
again by the domain; errors are domain errors mapped to status codes by the
error interceptor. Nothing here sets a status code or logs a request body.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Iterable
from typing import Final, TypeVar

import grpc
from google.longrunning import operations_pb2
from google.protobuf import timestamp_pb2

from interceptors.auth import current_session_id, require_account_id
from services.users import events
from services.users.domain import UsersDomain
from streammesh.users.v1 import users_pb2, users_pb2_grpc

SERVICE_NAME: Final = users_pb2.DESCRIPTOR.services_by_name["UserService"].full_name

R = TypeVar("R")


def _peer_host(peer: str) -> str:
    """The address part of grpc's peer string ("ipv4:1.2.3.4:5", "ipv6:[::1]:5")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return rest or peer


def _metadata(context: grpc.aio.ServicerContext, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return ""


class UserServicer(users_pb2_grpc.UserServiceServicer):
    def __init__(self, domain: UsersDomain, *, trusted_proxies: Iterable[str] = ()) -> None:
        """``trusted_proxies``: addresses or networks ("10.244.0.0/16": the pod range,
        where the edge's address is not fixed) whose X-Forwarded-For is believed."""
        self._domain = domain
        self._trusted_proxies = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies
        )

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False  # a unix socket or an unparsable peer is nobody's proxy
        return any(address in network for network in self._trusted_proxies)

    def client_address(self, context: grpc.aio.ServicerContext) -> str:
        """The caller's IP: the peer, or the edge's X-Forwarded-For when the peer is the edge."""
        peer = _peer_host(context.peer() or "")
        if not self._trusted(peer):
            return peer
        forwarded = _metadata(context, "x-forwarded-for")
        # Envoy appends the address it saw last; earlier entries are the
        # client's own claims.
        candidate = forwarded.rpartition(",")[2].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer

    async def _call(self, context: grpc.aio.ServicerContext, work: Awaitable[R]) -> R:
        ids = events.RequestIds(
            request_id=_metadata(context, "x-request-id"),
            correlation_id=_metadata(context, "x-correlation-id"),
        )
        reset = events.request_ids.set(ids)
        try:
            return await work
        finally:
            events.request_ids.reset(reset)

    async def CreateAccount(
        self, request: users_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Account:
        return await self._call(
            context,
            self._domain.create_account(
                email=request.email,
                password=request.password,
                first_name=request.first_name,
                last_name=request.last_name,
                country_code=request.country_code,
                language_code=request.language_code,
            ),
        )

    async def Login(
        self, request: users_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.LoginResponse:
        result = await self._domain.login(
            email=request.email,
            password=request.password,
            client_address=self.client_address(context),
            device_type=request.device_type,
            device_name=request.device_name,
        )
        return users_pb2.LoginResponse(
            access_token=result.access_token,
            token_type="Bearer",
            expire_time=timestamp_pb2.Timestamp(seconds=result.expires_at),
            account_id=str(result.account_id),
            refresh_token=result.refresh_token,
            refresh_expire_time=timestamp_pb2.Timestamp(seconds=result.refresh_expires_at),
            session_id=result.session_id,
        )

    async def RefreshSession(
        self, request: users_pb2.RefreshSessionRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.RefreshSessionResponse:
        result = await self._domain.refresh(request.refresh_token)
        return users_pb2.RefreshSessionResponse(
            access_token=result.access_token,
            token_type="Bearer",
            expire_time=timestamp_pb2.Timestamp(seconds=result.expires_at),
            account_id=str(result.account_id),
            refresh_token=result.refresh_token,
            refresh_expire_time=timestamp_pb2.Timestamp(seconds=result.refresh_expires_at),
            session_id=result.session_id,
        )

    async def CheckSession(
        self, request: users_pb2.CheckSessionRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.CheckSessionResponse:
        return await self._domain.check_session(require_account_id(), current_session_id())

    async def ListSessions(
        self, request: users_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListSessionsResponse:
        return await self._domain.list_sessions(
            require_account_id(),
            current_session_id(),
            request.account_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )

    async def UpdateSession(
        self, request: users_pb2.UpdateSessionRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Session:
        return await self._domain.rename_session(
            require_account_id(),
            current_session_id(),
            request.account_id,
            request.session,
            list(request.update_mask.paths),
        )

    async def DeleteSession(
        self, request: users_pb2.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.DeleteSessionResponse:
        await self._domain.revoke_session(
            require_account_id(), request.account_id, request.session_id
        )
        return users_pb2.DeleteSessionResponse()

    async def RevokeAllSessions(
        self, request: users_pb2.RevokeAllSessionsRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.RevokeAllSessionsResponse:
        count = await self._domain.revoke_all_sessions(require_account_id(), request.account_id)
        return users_pb2.RevokeAllSessionsResponse(revoked_count=count)

    async def ListPlans(
        self, request: users_pb2.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListPlansResponse:
        return await self._domain.list_plans(
            request.country, page_size=request.page_size, page_token=request.page_token
        )

    async def GetSubscription(
        self, request: users_pb2.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Subscription:
        return await self._domain.get_subscription(require_account_id(), request.account_id)

    async def ChangePlan(
        self, request: users_pb2.ChangePlanRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Subscription:
        caller = require_account_id()
        return await self._call(
            context, self._domain.change_plan(caller, request.account_id, request.plan_id)
        )

    async def ListBillingRecords(
        self, request: users_pb2.ListBillingRecordsRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListBillingRecordsResponse:
        return await self._domain.list_billing_records(
            require_account_id(),
            request.account_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )

    async def SetSubscriptionStatus(
        self, request: users_pb2.SetSubscriptionStatusRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Subscription:
        require_account_id()
        return await self._call(
            context,
            self._domain.set_subscription_status(
                request.account_id, request.status, request.payment_reference
            ),
        )

    async def StartPlayback(
        self, request: users_pb2.StartPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Playback:
        return await self._domain.start_playback(
            require_account_id(), current_session_id(), request.profile_id, request.title_id
        )

    async def HeartbeatPlayback(
        self, request: users_pb2.HeartbeatPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Playback:
        return await self._domain.heartbeat_playback(require_account_id(), request.playback_id)

    async def StopPlayback(
        self, request: users_pb2.StopPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.StopPlaybackResponse:
        await self._domain.stop_playback(require_account_id(), request.playback_id)
        return users_pb2.StopPlaybackResponse()

    async def CheckPlayback(
        self, request: users_pb2.CheckPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.CheckPlaybackResponse:
        return await self._domain.check_playback(
            require_account_id(), current_session_id(), request.profile_id
        )

    async def GetJwks(
        self, request: users_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.GetJwksResponse:
        return self._domain.jwks()

    async def GetAccount(
        self, request: users_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Account:
        return await self._domain.get_account(require_account_id(), request.account_id)

    async def ListProfiles(
        self, request: users_pb2.ListProfilesRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListProfilesResponse:
        return await self._domain.list_profiles(
            require_account_id(),
            request.account_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )

    async def CreateProfile(
        self, request: users_pb2.CreateProfileRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Profile:
        caller = require_account_id()
        return await self._call(
            context, self._domain.create_profile(caller, request.account_id, request.profile)
        )

    async def GetProfile(
        self, request: users_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Profile:
        return await self._domain.get_profile(require_account_id(), request.profile_id)

    async def UpdateProfile(
        self, request: users_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Profile:
        caller = require_account_id()
        return await self._call(
            context,
            self._domain.update_profile(caller, request.profile, list(request.update_mask.paths)),
        )

    async def DeleteAccount(
        self, request: users_pb2.DeleteAccountRequest, context: grpc.aio.ServicerContext
    ) -> operations_pb2.Operation:
        caller = require_account_id()
        return await self._call(
            context,
            self._domain.delete_account(caller, request.account_id, current_session_id()),
        )

    async def GetOperation(
        self, request: users_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> operations_pb2.Operation:
        caller = require_account_id()
        return await self._domain.get_operation(caller, request.operation_id)

    async def DeleteProfile(
        self, request: users_pb2.DeleteProfileRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.DeleteProfileResponse:
        caller = require_account_id()
        await self._call(context, self._domain.delete_profile(caller, request.profile_id))
        return users_pb2.DeleteProfileResponse()

    async def ListPreferences(
        self, request: users_pb2.ListPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListPreferencesResponse:
        return await self._domain.list_preferences(
            require_account_id(),
            request.profile_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )

    async def SetPreference(
        self, request: users_pb2.SetPreferenceRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Preference:
        caller = require_account_id()
        return await self._call(context, self._domain.set_preference(caller, request.preference))
