"""Composing a profile's home screen from the services that own its parts.

The profile (maturity limit, kids flag) and the account (country) come from
the users service, with the caller's own token, so the users service's
ownership check is also the home screen's. The rows then come from the
catalog in parallel, each under its own timeout inside the caller's
deadline. A row that fails or is late is left out and reported in
``failed_rows``; the page renders with the rest. Only a failure to read the
profile itself fails the call, since without it no row can be filtered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import grpc.aio

from services.runtime import callers
from services.runtime.rpc_errors import from_rpc_error
from streammesh.browse.v1 import browse_pb2
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

Metadata = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class RowPlan:
    """One row to build: its id, kind, heading and the catalog query behind it."""

    row_id: str
    kind: browse_pb2.RowKind
    heading: str
    query: catalog_pb2.ListTitlesRequest


class HomeComposer:
    """Builds ``Home`` messages; holds the stubs, not the channels' lifecycle."""

    def __init__(
        self,
        users: users_pb2_grpc.UserServiceStub,
        catalog: catalog_pb2_grpc.CatalogServiceStub,
        *,
        genres: Sequence[str],
        row_timeout_seconds: float,
        profile_timeout_seconds: float,
    ) -> None:
        self._users = users
        self._catalog = catalog
        self._genres = tuple(genres)
        self._row_timeout = row_timeout_seconds
        self._profile_timeout = profile_timeout_seconds

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
        results = await asyncio.gather(*(self._row(plan) for plan in plans), return_exceptions=True)
        home = browse_pb2.Home(profile_id=profile.profile_id)
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, browse_pb2.Row):
                if result.cards:
                    home.rows.append(result)
            elif isinstance(result, BaseException):
                home.failed_rows.append(_failure(plan, result))
        return home

    def plan(
        self, profile: users_pb2.Profile, account: users_pb2.Account, cards_per_row: int
    ) -> list[RowPlan]:
        """The rows of this profile's screen, before any is fetched."""

        def query(**filters: str) -> catalog_pb2.ListTitlesRequest:
            return catalog_pb2.ListTitlesRequest(
                country=account.country_code,
                max_maturity=profile.maturity_rating,
                page_size=cards_per_row,
                **filters,
            )

        plans = [
            RowPlan(
                "new-in-country",
                browse_pb2.ROW_KIND_NEW_IN_COUNTRY,
                f"New in {account.country_code}",
                query(),
            )
        ]
        plans.extend(
            RowPlan(f"genre:{genre}", browse_pb2.ROW_KIND_GENRE, genre, query(genre=genre))
            for genre in self._genres
        )
        return plans

    async def _row(self, plan: RowPlan) -> browse_pb2.Row:
        response = await self._catalog.ListTitles(plan.query, timeout=self._row_timeout)
        return browse_pb2.Row(
            row_id=plan.row_id,
            kind=plan.kind,
            heading=plan.heading,
            cards=[_card(title) for title in response.titles],
        )


def _failure(plan: RowPlan, error: BaseException) -> browse_pb2.RowFailure:
    if isinstance(error, grpc.aio.AioRpcError):
        # The code as it was; the reason as the one mapping words it, so a
        # catalog's internal message never reaches the screen.
        code, reason = error.code().name, from_rpc_error(error, service="catalog").message
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
    )
