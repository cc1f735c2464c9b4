"""The device mix, driven open-loop with asyncio and httpx through the edge.

A device signs in once (its token is kept; sign-ins are timed apart, since
Argon2id makes them slow on purpose). A session is what a device does when
the app opens, in order, with no think time:

    home; 10 title pages; search: 8 suggestions as the query is typed, then
    the search; trending; continue watching; then playback: start a stream
    (the slot), record a view, stop it; home and continue watching again;
    5 more title pages

27 reads and 3 writes: 90 % reads, as in the case study. Public GETs are
sent without a token (as a CDN would forward them); owner calls carry it.

Sessions start at a fixed rate for a fixed time (open loop: a slow mesh
does not slow the arrivals); every request counts, in flight ones are
awaited up to a bound, and a device runs one session at a time (a session
that finds every device busy is counted as refused).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from services import ratings

PASSWORD = "device load password"
# Sign-ups tried at most this many times, the pause doubling from the backoff.
SIGN_UP_ATTEMPTS = 5
SIGN_UP_BACKOFF_SECONDS = 0.2
# Bounds: devices signed in, requests in flight, the wait for stragglers.
MAX_CONNECTIONS = 256
REQUEST_TIMEOUT_SECONDS = 10.0
DRAIN_SECONDS = 30.0
QUERIES = ("the", "love", "war", "star", "night", "man", "world", "life")


@dataclass
class Device:
    token: str
    profile_id: str
    # The profile's maturity limit: it watches only titles within it (the
    # history refuses a view above it, as a device never offers one).
    maturity_rating: str = ""
    busy: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@dataclass
class Step:
    """What one rate measured."""

    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    # "status METHOD /path/{id}" -> count: what the errors were.
    failures: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    refused: int = 0

    def percentile(self, share: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds


async def sign_in_devices(
    http: httpx.AsyncClient, count: int, country: str = "US"
) -> tuple[list[Device], list[float]]:
    """``count`` new accounts, each signed in once; with the sign-in latencies (ms)."""
    devices: list[Device] = []
    sign_ins: list[float] = []
    semaphore = asyncio.Semaphore(8)

    async def one(number: int) -> None:
        email = f"device.{time.time_ns()}.{number}@example.com"
        async with semaphore:
            await create_account(http, email, number, country)
            started = time.perf_counter()
            session = await http.post("/v1/sessions", json={"email": email, "password": PASSWORD})
            sign_ins.append((time.perf_counter() - started) * 1000)
            session.raise_for_status()
            token = session.json()["accessToken"]
            profiles = await http.get(
                f"/v1/accounts/{session.json()['accountId']}/profiles",
                headers={"authorization": f"Bearer {token}"},
            )
            profiles.raise_for_status()
            profile = profiles.json()["profiles"][0]
            devices.append(Device(token, profile["profileId"], profile.get("maturityRating", "")))

    await asyncio.gather(*(one(n) for n in range(count)))
    return devices, sign_ins


async def create_account(http: httpx.AsyncClient, email: str, number: int, country: str) -> None:
    """Signs a device's account up, trying again (bounded) while the mesh says UNAVAILABLE:
    many sign-ups at once into users' embedded SQLite, shared by its processes, may
    find the database busy. A retry that finds the account made (409) is done."""
    for attempt in range(SIGN_UP_ATTEMPTS):
        created = await http.post(
            "/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "firstName": "Device",
                "lastName": f"Load {number}",
                "countryCode": country,
            },
        )
        if created.status_code == 409 and attempt > 0:
            return
        if created.status_code != 503 or attempt == SIGN_UP_ATTEMPTS - 1:
            created.raise_for_status()
            return
        await asyncio.sleep(SIGN_UP_BACKOFF_SECONDS * 2**attempt)


async def title_ids(http: httpx.AsyncClient, country: str = "US", pages: int = 3) -> dict[str, str]:
    """Title id -> maturity rating, of the first ``pages`` pages of the country's listing."""
    ids: dict[str, str] = {}
    token = ""
    for _ in range(pages):
        answer = await http.get(
            "/v1/titles", params={"country": country, "pageSize": 100, "pageToken": token}
        )
        answer.raise_for_status()
        body = answer.json()
        ids.update(
            (title["titleId"], title.get("maturityRating", "")) for title in body.get("titles", [])
        )
        token = body.get("nextPageToken", "")
        if not token:
            break
    return ids


class Driver:
    def __init__(
        self, http: httpx.AsyncClient, devices: list[Device], titles: dict[str, str]
    ) -> None:
        self._http = http
        self._devices = devices
        self._titles = sorted(titles)
        self._ratings = titles
        self._random = random.Random(20)

    async def run(self, rate: float, seconds: float) -> Step:
        step = Step(rate, seconds)
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        started = loop.time()
        count = int(rate * seconds)
        for index in range(count):
            # Open loop: each session at its planned time, whatever the mesh does.
            await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
            device = next((d for d in self._devices if not d.busy), None)
            if device is None:
                step.refused += 1
                continue
            device.busy = True
            task = asyncio.create_task(self._session(device, step))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for task in tasks:
            task.cancel()
        step.seconds = max(seconds, loop.time() - started)
        return step

    async def _session(self, device: Device, step: Step) -> None:
        try:
            step.sessions += 1
            rng = self._random
            profile = device.profile_id
            owner = device.headers
            await self._get(step, f"/v1/profiles/{profile}/home", owner)
            for title in rng.sample(self._titles, 10):
                await self._get(step, f"/v1/titles/{title}")
            query = rng.choice(QUERIES)
            for typed in range(1, 9):
                prefix = (query * 2)[: max(1, typed)]
                await self._get(step, "/v1/search/suggestions", params={"prefix": prefix})
            await self._get(step, "/v1/search", params={"q": query})
            await self._get(step, "/v1/trending", params={"country": "US"})
            await self._get(step, f"/v1/profiles/{profile}/continue-watching", owner)
            await self._watch(step, device, rng.choice(self._watchable(device)))
            await self._get(step, f"/v1/profiles/{profile}/home", owner)
            await self._get(step, f"/v1/profiles/{profile}/continue-watching", owner)
            for title in rng.sample(self._titles, 5):
                await self._get(step, f"/v1/titles/{title}")
        finally:
            device.busy = False

    def _watchable(self, device: Device) -> list[str]:
        if not device.maturity_rating:
            return self._titles
        return [
            title
            for title in self._titles
            if ratings.allows(device.maturity_rating, self._ratings[title])
        ] or self._titles

    async def _watch(self, step: Step, device: Device, title_id: str) -> None:
        """Start a stream (the slot the history requires), record a view, stop."""
        profile = device.profile_id
        playback = await self._send(
            step, "POST", f"/v1/profiles/{profile}/playback", {"titleId": title_id}, device.headers
        )
        view = {
            "titleId": title_id,
            "positionSeconds": 600,
            "durationSeconds": 3600,
            "deviceType": "tv",
            "watchTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        await self._send(step, "POST", f"/v1/profiles/{profile}/views", view, device.headers)
        if playback is not None:
            playback_id = playback.get("playbackId", "")
            await self._send(step, "DELETE", f"/v1/playbacks/{playback_id}", None, device.headers)

    async def _get(
        self,
        step: Step,
        path: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        await self._send(step, "GET", path, None, headers, params)

    async def _send(
        self,
        step: Step,
        method: str,
        path: str,
        body: dict[str, object] | None,
        headers: dict[str, str] | None,
        params: dict[str, str] | None = None,
    ) -> dict[str, object] | None:
        started = time.perf_counter()
        try:
            answer = await self._http.request(
                method, path, json=body, headers=headers, params=params
            )
        except httpx.HTTPError as error:
            step.errors += 1
            step.failures[f"{type(error).__name__} {method} {path_shape(path)}"] += 1
            step.latencies_ms.append((time.perf_counter() - started) * 1000)
            return None
        step.latencies_ms.append((time.perf_counter() - started) * 1000)
        if answer.status_code >= 400:
            step.errors += 1
            step.failures[f"{answer.status_code} {method} {path_shape(path)}"] += 1
            return None
        parsed: dict[str, object] = answer.json()
        return parsed


def path_shape(path: str) -> str:
    """``/v1/profiles/p_123/home`` -> ``/v1/profiles/{id}/home``."""
    return "/".join(
        "{id}" if any(c.isdigit() for c in part) and part != "v1" else part
        for part in path.split("/")
    )


def client(edge: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=edge,
        timeout=REQUEST_TIMEOUT_SECONDS,
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        ),
    )
