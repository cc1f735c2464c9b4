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
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.runtime import errors
from streammesh.browse.v1 import browse_pb2
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

Metadata = Sequence[tuple[str, str]]
T = TypeVar("T")

_DOMAIN_ERRORS: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
}


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
            self._call(
                self._users.GetProfile(
                    users_pb2.GetProfileRequest(profile_id=profile_id),
                    metadata=caller,
                    timeout=self._profile_timeout,
                )
            ),
            self._call(
                self._users.GetAccount(
                    users_pb2.GetAccountRequest(account_id=account_id),
                    metadata=caller,
                    timeout=self._profile_timeout,
                )
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

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            raise _domain_error(err) from err


def _domain_error(err: grpc.aio.AioRpcError) -> Exception:
    """The caller's own mistakes (a foreign profile, a bad id) keep their code,
    and their field violations; anything else from the users service is this
    call's dependency failing."""
    kind = _DOMAIN_ERRORS.get(err.code())
    if kind is None:
        return errors.Unavailable(f"users service: {err.code().name}", reason="PROFILE_UNAVAILABLE")
    message, reason = err.details() or err.code().name, f"USERS_{err.code().name}"
    if kind is errors.InvalidArgument:
        return errors.InvalidArgument(message, reason=reason, violations=_field_violations(err))
    if kind is errors.FailedPrecondition:
        return errors.FailedPrecondition(message, reason=reason, violations=_field_violations(err))
    return kind(message, reason=reason)


def _field_violations(err: grpc.aio.AioRpcError) -> list[errors.FieldViolation]:
    """The ``google.rpc.BadRequest`` violations the users service sent, if any."""
    try:
        status = rpc_status.from_call(err)
    except ValueError:
        # The details trailer disagrees with the call's code or message: not
        # trustworthy, so the error goes on without field details.
        return []
    violations: list[errors.FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(
                errors.FieldViolation(v.field, v.description, v.reason)
                for v in bad_request.field_violations
            )
    return violations


def _failure(plan: RowPlan, error: BaseException) -> browse_pb2.RowFailure:
    if isinstance(error, grpc.aio.AioRpcError):
        code, reason = error.code().name, error.details() or ""
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
