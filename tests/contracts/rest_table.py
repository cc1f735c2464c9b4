"""The device REST surface (docs/architecture.md, Contracts first), as data.

The contract tests check every row against the ``google.api.http`` rules in
the descriptor set; the end-to-end tests drive the same rows through Envoy.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    method: str
    path: str
    rpc: str  # fully qualified: package.Service.Method
    owner_only: bool


_U = "streammesh.users.v1.UserService"
_C = "streammesh.catalog.v1.CatalogService"
_B = "streammesh.browse.v1.BrowseService"
_H = "streammesh.history.v1.HistoryService"
_S = "streammesh.search.v1.SearchService"
_R = "streammesh.recommendations.v1.RecommendationService"

REST_TABLE: tuple[Route, ...] = (
    Route("POST", "/v1/accounts", f"{_U}.CreateAccount", False),
    Route("POST", "/v1/sessions", f"{_U}.Login", False),
    Route("GET", "/v1/accounts/{account_id}", f"{_U}.GetAccount", True),
    Route("GET", "/v1/accounts/{account_id}/profiles", f"{_U}.ListProfiles", True),
    Route("POST", "/v1/accounts/{account_id}/profiles", f"{_U}.CreateProfile", True),
    Route("GET", "/v1/profiles/{profile_id}", f"{_U}.GetProfile", True),
    Route("PATCH", "/v1/profiles/{profile_id}", f"{_U}.UpdateProfile", True),
    Route("DELETE", "/v1/profiles/{profile_id}", f"{_U}.DeleteProfile", True),
    Route("GET", "/v1/profiles/{profile_id}/preferences", f"{_U}.ListPreferences", True),
    Route("PUT", "/v1/profiles/{profile_id}/preferences/{key}", f"{_U}.SetPreference", True),
    Route("GET", "/v1/titles/{title_id}", f"{_C}.GetTitle", False),
    Route("GET", "/v1/titles", f"{_C}.ListTitles", False),
    Route("GET", "/v1/profiles/{profile_id}/home", f"{_B}.GetHome", True),
    Route("POST", "/v1/profiles/{profile_id}/views", f"{_H}.RecordView", True),
    Route("GET", "/v1/profiles/{profile_id}/history", f"{_H}.ListHistory", True),
    Route("GET", "/v1/profiles/{profile_id}/continue-watching", f"{_H}.ListContinueWatching", True),
    Route("GET", "/v1/trending", f"{_H}.ListTrending", False),
    Route("GET", "/v1/search", f"{_S}.Search", False),
    Route("GET", "/v1/search/suggestions", f"{_S}.Suggest", False),
    Route("GET", "/v1/profiles/{profile_id}/recommendations", f"{_R}.ListRecommendations", True),
    Route("DELETE", "/v1/accounts/{account_id}", f"{_U}.DeleteAccount", True),
    Route("GET", "/v1/operations/{operation_id}", f"{_U}.GetOperation", True),
)

# Query parameters the table names for its filtered reads.
QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    f"{_C}.ListTitles": (
        "country",
        "max_maturity",
        "content_type",
        "genre",
        "page_size",
        "page_token",
    ),
    f"{_H}.ListTrending": ("country", "date"),
    f"{_S}.Search": ("q", "country", "max_maturity", "content_type", "genre"),
    f"{_S}.Suggest": ("prefix",),
}
