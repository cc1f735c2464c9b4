"""Devices' REST table through the real Envoy, on both backends.

A user story end to end: sign up, log in, manage profiles and preferences,
browse and page the catalog, watch titles (history, continue watching,
trending), open the home screen; and the ways it must refuse: no token, a
foreign token, an unknown route, bad input. Every error body is a JSON
google.rpc.Status.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc.aio
import httpx
import pytest

from services.ratings import allows
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.search.v1 import search_pb2, search_pb2_grpc
from tests.e2e.conftest import Mesh
from tests.mesh import SAMPLE_CATALOG

PASSWORD = "correct horse battery"
# Bound on polling for the popularity rollup (a failure, not a timing claim).
ROLLUP_WAIT_SECONDS = 120.0


def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def _error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    body = _json(response, status)
    assert body["code"] == code, body
    assert body["message"]
    return dict(body)


async def _sign_up(mesh: Mesh, country: str = "US") -> tuple[str, dict[str, str]]:
    email = f"Viewer.{uuid.uuid4().hex[:10]}@Example.com"
    account = _json(
        await mesh.http.post(
            "/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "countryCode": country,
                "languageCode": "en",
            },
        ),
        200,
    )
    assert account["email"] == email.lower()
    assert "password" not in str(account).lower()
    session = _json(
        await mesh.http.post("/v1/sessions", json={"email": email, "password": PASSWORD}), 200
    )
    assert session["accountId"] == account["accountId"]
    return account["accountId"], {"authorization": f"Bearer {session['accessToken']}"}


async def test_sign_up_log_in_and_read_the_account(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    account = _json(await mesh.http.get(f"/v1/accounts/{account_id}", headers=auth), 200)
    assert account["accountId"] == account_id
    assert account["countryCode"] == "US"


async def test_a_second_sign_up_with_the_same_email_is_409(mesh: Mesh) -> None:
    body = {
        "email": f"dup.{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
        "firstName": "A",
        "lastName": "B",
        "countryCode": "GB",
    }
    _json(await mesh.http.post("/v1/accounts", json=body), 200)
    body["email"] = body["email"].upper()
    _error(await mesh.http.post("/v1/accounts", json=body), 409, 6)


async def test_invalid_sign_up_is_400_with_field_violations(mesh: Mesh) -> None:
    response = await mesh.http.post(
        "/v1/accounts",
        json={"email": "not-an-email", "password": "short", "countryCode": "usa"},
    )
    body = _error(response, 400, 3)
    fields = {
        violation["field"]
        for detail in body["details"]
        for violation in detail.get("fieldViolations", [])
    }
    assert {"email", "password", "country_code"} <= fields


async def test_a_wrong_password_is_401(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    account = _json(await mesh.http.get(f"/v1/accounts/{account_id}", headers=auth), 200)
    response = await mesh.http.post(
        "/v1/sessions", json={"email": account["email"], "password": "not the password"}
    )
    _error(response, 401, 16)


async def test_owner_routes_refuse_a_missing_or_foreign_token(mesh: Mesh) -> None:
    owner_id, owner = await _sign_up(mesh)
    _, stranger = await _sign_up(mesh)
    profiles = _json(await mesh.http.get(f"/v1/accounts/{owner_id}/profiles", headers=owner), 200)
    profile_id = profiles["profiles"][0]["profileId"]
    for path in (
        f"/v1/accounts/{owner_id}",
        f"/v1/accounts/{owner_id}/profiles",
        f"/v1/profiles/{profile_id}",
        f"/v1/profiles/{profile_id}/preferences",
        f"/v1/profiles/{profile_id}/home",
        f"/v1/profiles/{profile_id}/history",
        f"/v1/profiles/{profile_id}/continue-watching",
    ):
        _error(await mesh.http.get(path), 401, 16)
        _error(await mesh.http.get(path, headers=stranger), 403, 7)
    _error(
        await mesh.http.patch(
            f"/v1/profiles/{profile_id}",
            params={"update_mask": "profile_name"},
            json={"profileName": "mine now"},
            headers=stranger,
        ),
        403,
        7,
    )


async def _kids_profile(mesh: Mesh, account_id: str, auth: dict[str, str]) -> dict[str, Any]:
    """A new kids profile of the account, limited to TV-Y7."""
    profile: dict[str, Any] = _json(
        await mesh.http.post(
            f"/v1/accounts/{account_id}/profiles",
            json={"profileName": "Kids", "kidsProfile": True, "maturityRating": "TV-Y7"},
            headers=auth,
        ),
        200,
    )
    return profile


async def test_profiles_create_update_and_delete(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    created = await _kids_profile(mesh, account_id, auth)
    assert created["kidsProfile"] is True
    listed = _json(await mesh.http.get(f"/v1/accounts/{account_id}/profiles", headers=auth), 200)
    assert len(listed["profiles"]) == 2
    assert listed["profiles"][0]["primary"] is True
    updated = _json(
        await mesh.http.patch(
            f"/v1/profiles/{created['profileId']}",
            params={"update_mask": "profile_name"},
            json={"profileName": "Little ones", "maturityRating": "R"},
            headers=auth,
        ),
        200,
    )
    assert updated["profileName"] == "Little ones"
    assert updated["maturityRating"] == "TV-Y7"  # not in the mask: unchanged
    primary_id = listed["profiles"][0]["profileId"]
    _error(await mesh.http.delete(f"/v1/profiles/{primary_id}", headers=auth), 400, 9)
    assert (
        await mesh.http.delete(f"/v1/profiles/{created['profileId']}", headers=auth)
    ).status_code == 200
    _error(await mesh.http.get(f"/v1/profiles/{created['profileId']}", headers=auth), 404, 5)


async def test_a_kids_profile_cannot_be_rated_for_adults(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    response = await mesh.http.post(
        f"/v1/accounts/{account_id}/profiles",
        json={"profileName": "Kid", "kidsProfile": True, "maturityRating": "TV-MA"},
        headers=auth,
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] in (3, 9)


async def test_preferences_set_and_list(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    profiles = _json(await mesh.http.get(f"/v1/accounts/{account_id}/profiles", headers=auth), 200)
    profile_id = profiles["profiles"][0]["profileId"]
    set_reply = _json(
        await mesh.http.put(
            f"/v1/profiles/{profile_id}/preferences/subtitles.language",
            json={"value": "fr"},
            headers=auth,
        ),
        200,
    )
    assert set_reply["value"] == "fr"
    listed = _json(await mesh.http.get(f"/v1/profiles/{profile_id}/preferences", headers=auth), 200)
    assert [(p["key"], p["value"]) for p in listed["preferences"]] == [("subtitles.language", "fr")]


async def test_paging_a_filtered_title_list_returns_each_title_once(mesh: Mesh) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(50):  # bounded: the sample has a few hundred titles
        params = {"country": "US", "max_maturity": "PG-13", "page_size": "7"}
        if token:
            params["page_token"] = token
        page = _json(await mesh.http.get("/v1/titles", params=params), 200)
        for title in page.get("titles", []):
            assert allows("PG-13", title["maturityRating"]), title
            assert not title.get("countryCodes") or "US" in title["countryCodes"], title
            seen.append(title["titleId"])
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen, "no US title up to PG-13 in the sample"
    assert len(seen) == len(set(seen))


async def test_get_one_title_and_its_errors(mesh: Mesh) -> None:
    page = _json(await mesh.http.get("/v1/titles", params={"page_size": "1"}), 200)
    title_id = page["titles"][0]["titleId"]
    title = _json(await mesh.http.get(f"/v1/titles/{title_id}"), 200)
    assert title["titleId"] == title_id
    assert title["contentType"] in ("MOVIE", "TV_SHOW")
    _error(await mesh.http.get(f"/v1/titles/{uuid.uuid4()}"), 404, 5)
    _error(await mesh.http.get("/v1/titles/not-a-uuid"), 400, 3)


async def test_the_home_screen_respects_a_kids_profile(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    kids = await _kids_profile(mesh, account_id, auth)
    home = _json(await mesh.http.get(f"/v1/profiles/{kids['profileId']}/home", headers=auth), 200)
    assert home["profileId"] == kids["profileId"]
    assert home.get("rows"), home
    for row in home["rows"]:
        for card in row["cards"]:
            assert allows("TV-Y7", card["maturityRating"]), (row["rowId"], card)
    assert not home.get("failedRows"), home


async def test_an_unknown_route_is_404_json(mesh: Mesh) -> None:
    _error(await mesh.http.get("/v1/does-not-exist"), 404, 5)


async def test_grpc_clients_use_the_same_port(mesh: Mesh) -> None:
    async with grpc.aio.insecure_channel(mesh.edge_target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        page = await stub.ListTitles(catalog_pb2.ListTitlesRequest(page_size=2), timeout=10)
        assert len(page.titles) == 2
        title = await stub.GetTitle(
            catalog_pb2.GetTitleRequest(title_id=page.titles[0].title_id), timeout=10
        )
    assert title.title == page.titles[0].title


async def test_grpcurl_through_the_edge(mesh: Mesh) -> None:
    grpcurl = shutil.which("grpcurl")
    if grpcurl is None:
        pytest.fail("grpcurl is not on PATH: run `make tools`")
    listed = await asyncio.to_thread(
        subprocess.run,
        [grpcurl, "-plaintext", mesh.edge_target, "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "streammesh.catalog.v1.CatalogService" in listed.stdout, listed.stderr
    called = await asyncio.to_thread(
        subprocess.run,
        [
            grpcurl,
            "-plaintext",
            "-d",
            '{"page_size": 1}',
            mesh.edge_target,
            "streammesh.catalog.v1.CatalogService/ListTitles",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert called.returncode == 0, called.stderr
    assert '"title_id"' in called.stdout


def _rfc3339(moment: datetime) -> str:
    """Whole seconds, as proto3 JSON writes a timestamp without a fraction."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _a_title_of_its_own(mesh: Mesh) -> str:
    """A US title up to PG-13 that no other e2e test records views of (the fuzzer
    uses the catalog's first title), so its trending figures are this test's."""
    first = _json(await mesh.http.get("/v1/titles", params={"page_size": "1"}), 200)
    page = _json(
        await mesh.http.get(
            "/v1/titles", params={"country": "US", "max_maturity": "PG-13", "page_size": "20"}
        ),
        200,
    )
    taken = first["titles"][0]["titleId"]
    candidates = [t["titleId"] for t in page["titles"] if t["titleId"] != taken]
    assert candidates, page
    return str(candidates[-1])


async def _trending_entry(
    mesh: Mesh, country: str, day: str, title_id: str, expected: dict[str, Any]
) -> dict[str, Any]:
    """Polls ListTrending (bounded) until the title's entry has the expected figures."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ROLLUP_WAIT_SECONDS
    seen: dict[str, Any] = {}
    while loop.time() < deadline:
        trending = _json(
            await mesh.http.get(
                "/v1/trending", params={"country": country, "date": day, "page_size": "100"}
            ),
            200,
        )
        seen = next((t for t in trending.get("titles", []) if t["titleId"] == title_id), {})
        if seen and all(seen.get(key) == value for key, value in expected.items()):
            return seen
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"trending {country} {day} never showed {title_id} with {expected}; last seen: {seen}"
    )


async def test_views_make_history_continue_watching_and_trending(mesh: Mesh) -> None:
    # The account's country is the views' (they name none): one no other test watches in.
    country = "NZ"
    account_id, auth = await _sign_up(mesh, country=country)
    profile = _json(
        await mesh.http.post(
            f"/v1/accounts/{account_id}/profiles",
            json={"profileName": "Evenings", "maturityRating": "TV-MA"},
            headers=auth,
        ),
        200,
    )
    profile_id = profile["profileId"]
    title_id = await _a_title_of_its_own(mesh)
    # Explicit watch times, so the trending day is known even across midnight.
    watched = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    day = watched.date().isoformat()
    first_view = {
        "viewId": str(uuid.uuid4()),
        "titleId": title_id,
        "watchTime": _rfc3339(watched),
        "positionSeconds": 600,
        "durationSeconds": 3600,
        "deviceType": "web",
    }
    views = f"/v1/profiles/{profile_id}/views"
    recorded = _json(await mesh.http.post(views, json=first_view, headers=auth), 200)
    assert recorded["viewId"] == first_view["viewId"]
    assert recorded["profileId"] == profile_id
    assert recorded["titleId"] == title_id
    assert recorded["countryCode"] == country
    assert recorded["positionSeconds"] == 600
    assert recorded["durationSeconds"] == 3600
    assert not recorded.get("completed", False)
    # The same view again (a device's retry): the first one's answer, recorded once.
    assert _json(await mesh.http.post(views, json=first_view, headers=auth), 200) == recorded
    second_view = {
        **first_view,
        "viewId": str(uuid.uuid4()),
        "watchTime": _rfc3339(watched + timedelta(minutes=5)),
        "positionSeconds": 1200,
    }
    _json(await mesh.http.post(views, json=second_view, headers=auth), 200)

    history = _json(await mesh.http.get(f"/v1/profiles/{profile_id}/history", headers=auth), 200)
    assert [v["viewId"] for v in history["views"]] == [
        second_view["viewId"],
        first_view["viewId"],
    ]
    assert history["views"][1] == recorded
    assert not history.get("nextPageToken")

    watching = _json(
        await mesh.http.get(f"/v1/profiles/{profile_id}/continue-watching", headers=auth), 200
    )
    (item,) = watching["items"]
    assert item["titleId"] == title_id
    assert (item["positionSeconds"], item["durationSeconds"]) == (1200, 3600)
    assert item["lastWatchTime"] == second_view["watchTime"]

    # The rollup recounts the title's day from its play log: the retried view is
    # one view, so two views of 600 + 1200 s by one viewer (int64s are JSON strings).
    entry = await _trending_entry(
        mesh,
        country,
        day,
        title_id,
        {"viewCount": "2", "watchSeconds": "1800", "uniqueViewers": "1"},
    )
    assert entry["rank"] >= 1
    # Another country's list does not have it.
    elsewhere = _json(
        await mesh.http.get("/v1/trending", params={"country": "IS", "date": day}), 200
    )
    assert title_id not in {t["titleId"] for t in elsewhere.get("titles", [])}


async def test_history_refuses_foreign_and_unknown_profiles_and_bad_views(mesh: Mesh) -> None:
    owner_id, owner = await _sign_up(mesh)
    _, stranger = await _sign_up(mesh)
    profiles = _json(await mesh.http.get(f"/v1/accounts/{owner_id}/profiles", headers=owner), 200)
    profile_id = profiles["profiles"][0]["profileId"]
    title_id = await _a_title_of_its_own(mesh)
    view = {"titleId": title_id, "positionSeconds": 60, "durationSeconds": 3600}
    views = f"/v1/profiles/{profile_id}/views"

    # Another account's profile: refused by the users service's ownership check.
    _error(await mesh.http.post(views, json=view, headers=stranger), 403, 7)
    for path in ("history", "continue-watching"):
        _error(await mesh.http.get(f"/v1/profiles/{profile_id}/{path}", headers=stranger), 403, 7)
    _error(await mesh.http.post(views, json=view), 401, 16)
    # A profile that does not exist: the users service's NOT_FOUND, as it was.
    missing = f"/v1/profiles/{10**15 + 7}"
    _error(await mesh.http.post(f"{missing}/views", json=view, headers=owner), 404, 5)
    for path in ("history", "continue-watching"):
        _error(await mesh.http.get(f"{missing}/{path}", headers=owner), 404, 5)
    # Nothing of the refused calls reached the owner's history.
    history = _json(await mesh.http.get(f"/v1/profiles/{profile_id}/history", headers=owner), 200)
    assert not history.get("views"), history

    # Bad views: a field violation each; a title the catalog does not have: 404.
    for bad, field in (
        ({**view, "titleId": "not-a-uuid"}, "view.title_id"),
        ({**view, "positionSeconds": -1}, "view.position_seconds"),
        ({**view, "countryCode": "nz"}, "view.country_code"),
    ):
        body = _error(await mesh.http.post(views, json=bad, headers=owner), 400, 3)
        fields = {
            violation["field"]
            for detail in body["details"]
            for violation in detail.get("fieldViolations", [])
        }
        assert field in fields, body
    _error(
        await mesh.http.post(views, json={**view, "titleId": str(uuid.uuid4())}, headers=owner),
        404,
        5,
    )
    _error(await mesh.http.get("/v1/trending", params={"country": "usa"}), 400, 3)
    _error(
        await mesh.http.get("/v1/trending", params={"country": "US", "date": "2024-13-40"}),
        400,
        3,
    )


# ------------------------------------------------------------ search through the edge


async def _searchable(
    mesh: Mesh, params: dict[str, str], title_id: str, auth: dict[str, str] | None = None
) -> Any:
    """``GET /v1/search`` once ``title_id`` is among its results: the mesh indexes
    the catalog's seed from its stream as it starts, so a search may come first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ROLLUP_WAIT_SECONDS
    while True:
        answer = _json(await mesh.http.get("/v1/search", params=params, headers=auth), 200)
        found = {hit["titleId"] for hit in answer.get("results", [])}
        if title_id in found or loop.time() > deadline:
            return answer
        await asyncio.sleep(0.2)


def _one_typo(text: str) -> str:
    """``text`` with one letter of its longest word replaced: one edit, which every
    search backend forgives in a word of 5 letters or more."""
    longest = max(text.split(), key=len)
    if len(longest) < 5:
        return text
    middle = len(longest) // 2
    typo = "z" if longest[middle].lower() != "z" else "q"
    return text.replace(longest, longest[:middle] + typo + longest[middle + 1 :], 1)


async def _a_seeded_title(mesh: Mesh, rating: str) -> dict[str, Any]:
    """A seeded title of ``rating`` whose name no other seeded title shares, the
    longest such: the title a search by its name means. Every page of the
    catalog is read (its order differs between backends)."""
    titles: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"pageSize": "100", **({"pageToken": token} if token else {})}
        page = _json(await mesh.http.get("/v1/titles", params=params), 200)
        titles.extend(page.get("titles", []))
        token = page.get("nextPageToken", "")
        if not token:
            break
    names = [title["title"].lower() for title in titles]
    # Only the seed's own titles: other suites of the run write titles into the
    # same keyspace, whose events this mesh's search never sees.
    seeded = _sample_titles()
    unique = [
        title
        for title in titles
        if title["maturityRating"] == rating
        and names.count(title["title"].lower()) == 1
        and title["title"].lower() in seeded
    ]
    return max(unique, key=lambda title: (len(title["title"]), title["titleId"]))


def _sample_titles() -> set[str]:
    """The names of the titles the mesh was seeded with, lower-cased."""
    with SAMPLE_CATALOG.open(newline="", encoding="utf-8") as sample:
        return {row["title"].strip().lower() for row in csv.DictReader(sample)}


async def test_search_facets_and_suggestions_over_rest(mesh: Mesh) -> None:
    title = await _a_seeded_title(mesh, "TV-MA")
    misspelled = _one_typo(title["title"])
    answer = await _searchable(mesh, {"q": misspelled, "pageSize": "5"}, title["titleId"])
    assert answer["results"][0]["titleId"] == title["titleId"], answer
    assert int(answer["totalSize"]) >= 1
    facets = {facet["field"]: facet["buckets"] for facet in answer["facets"]}
    assert {"genre", "content_type", "decade", "maturity_rating"} <= set(facets), facets
    genre = title["genres"][0]
    narrowed = _json(
        await mesh.http.get("/v1/search", params={"q": title["title"], "genre": genre}), 200
    )
    # The title has the genre, so it stays; the narrowed total is within the first's.
    assert title["titleId"] in {hit["titleId"] for hit in narrowed.get("results", [])}, narrowed
    assert int(narrowed["totalSize"]) <= int(answer["totalSize"])
    suggested = _json(
        await mesh.http.get("/v1/search/suggestions", params={"prefix": title["title"][:4]}), 200
    )
    assert suggested["suggestions"], suggested


async def test_search_refuses_bad_input_over_rest(mesh: Mesh) -> None:
    _error(await mesh.http.get("/v1/search", params={"q": ""}), 400, 3)
    _error(await mesh.http.get("/v1/search", params={"q": "x", "maxMaturity": "XXX"}), 400, 3)
    _error(await mesh.http.get("/v1/search", params={"q": "x", "pageToken": "garbage"}), 400, 3)
    _error(await mesh.http.get("/v1/search/suggestions"), 400, 3)
    # A profile needs its owner's token.
    _error(await mesh.http.get("/v1/search", params={"q": "x", "profileId": "1"}), 401, 16)


async def test_a_kids_profile_never_finds_an_adult_title_over_rest(mesh: Mesh) -> None:
    adult = await _a_seeded_title(mesh, "TV-MA")
    found = await _searchable(mesh, {"q": adult["title"]}, adult["titleId"])
    assert adult["titleId"] in {hit["titleId"] for hit in found["results"]}
    account_id, auth = await _sign_up(mesh)
    kids = await _kids_profile(mesh, account_id, auth)
    # Asking for everything (max_maturity NC-17) changes nothing: the profile caps it.
    params = {"q": adult["title"], "profileId": kids["profileId"], "maxMaturity": "NC-17"}
    answer = _json(await mesh.http.get("/v1/search", params=params, headers=auth), 200)
    assert all(allows("TV-Y7", hit["maturityRating"]) for hit in answer.get("results", []))
    assert adult["titleId"] not in {hit["titleId"] for hit in answer.get("results", [])}
    for facet in answer.get("facets", []):
        if facet["field"] == "maturity_rating":
            assert all(allows("TV-Y7", bucket["value"]) for bucket in facet["buckets"]), facet
    suggested = _json(
        await mesh.http.get(
            "/v1/search/suggestions",
            params={"prefix": adult["title"][:5], "profileId": kids["profileId"]},
            headers=auth,
        ),
        200,
    )
    assert adult["title"] not in {s.get("text") for s in suggested.get("suggestions", [])}


async def test_search_over_grpc_through_the_edge(mesh: Mesh) -> None:
    title = await _a_seeded_title(mesh, "TV-14")
    await _searchable(mesh, {"q": title["title"]}, title["titleId"])
    async with grpc.aio.insecure_channel(mesh.edge_target) as channel:
        stub = search_pb2_grpc.SearchServiceStub(channel)
        answer = await stub.Search(search_pb2.SearchRequest(q=title["title"]), timeout=10)
        suggested = await stub.Suggest(
            search_pb2.SuggestRequest(prefix=title["title"][:4]), timeout=10
        )
    assert answer.results[0].title_id == title["titleId"]
    assert suggested.suggestions
