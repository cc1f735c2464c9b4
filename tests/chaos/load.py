"""A write-heavy load through the edge that remembers every acknowledged write.

Each viewer (a worker) signs up, logs in, takes a stream slot, then loops:
renames its profile, sets a preference, records a view, until told to stop.
A few viewers (``deleters``) delete their account once ``delete_now`` is
set (the account-deletion saga, issue 18, then runs through the faults).
Calls go through Envoy's gRPC port on the mesh's own client channel
(services/kit/clients.py: deadlines, and retries of retry-safe calls within
the budget, counted in ``grpc_client_attempts_total``). A call that fails is
tried again by the viewer (bounded, with backoff), with the same request, so
a write acknowledged on a later try is one write: CreateAccount repeats the
same email (ALREADY_EXISTS then means a previous try created it), a view its
view_id, a rename or preference its value.

The :class:`Ledger` keeps what was acknowledged (and what was only tried, so
the check can tell "lost" from "applied without an answer").
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import grpc
import grpc.aio

from services.kit import clients
from services.runtime.config import ServerConfig
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

T = TypeVar("T")

PASSWORD = "chaos monkey was here"
# Per call: a deadline per try, and the viewer's own tries over the channel's
# retries for at most TRY_FOR_SECONDS (a restarting service on a loaded
# machine may take half a minute).
CALL_TIMEOUT_SECONDS = 5.0
TRY_FOR_SECONDS = 120.0
BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 1.0
# Failures the viewer tries again (the service or its store is coming back).
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
PREFERENCE_KEY = "chaos.counter"


@dataclass
class Viewer:
    email: str
    account_id: str = ""
    profile_id: str = ""
    caller: tuple[tuple[str, str], ...] = ()
    playback_id: str = ""
    # Every value tried, in order, and the index of the last acknowledged one.
    names_tried: list[str] = field(default_factory=list)
    names_acked: int = -1
    preferences_tried: list[str] = field(default_factory=list)
    preferences_acked: int = -1
    views_acked: dict[str, str] = field(default_factory=dict)  # view_id -> title_id
    views_tried: dict[str, str] = field(default_factory=dict)
    # DeleteAccount acknowledged (the saga's operation id).
    deletion: str = ""


@dataclass
class Ledger:
    viewers: list[Viewer] = field(default_factory=list)
    acknowledged: int = 0
    failed: int = 0
    # (monotonic time, ok) of every call outcome, for recovery times.
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    # (monotonic time, "CODE: details") of every failed call: what users saw.
    failures: list[tuple[float, str]] = field(default_factory=list)

    def user_visible_recovery(self, start: float, end: float) -> float:
        """Seconds from a fault at ``start`` to the last failed call before ``end``
        (the next fault); 0 when no call failed."""
        failures = [t for t, ok in self.outcomes if not ok and start <= t < end]
        return round(max(failures) - start, 2) if failures else 0.0

    def record(self, ok: bool, failure: str = "") -> None:
        self.outcomes.append((time.monotonic(), ok))
        if failure:
            self.failures.append((time.monotonic(), failure))
        if ok:
            self.acknowledged += 1
        else:
            self.failed += 1


class GaveUp(Exception):
    """A call failed for TRY_FOR_SECONDS, or with a failure that is not transient."""


@dataclass
class Load:
    edge: str
    ledger: Ledger = field(default_factory=Ledger)
    titles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = ServerConfig(service="chaos-load", default_deadline_seconds=CALL_TIMEOUT_SECONDS)
        self._channel = clients.channel(self.edge, config)
        self._users = users_pb2_grpc.UserServiceStub(self._channel)
        self._history = history_pb2_grpc.HistoryServiceStub(self._channel)
        self._catalog = catalog_pb2_grpc.CatalogServiceStub(self._channel)
        # Set once every viewer is signed up and has recorded a view.
        self.all_writing = asyncio.Event()
        # Set by the test: the deleters delete their accounts now.
        self.delete_now = asyncio.Event()
        self._viewers = 0
        self._deleters: set[int] = set()

    async def close(self) -> None:
        await self._channel.close()

    async def read_titles(self) -> None:
        page = await self._call(
            lambda: self._catalog.ListTitles(
                catalog_pb2.ListTitlesRequest(country="US", max_maturity="PG-13", page_size=50),
                timeout=CALL_TIMEOUT_SECONDS,
            ),
            count=False,
        )
        self.titles = [t.title_id for t in page.titles]
        if not self.titles:
            raise GaveUp("no titles in the catalog")

    async def run(
        self, viewers: int, stop: asyncio.Event, seed: int = 21, deleters: int = 0
    ) -> None:
        """``viewers`` workers until ``stop``; each ends its current write first.
        The last ``deleters`` of them delete their account on ``delete_now``."""
        self._viewers = viewers
        self._deleters = set(range(viewers - deleters, viewers))
        await asyncio.gather(
            *(self._worker(n, stop, random.Random(seed * 1000 + n)) for n in range(viewers))
        )

    async def _worker(self, number: int, stop: asyncio.Event, rng: random.Random) -> None:
        viewer = Viewer(f"chaos-{uuid.uuid4().hex[:12]}-{number}@chaos.streammesh.dev")
        self.ledger.viewers.append(viewer)
        with contextlib.suppress(GaveUp):
            await self._sign_up(viewer)
            step = 0
            while not stop.is_set():
                if number in self._deleters and self.delete_now.is_set():
                    await self._delete(viewer)
                    return
                step += 1
                await self._rename(viewer, f"Viewer {number}.{step}")
                await self._prefer(viewer, str(step))
                await self._view(viewer, rng.choice(self.titles))

    async def _sign_up(self, viewer: Viewer) -> None:
        request = users_pb2.CreateAccountRequest(
            email=viewer.email,
            password=PASSWORD,
            first_name="Chaos",
            last_name="Monkey",
            country_code="US",
            language_code="en-US",
        )
        try:
            account = await self._call(
                lambda: self._users.CreateAccount(request, timeout=CALL_TIMEOUT_SECONDS),
                accept=(grpc.StatusCode.ALREADY_EXISTS,),
            )
        except _Accepted:
            account = None  # an earlier try created it; Login finds it
        login = await self._call(
            lambda: self._users.Login(
                users_pb2.LoginRequest(email=viewer.email, password=PASSWORD),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
        viewer.account_id = account.account_id if account is not None else login.account_id
        viewer.caller = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await self._call(
            lambda: self._users.ListProfiles(
                users_pb2.ListProfilesRequest(account_id=viewer.account_id),
                metadata=viewer.caller,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
        viewer.profile_id = min(profiles.profiles, key=lambda p: int(p.profile_id)).profile_id
        await self._start_playback(viewer)

    async def _start_playback(self, viewer: Viewer) -> None:
        playback = await self._call(
            lambda: self._users.StartPlayback(
                users_pb2.StartPlaybackRequest(profile_id=viewer.profile_id),
                metadata=viewer.caller,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
        viewer.playback_id = playback.playback_id

    async def _delete(self, viewer: Viewer) -> None:
        request = users_pb2.DeleteAccountRequest(account_id=viewer.account_id)
        try:
            operation = await self._call(
                lambda: self._users.DeleteAccount(
                    request, metadata=viewer.caller, timeout=CALL_TIMEOUT_SECONDS
                ),
                # A try whose answer was lost deleted the account: its token is refused.
                accept=(grpc.StatusCode.UNAUTHENTICATED,),
            )
        except _Accepted:
            viewer.deletion = "(accepted by an earlier try)"
            return
        viewer.deletion = operation.name

    async def _rename(self, viewer: Viewer, name: str) -> None:
        viewer.names_tried.append(name)
        request = users_pb2.UpdateProfileRequest(
            profile=users_pb2.Profile(profile_id=viewer.profile_id, profile_name=name)
        )
        request.update_mask.paths.append("profile_name")
        await self._call(
            lambda: self._users.UpdateProfile(
                request, metadata=viewer.caller, timeout=CALL_TIMEOUT_SECONDS
            )
        )
        viewer.names_acked = len(viewer.names_tried) - 1

    async def _prefer(self, viewer: Viewer, value: str) -> None:
        viewer.preferences_tried.append(value)
        request = users_pb2.SetPreferenceRequest(
            preference=users_pb2.Preference(
                profile_id=viewer.profile_id, key=PREFERENCE_KEY, value=value
            )
        )
        await self._call(
            lambda: self._users.SetPreference(
                request, metadata=viewer.caller, timeout=CALL_TIMEOUT_SECONDS
            )
        )
        viewer.preferences_acked = len(viewer.preferences_tried) - 1

    async def _view(self, viewer: Viewer, title_id: str) -> None:
        view_id = str(uuid.uuid4())
        viewer.views_tried[view_id] = title_id
        view = history_pb2.View(
            view_id=view_id,
            title_id=title_id,
            position_seconds=600,
            duration_seconds=1200,
            device_type="tv",
        )
        view.watch_time.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
        request = history_pb2.RecordViewRequest(profile_id=viewer.profile_id, view=view)

        async def record() -> history_pb2.View:
            try:
                return await self._history.RecordView(
                    request, metadata=viewer.caller, timeout=CALL_TIMEOUT_SECONDS
                )
            except grpc.aio.AioRpcError as err:
                # The slot lapsed while a service was down: take one again.
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    await self._start_playback(viewer)
                raise

        await self._call(record, also_transient=(grpc.StatusCode.FAILED_PRECONDITION,))
        viewer.views_acked[view_id] = title_id
        if sum(1 for v in self.ledger.viewers if v.views_acked) >= self._viewers:
            self.all_writing.set()

    async def _call(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        accept: tuple[grpc.StatusCode, ...] = (),
        also_transient: tuple[grpc.StatusCode, ...] = (),
        count: bool = True,
    ) -> T:
        backoff = BACKOFF_SECONDS
        give_up_at = time.monotonic() + TRY_FOR_SECONDS
        while time.monotonic() < give_up_at:
            try:
                result = await call()
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code in accept:
                    if count:
                        self.ledger.record(True)
                    raise _Accepted from err
                if count:
                    self.ledger.record(False, f"{code.name}: {(err.details() or '')[:60]}")
                if code not in TRANSIENT and code not in also_transient:
                    raise GaveUp(f"{code.name}: {err.details()}") from err
                await asyncio.sleep(random.uniform(0, backoff))
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if count:
                self.ledger.record(True)
            return result
        raise GaveUp(f"still failing after {TRY_FOR_SECONDS:.0f} s")


class _Accepted(Exception):
    """The call answered a code the caller takes as success (ALREADY_EXISTS of a retry)."""
