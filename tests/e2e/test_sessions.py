"""Plans, device sessions and concurrent streams through the real Envoy, on both backends.

The issue's "Done when", as a device sees it over REST: a Standard plan
refuses a third stream and admits one again when a stream stops or its
heartbeats lapse; 50 concurrent starts on a 2-stream plan admit exactly 2;
after "sign out everywhere" every old access token is refused within the
revocation bound at the edge and straight on each service port, and every old
refresh token at once; a reused refresh token signs its session out; a plan
change moves the limit at once and publishes `user.subscription.changed`.

Its own mesh (users, catalog, history requiring stream slots, browse, and
Envoy): the slot lifetime is short here so lapses take seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc.aio
import httpx
import pytest
import redis.asyncio as aioredis

from interceptors.auth import DEFAULT_REVOCATION_BOUND_SECONDS
from services.events import streams
from services.events.config import stream_prefix_for
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import events_pb2, users_pb2, users_pb2_grpc
from tests.mesh import (
    LOOPBACK,
    Backends,
    StorageFactory,
    browse_config,
    catalog_config,
    edge_in_front,
    history_config,
    start_mesh,
    unused_port,
    users_config,
    wait_until,
)

PASSWORD = "correct horse battery"
SLOT_TTL_SECONDS = 2
# Every service but users checks sessions with the kit's default bound; users
# is given the same.
BOUND_SECONDS = DEFAULT_REVOCATION_BOUND_SECONDS
# A title of the sample catalog a default (PG-13) profile may watch.
TITLE = "cefd0cc0-bf57-5f13-bb57-cbca1a03d218"


@dataclass
class SessionsMesh:
    backend: str
    http: httpx.AsyncClient
    ports: dict[str, int]
    redis: aioredis.Redis
    users_stream: str


@pytest.fixture(scope="module")
async def edge(
    backend: Backends, mesh_storage: StorageFactory, redis_url: str
) -> AsyncIterator[SessionsMesh]:
    storage = mesh_storage(f"sessions-{backend.name}", backend)
    state = storage.state
    async with start_mesh(
        users_config(
            storage,
            stream_slot_ttl_seconds=SLOT_TTL_SECONDS,
            revocation_bound_seconds=BOUND_SECONDS,
        ),
        catalog_config(storage),
        history_config(storage, require_stream_slot=True),
        browse_config(),
    ) as servers:
        redis = aioredis.Redis.from_url(redis_url)
        stream = streams.stream_name("users", stream_prefix_for(storage.redis_prefix))
        try:
            async with (
                edge_in_front(
                    servers.addresses, state, otlp_collector=f"{LOOPBACK}:{unused_port()}"
                ) as edge_port,
                httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{edge_port}", timeout=15) as http,
            ):
                yield SessionsMesh(backend.name, http, servers.ports, redis, stream)
        finally:
            await redis.aclose()


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _refused(response: httpx.Response, status: int, reason: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if reason:
        reasons = [d.get("reason") for d in body.get("details", [])]
        assert reason in reasons, body
    return body


@dataclass
class Device:
    access_token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


async def _account(mesh: SessionsMesh) -> tuple[str, str, str]:
    """A new account: (account id, e-mail, primary profile id)."""
    email = f"sessions.{uuid.uuid4().hex[:10]}@example.com"
    account = _ok(
        await mesh.http.post(
            "/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "countryCode": "GB",
            },
        )
    )
    device = await _sign_in(mesh, email, "setup")
    profiles = _ok(
        await mesh.http.get(f"/v1/accounts/{account['accountId']}/profiles", headers=device.headers)
    )
    return account["accountId"], email, profiles["profiles"][0]["profileId"]


async def _sign_in(
    mesh: SessionsMesh, email: str, name: str, kind: str = "DEVICE_TYPE_TV"
) -> Device:
    signed = _ok(
        await mesh.http.post(
            "/v1/sessions",
            json={"email": email, "password": PASSWORD, "deviceType": kind, "deviceName": name},
        )
    )
    return Device(signed["accessToken"], signed["refreshToken"], signed["sessionId"])


async def _change_plan(mesh: SessionsMesh, account_id: str, device: Device, plan: str) -> Any:
    return _ok(
        await mesh.http.post(
            f"/v1/accounts/{account_id}/subscription:changePlan",
            json={"planId": plan},
            headers=device.headers,
        )
    )


async def _start(mesh: SessionsMesh, profile_id: str, device: Device) -> httpx.Response:
    return await mesh.http.post(
        f"/v1/profiles/{profile_id}/playback", json={"titleId": TITLE}, headers=device.headers
    )


async def test_playback_routes_refuse_bad_input_and_missing_tokens(edge: SessionsMesh) -> None:
    _refused(await edge.http.post("/v1/profiles/1/playback", json={}), 401)
    account_id, email, _profile_id = await _account(edge)
    device = await _sign_in(edge, email, "TV")
    _refused(
        await edge.http.post("/v1/profiles/not-a-number/playback", json={}, headers=device.headers),
        400,
    )
    _refused(await edge.http.post("/v1/sessions:refresh", json={"refreshToken": ""}), 400)
    _refused(
        await edge.http.post("/v1/sessions:refresh", json={"refreshToken": "x.1.y"}),
        401,
        "REFRESH_TOKEN_INVALID",
    )
    _refused(
        await edge.http.post(
            f"/v1/accounts/{account_id}/subscription:changePlan",
            json={"planId": "platinum"},
            headers=device.headers,
        ),
        404,
        "PLAN_NOT_FOUND",
    )
    plans = _ok(await edge.http.get("/v1/plans", params={"country": "GB"}))
    assert [p["maxStreams"] for p in plans["plans"]] == [1, 2, 4]
    _refused(
        await edge.http.post("/v1/playbacks/nosuch:heartbeat", json={}, headers=device.headers), 404
    )


async def test_a_standard_plan_refuses_a_third_stream_until_one_stops_or_lapses(
    edge: SessionsMesh,
) -> None:
    account_id, email, profile_id = await _account(edge)
    tv = await _sign_in(edge, email, "Living room TV")
    phone = await _sign_in(edge, email, "Ada's phone", "DEVICE_TYPE_MOBILE")
    laptop = await _sign_in(edge, email, "Laptop", "DEVICE_TYPE_WEB")
    standard = await _change_plan(edge, account_id, tv, "standard")
    assert standard["maxStreams"] == 2
    first = _ok(await _start(edge, profile_id, tv))
    second = _ok(await _start(edge, profile_id, phone))
    third = _refused(await _start(edge, profile_id, laptop), 400, "STREAM_LIMIT_REACHED")
    assert "allows 2 streams" in third["message"]
    assert "Living room TV" in third["message"]
    assert "Ada's phone" in third["message"]
    # One stops: the laptop is admitted.
    stopped = await edge.http.delete(f"/v1/playbacks/{second['playbackId']}", headers=phone.headers)
    assert stopped.status_code == 200, stopped.text
    laptop_slot = _ok(await _start(edge, profile_id, laptop))
    _refused(await _start(edge, profile_id, phone), 400, "STREAM_LIMIT_REACHED")
    # The TV keeps beating; the laptop goes silent and its slot lapses.
    for _ in range(4 * SLOT_TTL_SECONDS):
        _ok(
            await edge.http.post(
                f"/v1/playbacks/{first['playbackId']}:heartbeat", json={}, headers=tv.headers
            )
        )
        await asyncio.sleep(0.5)
    _refused(
        await edge.http.post(
            f"/v1/playbacks/{laptop_slot['playbackId']}:heartbeat", json={}, headers=laptop.headers
        ),
        404,
        "PLAYBACK_NOT_FOUND",
    )
    assert _ok(await _start(edge, profile_id, phone))["deviceName"] == "Ada's phone"


async def test_fifty_concurrent_starts_on_a_two_stream_plan_admit_exactly_two(
    edge: SessionsMesh,
) -> None:
    account_id, email, profile_id = await _account(edge)
    device = await _sign_in(edge, email, "TV")
    await _change_plan(edge, account_id, device, "standard")
    answers = await asyncio.gather(*(_start(edge, profile_id, device) for _ in range(50)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 2 + [400] * 48, statuses
    for refused in (a for a in answers if a.status_code == 400):
        _refused(refused, 400, "STREAM_LIMIT_REACHED")


async def test_a_plan_change_moves_the_limit_at_once_and_publishes_an_event(
    edge: SessionsMesh,
) -> None:
    account_id, email, profile_id = await _account(edge)
    devices = [await _sign_in(edge, email, f"screen {n}") for n in range(3)]
    _ok(await _start(edge, profile_id, devices[0]))
    _refused(await _start(edge, profile_id, devices[1]), 400, "STREAM_LIMIT_REACHED")
    premium = await _change_plan(edge, account_id, devices[0], "premium")
    assert premium["maxStreams"] == 4
    _ok(await _start(edge, profile_id, devices[1]))
    _ok(await _start(edge, profile_id, devices[2]))

    async def published() -> bool:
        entries: Any = await edge.redis.xrange(edge.users_stream)
        for _, fields in entries:
            payload = fields.get(streams.PAYLOAD.encode())
            if not isinstance(payload, bytes):
                continue
            event = event_pb2.Event.FromString(payload)
            if event.event_type != "user.subscription.changed":
                continue
            if event.aggregate_id != account_id:
                continue
            changed = events_pb2.SubscriptionChangedEvent()
            event.data.Unpack(changed)
            return changed.subscription.plan_id == "premium" and changed.previous_plan_id == "basic"
        return False

    await wait_until(published, "user.subscription.changed on the users stream")


async def test_after_sign_out_everywhere_old_tokens_fail_at_the_edge_and_on_every_port(
    edge: SessionsMesh,
) -> None:
    account_id, email, profile_id = await _account(edge)
    old = [await _sign_in(edge, email, f"device {n}") for n in range(2)]
    # Each service remembers the sessions as live first (its cache is warm).
    for device in old:
        _ok(await edge.http.get(f"/v1/accounts/{account_id}", headers=device.headers))
        _ok(await edge.http.get(f"/v1/profiles/{profile_id}/history", headers=device.headers))
        _ok(await edge.http.get(f"/v1/profiles/{profile_id}/home", headers=device.headers))
    revoked = _ok(
        await edge.http.post(
            f"/v1/accounts/{account_id}/sessions:revokeAll", json={}, headers=old[0].headers
        )
    )
    assert revoked["revokedCount"] == 3  # the two devices and _account's own sign-in
    # Refresh tokens fail at once.
    for device in old:
        _refused(
            await edge.http.post(
                "/v1/sessions:refresh", json={"refreshToken": device.refresh_token}
            ),
            401,
        )
    # Access tokens: within the bound, everywhere.
    await asyncio.sleep(BOUND_SECONDS + 0.5)
    for device in old:
        for path in (
            f"/v1/accounts/{account_id}",
            f"/v1/profiles/{profile_id}/history",
            f"/v1/profiles/{profile_id}/home",
            f"/v1/accounts/{account_id}/sessions",
        ):
            _refused(await edge.http.get(path, headers=device.headers), 401)
        await _refused_on_every_port(edge, device, account_id, profile_id)
    # A new sign-in works.
    fresh = await _sign_in(edge, email, "new phone")
    _ok(await edge.http.get(f"/v1/accounts/{account_id}", headers=fresh.headers))


async def _refused_on_every_port(
    edge: SessionsMesh, device: Device, account_id: str, profile_id: str
) -> None:
    """The token is UNAUTHENTICATED straight on the users, history and browse ports."""
    metadata = (("authorization", f"Bearer {device.access_token}"),)
    calls: dict[str, Callable[[grpc.aio.Channel], Awaitable[object]]] = {
        "users": lambda channel: users_pb2_grpc.UserServiceStub(channel).GetAccount(
            users_pb2.GetAccountRequest(account_id=account_id), metadata=metadata, timeout=10
        ),
        "history": lambda channel: history_pb2_grpc.HistoryServiceStub(channel).ListHistory(
            history_pb2.ListHistoryRequest(profile_id=profile_id), metadata=metadata, timeout=10
        ),
        "browse": lambda channel: browse_pb2_grpc.BrowseServiceStub(channel).GetHome(
            browse_pb2.GetHomeRequest(profile_id=profile_id), metadata=metadata, timeout=10
        ),
    }
    for service, call in calls.items():
        async with grpc.aio.insecure_channel(f"{LOOPBACK}:{edge.ports[service]}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(channel)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, service


async def test_reusing_a_rotated_refresh_token_signs_the_session_out(edge: SessionsMesh) -> None:
    account_id, email, _profile_id = await _account(edge)
    device = await _sign_in(edge, email, "TV")
    rotated = _ok(
        await edge.http.post("/v1/sessions:refresh", json={"refreshToken": device.refresh_token})
    )
    assert rotated["sessionId"] == device.session_id
    renewed = Device(rotated["accessToken"], rotated["refreshToken"], rotated["sessionId"])
    _ok(await edge.http.get(f"/v1/accounts/{account_id}", headers=renewed.headers))
    _refused(
        await edge.http.post("/v1/sessions:refresh", json={"refreshToken": device.refresh_token}),
        401,
        "REFRESH_TOKEN_REUSED",
    )
    _refused(
        await edge.http.post("/v1/sessions:refresh", json={"refreshToken": renewed.refresh_token}),
        401,
    )
    await asyncio.sleep(BOUND_SECONDS + 0.5)
    _refused(await edge.http.get(f"/v1/accounts/{account_id}", headers=renewed.headers), 401)


async def test_a_view_is_recorded_only_while_the_device_holds_a_slot(edge: SessionsMesh) -> None:
    _, email, profile_id = await _account(edge)
    device = await _sign_in(edge, email, "TV")
    view = {"titleId": TITLE, "positionSeconds": 60, "durationSeconds": 3600}
    _refused(
        await edge.http.post(f"/v1/profiles/{profile_id}/views", json=view, headers=device.headers),
        400,
        "NO_LIVE_STREAM",
    )
    playing = _ok(await _start(edge, profile_id, device))
    _ok(await edge.http.post(f"/v1/profiles/{profile_id}/views", json=view, headers=device.headers))
    await edge.http.delete(f"/v1/playbacks/{playing['playbackId']}", headers=device.headers)
    _refused(
        await edge.http.post(f"/v1/profiles/{profile_id}/views", json=view, headers=device.headers),
        400,
        "NO_LIVE_STREAM",
    )
