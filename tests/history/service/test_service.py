"""The history service against real users, catalog and history servers, on both backends.

Bad input and refusals first, then what is recorded and how it is read back:
views counted once, continue watching within the profile's current limit,
trending for a kids screen never above its limit (cache included), the week
window, page tokens bound to their profile, and a replayed stream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.events import streams
from services.events.consumer import CONSUMED
from services.history.popularity import GROUP, unique_viewers_key
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2, history_pb2
from streammesh.users.v1 import users_pb2
from tests.history.service.conftest import TITLES, HistoryMesh
from tests.mesh import PASSWORD, Account

ADULT = TITLES["TV-MA"][0]  # above every default limit
ADULT_2 = TITLES["R"][0]
TEEN = TITLES["PG-13"][0]  # an adult profile's default limit
FAMILY = TITLES["PG"][0]  # the kids limit
KIDS = TITLES["TV-Y"][0]
KIDS_2 = TITLES["TV-Y"][1]

TODAY = datetime.now(UTC).date()


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, error
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None, error
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend(v.field for v in bad_request.field_violations)
    return fields


# ------------------------------------------------------------ refusals


async def test_a_view_for_a_foreign_profile_is_refused(mesh: HistoryMesh) -> None:
    alice = await mesh.signup()
    bob = await mesh.signup()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.view(alice, bob.primary_profile_id, FAMILY)
    assert raised.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
    for read in (mesh.history.ListHistory, mesh.history.ListContinueWatching):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read(
                history_pb2.ListHistoryRequest(profile_id=bob.primary_profile_id)
                if read is mesh.history.ListHistory
                else history_pb2.ListContinueWatchingRequest(profile_id=bob.primary_profile_id),
                metadata=alice.caller,
                timeout=10,
            )
        assert raised.value.code() in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.NOT_FOUND,
        )
    # Nothing was recorded for Bob.
    history = await mesh.history.ListHistory(
        history_pb2.ListHistoryRequest(profile_id=bob.primary_profile_id),
        metadata=bob.caller,
        timeout=10,
    )
    assert not history.views


async def test_owner_rpcs_without_a_valid_token_are_unauthenticated(mesh: HistoryMesh) -> None:
    account = await mesh.signup()
    profile_id = account.primary_profile_id
    calls = [
        lambda md: mesh.history.RecordView(
            history_pb2.RecordViewRequest(
                profile_id=profile_id, view=history_pb2.View(title_id=FAMILY)
            ),
            metadata=md,
            timeout=10,
        ),
        lambda md: mesh.history.ListHistory(
            history_pb2.ListHistoryRequest(profile_id=profile_id), metadata=md, timeout=10
        ),
        lambda md: mesh.history.ListContinueWatching(
            history_pb2.ListContinueWatchingRequest(profile_id=profile_id),
            metadata=md,
            timeout=10,
        ),
    ]
    for call in calls:
        for metadata in ((), (("authorization", "Bearer not-a-token"),)):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(metadata)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Trending is public.
    await mesh.trending("GB")


async def test_an_unknown_title_is_not_found(mesh: HistoryMesh) -> None:
    account = await mesh.signup()
    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.view(account, account.primary_profile_id, missing)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing in (raised.value.details() or "")
    assert error_info(raised.value).reason == "TITLE_NOT_FOUND"


async def test_a_title_above_a_kids_profile_limit_is_refused(mesh: HistoryMesh) -> None:
    account = await mesh.signup()
    kid = await mesh.add_profile(account, kids=True)
    for title_id in (ADULT, TEEN):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.view(account, kid, title_id)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        info = error_info(raised.value)
        assert info.reason == "TITLE_ABOVE_PROFILE_LIMIT"
        assert info.metadata["title_id"] == title_id
        assert info.metadata["profile_limit"] == "PG"
    recorded = await mesh.view(account, kid, FAMILY)
    history = await mesh.history.ListHistory(
        history_pb2.ListHistoryRequest(profile_id=kid), metadata=account.caller, timeout=10
    )
    assert [view.view_id for view in history.views] == [recorded.view_id]


async def test_bad_input_is_invalid_argument_naming_the_field(mesh: HistoryMesh) -> None:
    account = await mesh.signup()
    for text in ("2025-02-30", "2025-13-01", (TODAY + timedelta(days=2)).isoformat()):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.history.ListTrending(
                history_pb2.ListTrendingRequest(country="GB", date=text), timeout=10
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, text
        assert violated_fields(raised.value) == ["date"], text
    # Tomorrow is allowed (a client a few hours ahead of UTC).
    await mesh.trending("GB", TODAY + timedelta(days=1))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.history.ListTrending(
            history_pb2.ListTrendingRequest(country="GB", page_token="bm90IGEgdG9rZW4"),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(raised.value) == ["page_token"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.view(
            account,
            account.primary_profile_id,
            FAMILY,
            watch_time=datetime.now(UTC) + timedelta(days=2),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(raised.value) == ["view.watch_time"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.view(account, account.primary_profile_id, FAMILY, view_id="not-a-uuid")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------ recording


async def test_a_view_is_recorded_with_the_accounts_country_and_completion(
    mesh: HistoryMesh,
) -> None:
    account = await mesh.signup(country="FR")
    profile = account.primary_profile_id
    watched = at(TODAY - timedelta(days=1), 9, 30)
    view = await mesh.view(account, profile, TEEN, watch_time=watched, position=3500)
    assert view.profile_id == profile
    assert view.title_id == TEEN
    assert uuid.UUID(view.view_id)
    assert view.country_code == "FR"
    assert view.completed  # 3500 of 3600 s: past 95 %
    assert view.watch_time.ToDatetime(tzinfo=UTC) == watched
    elsewhere = await mesh.view(account, profile, TEEN, position=100, country="DE")
    assert elsewhere.country_code == "DE"
    assert not elsewhere.completed
    # Any spelling of an id is the same id.
    upper = await mesh.view(account, profile, FAMILY.upper())
    assert upper.title_id == FAMILY


async def test_the_same_view_twice_counts_once(mesh: HistoryMesh) -> None:
    country, day = "NZ", TODAY - timedelta(days=2)
    account = await mesh.signup()
    profile = account.primary_profile_id
    view_id = str(uuid.uuid4())
    first = await mesh.view(
        account, profile, TEEN, view_id=view_id, watch_time=at(day), country=country
    )
    again = await mesh.view(
        account,
        profile,
        TEEN,
        view_id=view_id.upper(),
        watch_time=at(day, 13),
        position=1200,
        country=country,
    )
    assert again == first
    history = await mesh.history.ListHistory(
        history_pb2.ListHistoryRequest(profile_id=profile), metadata=account.caller, timeout=10
    )
    assert [view.view_id for view in history.views] == [view_id]

    await mesh.wait_for_views(country, day, {TEEN: 1})
    await mesh.settled()
    figures = (await mesh.figures(country, day))[TEEN]
    assert (figures.view_count, figures.watch_seconds, figures.unique_viewers) == (1, 600, 1)
    for window in (history_pb2.TRENDING_WINDOW_DAY, history_pb2.TRENDING_WINDOW_WEEK):
        trending = await mesh.trending(country, day, window=window)
        assert [(t.title_id, t.view_count, t.unique_viewers, t.rank) for t in trending.titles] == [
            (TEEN, 1, 1, 1)
        ]


# ------------------------------------------------------------ reading


async def test_history_pages_newest_first_and_tokens_are_bound_to_the_profile(
    mesh: HistoryMesh,
) -> None:
    account = await mesh.signup()
    profile = account.primary_profile_id
    other = await mesh.add_profile(account)
    day = TODAY - timedelta(days=3)
    recorded = [
        await mesh.view(account, profile, title_id, watch_time=at(day, hour))
        for hour, title_id in ((8, TEEN), (9, FAMILY), (10, KIDS))
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await mesh.history.ListHistory(
            history_pb2.ListHistoryRequest(profile_id=profile, page_size=1, page_token=token),
            metadata=account.caller,
            timeout=10,
        )
        seen.extend(view.view_id for view in page.views)
        token = page.next_page_token
        if not token:
            break
        # Another profile's listing refuses this profile's token ...
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.history.ListHistory(
                history_pb2.ListHistoryRequest(profile_id=other, page_token=token),
                metadata=account.caller,
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(raised.value) == ["page_token"]
        # ... and so does the same profile's continue watching.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.history.ListContinueWatching(
                history_pb2.ListContinueWatchingRequest(profile_id=profile, page_token=token),
                metadata=account.caller,
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert seen == [view.view_id for view in reversed(recorded)]


async def test_continue_watching_follows_the_profiles_current_limit(mesh: HistoryMesh) -> None:
    account = await mesh.signup()
    profile = account.primary_profile_id
    await mesh.set_limit(account, profile, "TV-MA")
    day = TODAY - timedelta(days=1)
    await mesh.view(account, profile, ADULT, watch_time=at(day, 8), position=100)
    await mesh.view(account, profile, TEEN, watch_time=at(day, 9), position=200)
    await mesh.view(account, profile, FAMILY, watch_time=at(day, 10), position=300)
    # Finished: 95 % or more of the duration.
    await mesh.view(account, profile, ADULT_2, watch_time=at(day, 11), position=3420)
    # Watched again later: one entry, the newest position.
    await mesh.view(account, profile, TEEN, watch_time=at(day, 12), position=900)
    # An older view arriving late does not move the bookmark back.
    await mesh.view(account, profile, FAMILY, watch_time=at(day, 7), position=50)

    async def listing(page_size: int = 0) -> list[history_pb2.ContinueWatchingItem]:
        items: list[history_pb2.ContinueWatchingItem] = []
        token = ""
        while True:
            page = await mesh.history.ListContinueWatching(
                history_pb2.ListContinueWatchingRequest(
                    profile_id=profile, page_size=page_size, page_token=token
                ),
                metadata=account.caller,
                timeout=10,
            )
            items.extend(page.items)
            token = page.next_page_token
            if not token:
                return items

    items = await listing()
    assert [(i.title_id, i.position_seconds, i.duration_seconds) for i in items] == [
        (TEEN, 900, 3600),
        (FAMILY, 300, 3600),
        (ADULT, 100, 3600),
    ]
    assert items[0].last_watch_time.ToDatetime(tzinfo=UTC) == at(day, 12)
    assert await listing(page_size=1) == items

    # A lowered limit applies at once.
    await mesh.set_limit(account, profile, "PG")
    assert [i.title_id for i in await listing()] == [FAMILY]
    assert [i.title_id for i in await listing(page_size=1)] == [FAMILY]


# ------------------------------------------------------------ trending


async def test_trending_for_kids_never_includes_a_title_above_their_limit(
    mesh: HistoryMesh,
) -> None:
    country, day = "IS", TODAY - timedelta(days=1)
    account = await mesh.signup()
    profile = account.primary_profile_id
    await mesh.set_limit(account, profile, "TV-MA")
    for hour in (8, 9):
        await mesh.view(account, profile, ADULT, watch_time=at(day, hour), country=country)
    await mesh.view(account, profile, KIDS, watch_time=at(day, 10), country=country)
    await mesh.wait_for_views(country, day, {ADULT: 2, KIDS: 1})

    # The adult list first, so it is in the cache when the kids ask.
    adult = await mesh.trending(country, day)
    assert [(t.title_id, t.view_count, t.rank) for t in adult.titles] == [
        (ADULT, 2, 1),
        (KIDS, 1, 2),
    ]
    kids = await mesh.trending(country, day, max_maturity="PG")
    assert [(t.title_id, t.view_count, t.rank) for t in kids.titles] == [(KIDS, 1, 1)]

    # Answers are cached: a new view shows up in neither list before the TTL ...
    await mesh.view(account, profile, ADULT, watch_time=at(day, 11), country=country)
    await mesh.view(account, profile, KIDS_2, watch_time=at(day, 12), country=country)
    await mesh.wait_for_views(country, day, {ADULT: 3, KIDS_2: 1})
    assert await mesh.trending(country, day) == adult
    assert await mesh.trending(country, day, max_maturity="PG") == kids
    # ... and every kids answer, cached or new, for the day or the week, in
    # one page or several, stays within the limit.
    for window in (history_pb2.TRENDING_WINDOW_DAY, history_pb2.TRENDING_WINDOW_WEEK):
        for max_maturity in ("PG", "TV-Y"):
            titles: list[str] = []
            token = ""
            while True:
                page = await mesh.trending(
                    country,
                    day,
                    window=window,
                    max_maturity=max_maturity,
                    page_size=1,
                    page_token=token,
                )
                titles.extend(t.title_id for t in page.titles)
                token = page.next_page_token
                if not token:
                    break
            assert ADULT not in titles
            assert set(titles) == {KIDS, KIDS_2}
        fresh_adult = await mesh.trending(country, day, window=window, page_size=10)
        assert fresh_adult.titles[0].title_id == ADULT


async def test_the_week_window_sums_the_days(mesh: HistoryMesh) -> None:
    country, end = "LU", TODAY - timedelta(days=1)
    account = await mesh.signup()
    first = account.primary_profile_id
    second = await mesh.add_profile(account)
    views = [
        # (profile, title, days before `end`, position)
        (first, TEEN, 6, 100),
        (first, TEEN, 3, 200),
        (second, TEEN, 0, 300),
        (first, FAMILY, 7, 5000),  # the day before the window
        (first, FAMILY, 0, 400),
        (second, KIDS, 3, 1000),
        (second, KIDS, 3, 1100),
    ]
    for minute, (profile, title_id, back, position) in enumerate(views):
        await mesh.view(
            account,
            profile,
            title_id,
            watch_time=at(end - timedelta(days=back), 12, minute),
            position=position,
            country=country,
        )
    await mesh.wait_for_views(country, end - timedelta(days=7), {FAMILY: 1})
    await mesh.wait_for_views(country, end - timedelta(days=6), {TEEN: 1})
    await mesh.wait_for_views(country, end - timedelta(days=3), {TEEN: 1, KIDS: 2})
    await mesh.wait_for_views(country, end, {TEEN: 1, FAMILY: 1})

    day = await mesh.trending(country, end)
    # One view each: the longer watch ranks first.
    assert [(t.title_id, t.view_count, t.watch_seconds) for t in day.titles] == [
        (FAMILY, 1, 400),
        (TEEN, 1, 300),
    ]
    week = await mesh.trending(country, end, window=history_pb2.TRENDING_WINDOW_WEEK)
    assert [
        (t.title_id, t.view_count, t.watch_seconds, t.unique_viewers, t.rank) for t in week.titles
    ] == [
        (TEEN, 3, 600, 2, 1),
        (KIDS, 2, 2100, 1, 2),
        (FAMILY, 1, 400, 1, 3),
    ]
    paged: list[history_pb2.TrendingTitle] = []
    token = ""
    while True:
        page = await mesh.trending(
            country,
            end,
            window=history_pb2.TRENDING_WINDOW_WEEK,
            page_size=2,
            page_token=token,
        )
        paged.extend(page.titles)
        token = page.next_page_token
        if not token:
            break
    assert paged == list(week.titles)
    # A day token is not a week token.
    first_page = await mesh.trending(country, end, page_size=1)
    assert first_page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.trending(
            country,
            end,
            window=history_pb2.TRENDING_WINDOW_WEEK,
            page_token=first_page.next_page_token,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------ replay


async def test_a_replayed_stream_changes_no_count(mesh: HistoryMesh) -> None:
    country, day = "MT", TODAY - timedelta(days=4)
    account = await mesh.signup()
    profile = account.primary_profile_id
    for hour, title_id in ((8, TEEN), (9, TEEN), (10, FAMILY)):
        await mesh.view(account, profile, title_id, watch_time=at(day, hour), country=country)
    await mesh.wait_for_views(country, day, {TEEN: 2, FAMILY: 1})
    await mesh.settled()

    async def snapshot() -> tuple[object, ...]:
        figures = sorted((await mesh.figures(country, day)).items())
        top = await mesh.store.top(country, day, 50)
        sketches = [
            await mesh.redis.pfcount(unique_viewers_key(mesh.config.redis_prefix, country, day, t))
            for t in (TEEN, FAMILY)
        ]
        return figures, top, sketches

    before = await snapshot()
    entries: Any = await mesh.redis.xrange(mesh.stream, "-", "+")
    events = [event_pb2.Event.FromString(fields[b"payload"]) for _, fields in entries]
    ours = [
        event
        for event in events
        if event.aggregate_id in (TEEN, FAMILY) and _country_of(event) == country
    ]
    assert len(ours) == 3
    assert {(e.event_type, e.aggregate_type, e.source) for e in ours} == {
        ("history.view.recorded", "title", "history")
    }
    recorded = events_pb2.ViewRecordedEvent()
    ours[0].data.Unpack(recorded)
    assert recorded.account_id == account.account_id
    assert recorded.maturity_rating == "PG-13"

    # 1. The relay publishes the same entries again (as after a Redis loss).
    duplicates = CONSUMED.labels(mesh.stream, GROUP, "duplicate")._value.get()
    for _, fields in entries:
        await mesh.redis.xadd(mesh.stream, fields)
    await mesh.settled()
    assert CONSUMED.labels(mesh.stream, GROUP, "duplicate")._value.get() >= duplicates + len(
        entries
    )
    assert await snapshot() == before

    # 2. `streammesh events replay history --group history-popularity --from 0
    #    --forget-dedupe`: every event handled again from the start.
    processed = CONSUMED.labels(mesh.stream, GROUP, "processed")._value.get()
    await mesh.redis.delete(
        *{streams.dedupe_key(mesh.stream, GROUP, event.event_id) for event in events}
    )
    await mesh.redis.xgroup_setid(mesh.stream, GROUP, "0")
    await mesh.settled()
    assert CONSUMED.labels(mesh.stream, GROUP, "processed")._value.get() >= processed + len(
        {event.event_id for event in events}
    )
    assert await snapshot() == before


def _country_of(event: event_pb2.Event) -> str:
    recorded = events_pb2.ViewRecordedEvent()
    event.data.Unpack(recorded)
    return str(recorded.view.country_code)


# ------------------------------------------------------------ stream slots


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


async def test_a_view_needs_a_live_stream_slot_of_the_callers_device(mesh: HistoryMesh) -> None:
    # One account signed in on two devices (two sessions).
    email = f"slots.{uuid.uuid4().hex[:10]}@example.com"
    await mesh.users.CreateAccount(
        users_pb2.CreateAccountRequest(
            email=email, password=PASSWORD, first_name="A", last_name="B", country_code="GB"
        ),
        timeout=10,
    )
    callers = []
    for _ in range(2):
        login = await mesh.users.Login(
            users_pb2.LoginRequest(email=email, password=PASSWORD), timeout=10
        )
        callers.append((("authorization", f"Bearer {login.access_token}"),))
    profiles = await mesh.users.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=callers[0]
    )
    profile = profiles.profiles[0].profile_id
    tv = Account(login.account_id, callers[0], profile)
    phone = Account(login.account_id, callers[1], profile)
    request = history_pb2.RecordViewRequest(
        profile_id=profile, view=history_pb2.View(title_id=FAMILY, position_seconds=60)
    )

    async def refused() -> str:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.history.RecordView(request, metadata=tv.caller, timeout=10)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        return _reason(raised.value)

    assert await refused() == "NO_LIVE_STREAM"
    # The phone's slot is not the TV's.
    async with mesh.playing(phone, profile):
        assert await refused() == "NO_LIVE_STREAM"
    # With its own slot the view is recorded; once stopped, it is refused again.
    async with mesh.playing(tv, profile):
        recorded = await mesh.history.RecordView(request, metadata=tv.caller, timeout=10)
        assert recorded.title_id == FAMILY
    assert await refused() == "NO_LIVE_STREAM"
