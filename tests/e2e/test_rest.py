"""Devices' REST table through the real Envoy, on both backends.

A user story end to end: sign up, log in, manage profiles and preferences,
browse and page the catalog, open the home screen; and the ways it must
refuse: no token, a foreign token, an unknown route, bad input. Every error
body is a JSON google.rpc.Status.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from typing import Any

import grpc.aio
import httpx
import pytest

from services.ratings import allows
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.e2e.conftest import Mesh

PASSWORD = "correct horse battery"


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


async def test_profiles_create_update_and_delete(mesh: Mesh) -> None:
    account_id, auth = await _sign_up(mesh)
    created = _json(
        await mesh.http.post(
            f"/v1/accounts/{account_id}/profiles",
            json={"profileName": "Kids", "kidsProfile": True, "maturityRating": "TV-Y7"},
            headers=auth,
        ),
        200,
    )
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
    kids = _json(
        await mesh.http.post(
            f"/v1/accounts/{account_id}/profiles",
            json={"profileName": "Kids", "kidsProfile": True, "maturityRating": "TV-Y7"},
            headers=auth,
        ),
        200,
    )
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
