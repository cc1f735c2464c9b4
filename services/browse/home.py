"""Composing a profile's home screen from the services that own its parts.

The profile (maturity limit, kids flag) and the account (country) come from
the users service, with the caller's own token, so the users service's
ownership check is also the home screen's. The rows then come in parallel,
each under its own timeout inside the caller's deadline, in this screen
order:

1. "Continue watching": the history's ListContinueWatching for the profile
   (an owner RPC: the caller's token goes along, so the history service's
   ownership check holds too), then the catalog's BatchGetTitles for the
   tiles, each tile carrying its position and duration;
2. "Top picks for <profile>": the recommendations' ListRecommendations for
   the profile (an owner RPC too), then BatchGetTitles for the tiles;
3. "Trending in <country>": the history's ListTrending for the account's
   country, the profile's limit as ``max_maturity``, today's list, or the
   last 7 days' when today has none yet; the catalog's BatchGetTitles again;
4. "Because you watched <title>", once for each of the first
   ``because_you_watched_rows`` distinct watched titles behind the top picks
   (their ``source_title_id``): the recommendations' ListSimilarTitles for
   it. These rows are known only once the top picks are, so they share the
   top picks' time budget; each still fails on its own;
5. "New in <country>" and one row per configured genre, from the catalog.

Every row is filtered by the profile's maturity limit where its source
applies it (the catalog query, the history's and the recommendations'
answers), and every row built from another service's list of ids drops any
tile above the limit once more here, on the catalog's current rating: a kids
screen must not show an adult title because an answer was computed from an
older rating (defence in depth). A "Because you watched" row is only made for
a watched title the profile may see. A row that fails or is late is left out
and reported in ``failed_rows`` with the code of the call that failed and the
service it failed in; the page renders with the rest (a history outage costs
the two history rows, a recommendations outage the top picks, not the page).
Only a failure to read the profile itself fails the call, since without it no
row can be filtered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import grpc
import grpc.aio

from services import ratings
from services.browse.rows import RowCache
from services.runtime import callers
from services.runtime.rpc_errors import from_rpc_error
from streammesh.browse.v1 import browse_pb2
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2, recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

Metadata = Sequence[tuple[str, str]]
T = TypeVar("T")

CONTINUE_WATCHING: Final = "continue-watching"
TRENDING: Final = "trending"
NEW_IN_COUNTRY: Final = "new-in-country"
TOP_PICKS: Final = "top-picks"
# Followed by the watched title's id.
BECAUSE_YOU_WATCHED: Final = "because-you-watched:"


@dataclass(frozen=True)
class RowPlan:
    """One row to build: its id, kind, heading and the catalog query behind it
    (None for the rows the history service lists)."""

    row_id: str
    kind: browse_pb2.RowKind
    heading: str
    query: catalog_pb2.ListTitlesRequest | None = None


@dataclass(frozen=True)
class Screen:
    """What every row of one GetHome call is built for."""

    profile_id: str
    profile_name: str
    # The profile's maturity limit (maturity_limit): no tile above it.
    limit: str
    country: str
    cards_per_row: int
    # The caller's own credentials, for owner RPCs made on its behalf.
    caller: Metadata


class SourceFailed(Exception):
    """A row's call to ``service`` failed with ``error``."""

    def __init__(self, service: str, error: grpc.aio.AioRpcError) -> None:
        super().__init__(f"{service}: {error.code().name}")
        self.service = service
        self.error = error


def maturity_limit(profile: users_pb2.Profile) -> str:
    """The profile's maturity limit; when it has none (or one nobody knows), the
    default of its kind, so a filter fails closed (services/ratings.py)."""
    if ratings.is_known(profile.maturity_rating):
        return str(profile.maturity_rating)
    return ratings.KIDS_LIMIT if profile.kids_profile else ratings.DEFAULT_LIMIT


class HomeComposer:
    """Builds ``Home`` messages; holds the stubs, not the channels' lifecycle."""

    def __init__(
        self,
        users: users_pb2_grpc.UserServiceStub,
        catalog: catalog_pb2_grpc.CatalogServiceStub,
        history: history_pb2_grpc.HistoryServiceStub,
        recommendations: recommendations_pb2_grpc.RecommendationServiceStub,
        *,
        genres: Sequence[str],
        row_timeout_seconds: float,
        profile_timeout_seconds: float,
        because_you_watched_rows: int = 2,
        rows: RowCache | None = None,
    ) -> None:
        self._rows = rows
        self._users = users
        self._catalog = catalog
        self._history = history
        self._recommendations = recommendations
        self._genres = tuple(genres)
        self._row_timeout = row_timeout_seconds
        self._profile_timeout = profile_timeout_seconds
        self._because_rows = because_you_watched_rows

    async def home(
        self, profile_id: str, account_id: str, cards_per_row: int, caller: Metadata
    ) -> browse_pb2.Home:
        profile, account = await asyncio.gather(
            callers.call(
                self._users.GetProfile(
                    users_pb2.GetProfileRequest(profile_id=profile_id),
                    metadata=caller,
                    timeout=self._profile_timeout,
                ),
                service="users",
            ),
            callers.call(
                self._users.GetAccount(
                    users_pb2.GetAccountRequest(account_id=account_id),
                    metadata=caller,
                    timeout=self._profile_timeout,
                ),
                service="users",
            ),
        )
        plans = self.plan(profile, account, cards_per_row)
        screen = Screen(
            profile_id=profile.profile_id,
            profile_name=profile.profile_name,
            limit=maturity_limit(profile),
            country=account.country_code,
            cards_per_row=cards_per_row,
            caller=tuple(caller),
        )
        shared = [plan for plan in plans if plan.row_id != CONTINUE_WATCHING]
        own_rows = asyncio.ensure_future(self._own_rows(screen))
        shared_results: list[object] = list(
            await asyncio.gather(
                *(self._shared_row(plan, screen) for plan in shared), return_exceptions=True
            )
        )
        # Each own row fails alone: this raises only what nothing expected.
        continue_watching, recommended = await own_rows
        results = [continue_watching, *shared_results]
        top_picks, because = recommended[:1], recommended[1:]
        ordered: list[tuple[RowPlan, object]] = []
        for plan, result in zip(plans, results, strict=True):
            if plan.row_id == NEW_IN_COUNTRY:
                ordered += because
            ordered.append((plan, result))
            if plan.row_id == CONTINUE_WATCHING:
                ordered += top_picks
        home = browse_pb2.Home(profile_id=profile.profile_id)
        for plan, result in ordered:
            if isinstance(result, browse_pb2.Row):
                if result.cards:
                    home.rows.append(result)
            elif isinstance(result, BaseException):
                home.failed_rows.append(_failure(plan, result))
        return home

    async def _shared_row(self, plan: RowPlan, screen: Screen) -> browse_pb2.Row:
        """A row that is the same for every profile of this country and limit,
        from the row cache when there is one."""
        if self._rows is None:
            return await self._row(plan, screen)

        async def build() -> list[browse_pb2.Row]:
            return [await self._row(plan, screen)]

        rows = await self._rows.shared(
            plan.row_id,
            screen.country,
            screen.limit,
            screen.cards_per_row,
            plan.kind == browse_pb2.ROW_KIND_TRENDING,
            build,
        )
        assert rows is not None
        return rows[0]

    async def _own_rows(self, screen: Screen) -> tuple[object, list[tuple[RowPlan, object]]]:
        """The profile's own rows: "Continue watching" (a Row or the exception that
        cost it), then the top picks and "Because you watched" rows; from the row
        cache when there is one and nothing failed when they were built."""
        continue_plan = RowPlan(
            CONTINUE_WATCHING, browse_pb2.ROW_KIND_CONTINUE_WATCHING, "Continue watching"
        )

        async def fresh() -> tuple[object, list[tuple[RowPlan, object]]]:
            continue_watching, recommended = await asyncio.gather(
                self._row(continue_plan, screen), self._recommended(screen), return_exceptions=True
            )
            if isinstance(recommended, BaseException):  # the top picks failed: no row known
                recommended = [(top_picks_plan(screen), recommended)]
            assert isinstance(recommended, list), recommended
            return continue_watching, recommended

        if self._rows is None:
            return await fresh()
        built: list[tuple[object, list[tuple[RowPlan, object]]]] = []

        async def build() -> list[browse_pb2.Row] | None:
            built.append(await fresh())
            continue_watching, recommended = built[0]
            rows = [continue_watching, *(row for _, row in recommended)]
            if all(isinstance(row, browse_pb2.Row) for row in rows):
                return [row for row in rows if isinstance(row, browse_pb2.Row)]
            return None  # a row failed: nothing kept

        rows = await self._rows.profile(
            screen.profile_id, screen.limit, screen.cards_per_row, build
        )
        if built:
            return built[0]
        assert rows is not None
        return rows[0], [(RowPlan(row.row_id, row.kind, row.heading), row) for row in rows[1:]]

    def plan(
        self, profile: users_pb2.Profile, account: users_pb2.Account, cards_per_row: int
    ) -> list[RowPlan]:
        """The rows of this profile's screen, in screen order, before any is fetched."""
        country = account.country_code

        def query(**filters: str) -> catalog_pb2.ListTitlesRequest:
            return catalog_pb2.ListTitlesRequest(
                country=country,
                max_maturity=maturity_limit(profile),
                page_size=cards_per_row,
                **filters,
            )

        plans = [
            RowPlan(CONTINUE_WATCHING, browse_pb2.ROW_KIND_CONTINUE_WATCHING, "Continue watching")
        ]
        if country:  # trending is per country; an account always has one
            plans.append(RowPlan(TRENDING, browse_pb2.ROW_KIND_TRENDING, f"Trending in {country}"))
        new_in = f"New in {country}"
        plans.append(RowPlan(NEW_IN_COUNTRY, browse_pb2.ROW_KIND_NEW_IN_COUNTRY, new_in, query()))
        plans.extend(
            RowPlan(f"genre:{genre}", browse_pb2.ROW_KIND_GENRE, genre, query(genre=genre))
            for genre in self._genres
        )
        return plans

    async def _row(self, plan: RowPlan, screen: Screen) -> browse_pb2.Row:
        budget = _Budget(self._row_timeout)
        if plan.kind == browse_pb2.ROW_KIND_CONTINUE_WATCHING:
            cards = await self._continue_watching(screen, budget)
        elif plan.kind == browse_pb2.ROW_KIND_TRENDING:
            cards = await self._trending(screen, budget)
        else:
            assert plan.query is not None, plan
            response = await _from(
                "catalog", self._catalog.ListTitles(plan.query, timeout=budget.left())
            )
            cards = [_card(title) for title in response.titles]
        return browse_pb2.Row(row_id=plan.row_id, kind=plan.kind, heading=plan.heading, cards=cards)

    async def _recommended(self, screen: Screen) -> list[tuple[RowPlan, object]]:
        """The top picks row, then the "Because you watched" rows (each a Row, or
        the exception that cost it); raises when the top picks cannot be had."""
        budget = _Budget(self._row_timeout)
        response = await _from(
            "recommendations",
            self._recommendations.ListRecommendations(
                recommendations_pb2.ListRecommendationsRequest(
                    profile_id=screen.profile_id, page_size=screen.cards_per_row
                ),
                # An owner RPC: the recommendations service asks users, with
                # this token, whether the caller owns the profile.
                metadata=screen.caller,
                timeout=budget.left(),
            ),
        )
        picks = list(response.recommendations)
        sources = list(
            dict.fromkeys(
                pick.source_title_id
                for pick in picks
                if pick.reason_kind == recommendations_pb2.REASON_KIND_BECAUSE_YOU_WATCHED
                and pick.source_title_id
            )
        )
        titles = await self._titles([pick.title_id for pick in picks] + sources, budget)
        plan = top_picks_plan(screen)
        top = browse_pb2.Row(
            row_id=plan.row_id,
            kind=plan.kind,
            heading=plan.heading,
            cards=_cards_within(screen, [pick.title_id for pick in picks], titles),
        )
        # Only watched titles the profile may see name a row (a re-rated one may not).
        watched = [
            titles[source]
            for source in sources
            if source in titles and ratings.allows(screen.limit, titles[source].maturity_rating)
        ][: max(self._because_rows, 0)]
        plans = [
            RowPlan(
                f"{BECAUSE_YOU_WATCHED}{title.title_id}",
                browse_pb2.ROW_KIND_RECOMMENDED,
                f"Because you watched {title.title}",
            )
            for title in watched
        ]
        rows = await asyncio.gather(
            *(
                self._because_you_watched(p, t, screen, budget)
                for p, t in zip(plans, watched, strict=True)
            ),
            return_exceptions=True,
        )
        return [(plan, top), *zip(plans, rows, strict=True)]

    async def _because_you_watched(
        self, plan: RowPlan, watched: catalog_pb2.Title, screen: Screen, budget: _Budget
    ) -> browse_pb2.Row:
        response = await _from(
            "recommendations",
            self._recommendations.ListSimilarTitles(
                recommendations_pb2.ListSimilarTitlesRequest(
                    profile_id=screen.profile_id,
                    title_id=watched.title_id,
                    page_size=screen.cards_per_row,
                ),
                metadata=screen.caller,
                timeout=budget.left(),
            ),
        )
        ids = [similar.title_id for similar in response.similar_titles]
        titles = await self._titles(ids, budget)
        return browse_pb2.Row(
            row_id=plan.row_id,
            kind=plan.kind,
            heading=plan.heading,
            cards=_cards_within(screen, ids, titles),
        )

    async def _continue_watching(
        self, screen: Screen, budget: _Budget
    ) -> list[browse_pb2.TitleCard]:
        """The profile's titles in progress, most recent first, with their positions."""
        response = await _from(
            "history",
            self._history.ListContinueWatching(
                history_pb2.ListContinueWatchingRequest(
                    profile_id=screen.profile_id, page_size=screen.cards_per_row
                ),
                # An owner RPC: the history service asks users, with this
                # token, whether the caller owns the profile.
                metadata=screen.caller,
                timeout=budget.left(),
            ),
        )
        items = list(response.items)
        titles = await self._titles([item.title_id for item in items], budget)
        cards: list[browse_pb2.TitleCard] = []
        for item in items:
            title = titles.get(item.title_id)
            if title is None or not ratings.allows(screen.limit, title.maturity_rating):
                continue  # gone from the catalog, or above the limit (defence in depth)
            card = _card(title)
            card.position_seconds = item.position_seconds
            card.duration_seconds = item.duration_seconds
            cards.append(card)
        return cards

    async def _trending(self, screen: Screen, budget: _Budget) -> list[browse_pb2.TitleCard]:
        """The most watched titles of the country today, or over the last 7 days
        when today has none yet (just after midnight UTC, a quiet country)."""
        request = history_pb2.ListTrendingRequest(
            country=screen.country,
            max_maturity=screen.limit,
            window=history_pb2.TRENDING_WINDOW_DAY,
            page_size=screen.cards_per_row,
        )
        response = await _from(
            "history", self._history.ListTrending(request, timeout=budget.left())
        )
        if not response.titles:
            request.window = history_pb2.TRENDING_WINDOW_WEEK
            response = await _from(
                "history", self._history.ListTrending(request, timeout=budget.left())
            )
        ids = [entry.title_id for entry in response.titles]
        # The history filters on the rating a title had when it was watched;
        # the catalog's current one decides here.
        return _cards_within(screen, ids, await self._titles(ids, budget))

    async def _titles(
        self, title_ids: Sequence[str], budget: _Budget
    ) -> dict[str, catalog_pb2.Title]:
        """The catalog's titles by id (one BatchGetTitles; cards_per_row is at most
        50, and the top picks add at most a few watched titles: below its limit
        of 100 ids)."""
        if not title_ids:
            return {}
        response = await _from(
            "catalog",
            self._catalog.BatchGetTitles(
                catalog_pb2.BatchGetTitlesRequest(title_ids=list(dict.fromkeys(title_ids))),
                timeout=budget.left(),
            ),
        )
        return {title.title_id: title for title in response.titles}


class _Budget:
    """A row's time: each of its calls gets what is left of it."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + seconds

    def left(self) -> float:
        left = self._deadline - self._loop.time()
        if left <= 0:
            raise TimeoutError("row timed out")
        return left


async def _from(service: str, call: Awaitable[T]) -> T:
    """The answer of a row's call to ``service``; its failure names the service."""
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        raise SourceFailed(service, err) from err


def top_picks_plan(screen: Screen) -> RowPlan:
    name = screen.profile_name or "you"
    return RowPlan(TOP_PICKS, browse_pb2.ROW_KIND_RECOMMENDED, f"Top picks for {name}")


def _cards_within(
    screen: Screen, title_ids: Sequence[str], titles: dict[str, catalog_pb2.Title]
) -> list[browse_pb2.TitleCard]:
    """Cards of ``title_ids`` in order: those the catalog still has, within the
    profile's limit on their current rating."""
    cards: list[browse_pb2.TitleCard] = []
    for title_id in title_ids:
        title = titles.get(title_id)
        if title is not None and ratings.allows(screen.limit, title.maturity_rating):
            cards.append(_card(title))
    return cards


def _failure(plan: RowPlan, error: BaseException) -> browse_pb2.RowFailure:
    if isinstance(error, SourceFailed):
        # The code as it was; the reason as the one mapping words it, so a
        # dependency's internal message never reaches the screen.
        code = error.error.code().name
        reason = from_rpc_error(error.error, service=error.service).message
    elif isinstance(error, TimeoutError):
        code, reason = "DEADLINE_EXCEEDED", "row timed out"
    else:
        code, reason = "INTERNAL", type(error).__name__
    return browse_pb2.RowFailure(row_id=plan.row_id, kind=plan.kind, code=code, reason=reason)


def _card(title: catalog_pb2.Title) -> browse_pb2.TitleCard:
    return browse_pb2.TitleCard(
        title_id=title.title_id,
        title=title.title,
        content_type=title.content_type,
        release_year=title.release_year,
        maturity_rating=title.maturity_rating,
        genres=list(title.genres),
        poster_url=title.artwork.poster_url,
    )
