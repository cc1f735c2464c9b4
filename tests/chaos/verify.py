"""After the faults: every acknowledged write, in every store that should hold it.

* the owning stores, as the user sees them through the edge: the account
  (Login), its one profile (no duplicate from a retried sign-up), the last
  acknowledged rename and preference (or a later one that was tried: a write
  that failed may still have been applied, never an earlier one), every
  acknowledged view in the history, each once;
* the event streams (the embedded Redis): an ``account.created`` per account,
  at least as many ``profile.updated`` / ``preference.updated`` events as
  acknowledged writes, a ``view.recorded`` per acknowledged view;
* every consumer group of those streams (search, recommendations,
  analytics, ...): nothing pending, nothing left to read, so each reader
  has applied every event;
* the warehouse figures (analytics): per title, at least the acknowledged
  views and at most the tried ones (a duplicate would count twice);
* an acknowledged DeleteAccount: the account signs in no more, and its saga
  reached ``user.account.deleted`` (every participant purged) despite the faults.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc.aio
from redis.asyncio import Redis

from services.events import streams
from services.users import events as user_events
from streammesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2 as history_events
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.chaos.load import CALL_TIMEOUT_SECONDS, PASSWORD, PREFERENCE_KEY, Ledger, Viewer
from tests.chaos.meshproc import MeshProcess
from tests.events.helpers import read_stream

# Bound on waiting for the consumers and the warehouse to catch up.
CATCH_UP_SECONDS = 120.0
VIEW_RECORDED = "history.view.recorded"


@dataclass
class Findings:
    writes_acknowledged: int = 0
    writes_lost: list[str] = field(default_factory=list)
    events_lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    consumers_behind: list[str] = field(default_factory=list)
    warehouse_wrong: list[str] = field(default_factory=list)
    viewers_checked: int = 0
    accounts_deleted: int = 0
    events_read: int = 0


async def verify(ledger: Ledger, mesh: MeshProcess) -> Findings:
    """Every write ``ledger`` saw acknowledged, looked for in every store of ``mesh``
    that should hold it: through its edge, its Redis streams and its analytics."""
    edge = mesh.edge
    redis_url = mesh.env["STREAMMESH_REDIS_URL"]
    analytics = f"127.0.0.1:{mesh.ports['analytics']}"
    found = Findings()
    everyone = [v for v in ledger.viewers if v.account_id and v.profile_id]
    viewers = [v for v in everyone if not v.deletion]
    deleted = [v for v in everyone if v.deletion]
    found.viewers_checked = len(everyone)
    found.accounts_deleted = len(deleted)
    found.writes_acknowledged = sum(
        1 + (v.names_acked + 1) + (v.preferences_acked + 1) + len(v.views_acked) + bool(v.deletion)
        for v in everyone
    )
    async with grpc.aio.insecure_channel(edge) as channel:
        users = users_pb2_grpc.UserServiceStub(channel)
        history = history_pb2_grpc.HistoryServiceStub(channel)
        for viewer in viewers:
            await _owning_stores(viewer, users, history, found)
        for viewer in deleted:
            await _deleted(viewer, users, found)
    redis = Redis.from_url(redis_url, socket_timeout=10)
    try:
        await _streams(viewers, redis, found)
        await _deletions(deleted, redis, found)
        await _consumers(redis, found)
    finally:
        await redis.aclose()
    async with grpc.aio.insecure_channel(analytics) as channel:
        # Anonymising keeps a deleted account's views in the figures.
        await _warehouse(everyone, analytics_pb2_grpc.AnalyticsServiceStub(channel), found)
    return found


async def _owning_stores(
    viewer: Viewer,
    users: users_pb2_grpc.UserServiceStub,
    history: history_pb2_grpc.HistoryServiceStub,
    found: Findings,
) -> None:
    timeout = CALL_TIMEOUT_SECONDS
    login = await users.Login(
        users_pb2.LoginRequest(email=viewer.email, password=PASSWORD), timeout=timeout
    )
    if login.account_id != viewer.account_id:
        found.writes_lost.append(f"{viewer.email}: account {viewer.account_id} not found")
        return
    caller = (("authorization", f"Bearer {login.access_token}"),)
    profiles = await users.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=viewer.account_id),
        metadata=caller,
        timeout=timeout,
    )
    if len(profiles.profiles) != 1:
        found.duplicates.append(f"{viewer.email}: {len(profiles.profiles)} profiles")
    profile = await users.GetProfile(
        users_pb2.GetProfileRequest(profile_id=viewer.profile_id), metadata=caller, timeout=timeout
    )
    _at_least_acked(
        "profile name", viewer, profile.profile_name, viewer.names_tried, viewer.names_acked, found
    )
    preferences = await users.ListPreferences(
        users_pb2.ListPreferencesRequest(profile_id=viewer.profile_id),
        metadata=caller,
        timeout=timeout,
    )
    values = [p.value for p in preferences.preferences if p.key == PREFERENCE_KEY]
    if len(values) > 1:
        found.duplicates.append(f"{viewer.email}: preference {PREFERENCE_KEY} {len(values)} times")
    _at_least_acked(
        "preference",
        viewer,
        values[0] if values else None,
        viewer.preferences_tried,
        viewer.preferences_acked,
        found,
    )
    seen: Counter[str] = Counter()
    token = ""
    for _ in range(100):
        page = await history.ListHistory(
            history_pb2.ListHistoryRequest(
                profile_id=viewer.profile_id, page_size=100, page_token=token
            ),
            metadata=caller,
            timeout=timeout,
        )
        seen.update(v.view_id for v in page.views)
        token = page.next_page_token
        if not token:
            break
    for view_id in viewer.views_acked:
        if seen[view_id] == 0:
            found.writes_lost.append(f"{viewer.email}: view {view_id} not in the history")
    found.duplicates += [
        f"{viewer.email}: view {v} shown {n} times" for v, n in seen.items() if n > 1
    ]
    unknown = set(seen) - set(viewer.views_tried)
    found.duplicates += [f"{viewer.email}: view {v} never recorded" for v in unknown]


async def _deleted(viewer: Viewer, users: users_pb2_grpc.UserServiceStub, found: Findings) -> None:
    """An acknowledged DeleteAccount: the account signs in no more (the saga's
    first step closes it; the rest finishes in the background)."""
    try:
        await users.Login(
            users_pb2.LoginRequest(email=viewer.email, password=PASSWORD),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
            return
        raise
    found.writes_lost.append(f"{viewer.email}: deleted, and still signs in")


async def _deletions(deleted: list[Viewer], redis: Redis, found: Findings) -> None:
    """Each deletion saga ran to its end through the faults: ``user.account.deleted``
    is in the users stream (the saga's last step, after every participant purged)."""
    wanted = {v.account_id: v.email for v in deleted}

    async def unfinished() -> list[str]:
        done = {
            e.aggregate_id
            for e in await _stream_events(redis, "users")
            if e.event_type == user_events.ACCOUNT_DELETED
        }
        return [
            f"{email}: deletion saga not finished" for a, email in wanted.items() if a not in done
        ]

    found.events_lost += await _until(unfinished)


def _at_least_acked(
    what: str, viewer: Viewer, stored: str | None, tried: list[str], acked: int, found: Findings
) -> None:
    if acked < 0:
        return
    position = tried.index(stored) if stored in tried else -1
    if position < acked:
        found.writes_lost.append(
            f"{viewer.email}: {what} is {stored!r}, the acknowledged {tried[acked]!r} is lost"
        )


async def _stream_events(redis: Redis, domain: str) -> list[event_pb2.Event]:
    events: list[event_pb2.Event] = []
    async for name in redis.scan_iter(match=f"*{streams.stream_name(domain)}", count=1000):
        if await redis.type(name) == b"stream":
            events += await read_stream(redis, name.decode())
    return events


async def _streams(viewers: list[Viewer], redis: Redis, found: Findings) -> None:
    user_stream = await _stream_events(redis, "users")
    view_stream = await _stream_events(redis, "history")
    found.events_read = len(user_stream) + len(view_stream)
    by_account: dict[str, Counter[str]] = {}
    for event in {e.event_id: e for e in user_stream}.values():
        by_account.setdefault(event.aggregate_id, Counter())[event.event_type] += 1
    viewed: set[str] = set()
    for event in view_stream:
        if event.event_type == VIEW_RECORDED:
            data = history_events.ViewRecordedEvent()
            event.data.Unpack(data)
            viewed.add(data.view.view_id)
    for viewer in viewers:
        counts = by_account.get(viewer.account_id, Counter())
        expected = {
            user_events.ACCOUNT_CREATED: 1,
            user_events.PROFILE_UPDATED: viewer.names_acked + 1,
            user_events.PREFERENCE_UPDATED: viewer.preferences_acked + 1,
        }
        for event_type, least in expected.items():
            if counts[event_type] < least:
                found.events_lost.append(
                    f"{viewer.email}: {counts[event_type]} {event_type}, {least} acknowledged"
                )
        found.events_lost += [
            f"{viewer.email}: no {VIEW_RECORDED} for view {v}"
            for v in viewer.views_acked
            if v not in viewed
        ]


async def _until(check: Callable[[], Awaitable[list[str]]]) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_SECONDS
    while True:
        problems = await check()
        if not problems or loop.time() > deadline:
            return problems
        await asyncio.sleep(1.0)


async def _consumers(redis: Redis, found: Findings) -> None:
    async def behind() -> list[str]:
        problems = []
        async for name in redis.scan_iter(match="*streammesh.*", count=1000):
            if await redis.type(name) != b"stream":
                continue
            for group in await redis.xinfo_groups(name):
                lag, pending = group.get("lag"), group.get("pending", 0)
                if pending or (lag is not None and lag > 0):
                    problems.append(
                        f"{name.decode()} group {group['name'].decode()}: "
                        f"lag {lag}, pending {pending}"
                    )
        return problems

    found.consumers_behind = await _until(behind)


async def _warehouse(
    viewers: list[Viewer], analytics: analytics_pb2_grpc.AnalyticsServiceStub, found: Findings
) -> None:
    acked: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    for viewer in viewers:
        acked.update(viewer.views_acked.values())
        tried.update(viewer.views_tried.values())

    async def wrong() -> list[str]:
        problems = []
        for title_id in sorted(tried):
            stats = await analytics.GetTitleStats(
                analytics_pb2.GetTitleStatsRequest(title_id=title_id), timeout=CALL_TIMEOUT_SECONDS
            )
            if not acked[title_id] <= stats.view_count <= tried[title_id]:
                problems.append(
                    f"title {title_id}: {stats.view_count} views counted, "
                    f"{acked[title_id]} acknowledged, {tried[title_id]} tried"
                )
        return problems

    found.warehouse_wrong = await _until(wrong)
