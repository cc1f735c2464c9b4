"""``streammesh seed-views`` as a subprocess against a mini-mesh of real servers.

Users, catalog (seeded from the e2e sample) and history servers on port 0, on
the embedded backends and the real Redis, with the history's popularity
rollup running beside it and its trending cache off. Bad input first; then
one run whose truth file (``--write-truth``) must be in the viewers'
histories; the issue's acceptance test: trending per country and day EQUALS
what the truth file says, computed here independently (views, watch seconds
= min(position, duration), distinct viewers, and the rank order); and a
second run with the same seed that records nothing new.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc.aio
import pytest

from devtools import seed_views
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import (
    StorageFactory,
    catalog_config,
    history_config,
    start_mesh,
    unused_port,
    users_config,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
VIEWERS = 6
VIEWS = 5
# Bounds (failures, not timing claims): one run of the command, the rollup.
RUN_SECONDS = 120.0
ROLLUP_SECONDS = 60.0
Figures = dict[str, tuple[int, int, int]]


@dataclass
class Mesh:
    addresses: dict[str, str]
    users: users_pb2_grpc.UserServiceStub
    history: history_pb2_grpc.HistoryServiceStub


@pytest.fixture(scope="module")
async def mesh(mesh_storage: StorageFactory) -> AsyncIterator[Mesh]:
    storage = mesh_storage("seed-views")
    async with (
        start_mesh(
            users_config(storage),
            catalog_config(storage),
            # Every ListTrending computed: the poll below sees the rollup land.
            # As `streammesh up` runs it: a view is recorded only from a device
            # holding a stream slot, which seed-views takes per viewer.
            history_config(storage, trending_cache_ttl_seconds=0, require_stream_slot=True),
        ) as mesh,
        grpc.aio.insecure_channel(mesh.address("users")) as users_channel,
        grpc.aio.insecure_channel(mesh.address("history")) as history_channel,
    ):
        yield Mesh(
            mesh.addresses,
            users_pb2_grpc.UserServiceStub(users_channel),
            history_pb2_grpc.HistoryServiceStub(history_channel),
        )


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> str:
        lines = [line for line in self.stdout.splitlines() if line.startswith("seed-views ")]
        assert lines, (self.stdout, self.stderr)
        return lines[-1]


def _command() -> list[str]:
    installed = ROOT / ".venv" / "bin" / "streammesh"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "services.cli"]


async def seed(mesh: Mesh | None, *args: str) -> Result:
    """Runs ``streammesh seed-views ARGS`` against the mesh (its addresses first, so
    ARGS may override them) to completion."""
    addresses: list[str] = []
    if mesh is not None:
        for name, address in mesh.addresses.items():
            addresses += [f"--{name}-addr", address]
    process = await asyncio.create_subprocess_exec(
        *_command(),
        "seed-views",
        *addresses,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def seed_the_plan(mesh: Mesh, truth_file: Path, summary: str) -> list[dict[str, Any]]:
    """Runs the tests' plan (VIEWERS viewers, VIEWS views each, SEED) against the
    mesh; it must succeed with a last line matching the pattern ``summary``.
    Returns the truth it wrote."""
    result = await seed(
        mesh,
        "--viewers",
        str(VIEWERS),
        "--views-per-viewer",
        str(VIEWS),
        "--seed",
        str(SEED),
        "--write-truth",
        str(truth_file),
    )
    assert result.code == 0, result
    assert re.search(summary, result.summary), result.summary
    return read_truth(truth_file)


def expected_trending(truth: list[dict[str, Any]]) -> dict[tuple[str, str], Figures]:
    """Per (country, day), each title's (views, watch seconds, distinct viewers),
    computed from the truth file alone."""
    views: dict[tuple[str, str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str, str], int] = defaultdict(int)
    viewers: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in truth:
        key = (row["country_code"], row["day"], row["title_id"])
        views[key] += 1
        duration = row["duration_seconds"]
        position = row["position_seconds"]
        seconds[key] += min(position, duration) if duration > 0 else position
        viewers[key].add(row["profile_id"])
    figures: dict[tuple[str, str], Figures] = defaultdict(dict)
    for (country, day, title_id), count in views.items():
        key = (country, day, title_id)
        figures[(country, day)][title_id] = (count, seconds[key], len(viewers[key]))
    return dict(figures)


def ranked(figures: Figures) -> list[str]:
    """Trending order: most views, then most watch time, then title id."""
    return sorted(figures, key=lambda title: (-figures[title][0], -figures[title][1], title))


async def trending(mesh: Mesh, country: str, day: str) -> tuple[Figures, list[str]]:
    response = await mesh.history.ListTrending(
        history_pb2.ListTrendingRequest(
            country=country, date=day, window=history_pb2.TRENDING_WINDOW_DAY, page_size=100
        ),
        timeout=10,
    )
    assert not response.next_page_token
    figures = {
        t.title_id: (t.view_count, t.watch_seconds, t.unique_viewers) for t in response.titles
    }
    return figures, [t.title_id for t in response.titles]


async def all_trending(
    mesh: Mesh, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Figures, list[str]]]:
    return {key: await trending(mesh, *key) for key in keys}


async def viewer_history(mesh: Mesh, email: str) -> list[history_pb2.View]:
    login = await mesh.users.Login(
        users_pb2.LoginRequest(email=email, password=seed_views.DEMO_PASSWORD), timeout=10
    )
    caller = (("authorization", f"Bearer {login.access_token}"),)
    profiles = await mesh.users.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=caller, timeout=10
    )
    profile_id = min(profiles.profiles, key=lambda p: int(p.profile_id)).profile_id
    response = await mesh.history.ListHistory(
        history_pb2.ListHistoryRequest(profile_id=profile_id, page_size=100),
        metadata=caller,
        timeout=10,
    )
    assert not response.next_page_token
    return list(response.views)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--viewers", "0"], "--viewers"),
        (["--views-per-viewer", "-1"], "--views-per-viewer"),
        (["--concurrency", "65"], "--concurrency"),
        (["--timeout", "soon"], "--timeout"),
        (["--seed", "x"], "--seed"),
    ],
)
async def test_bad_flags_are_refused_before_any_call(args: list[str], named: str) -> None:
    result = await seed(None, *args)
    assert result.code == 2, result
    assert named in result.stderr
    assert not result.stdout


async def test_a_service_that_does_not_answer_fails_the_run_with_its_name(mesh: Mesh) -> None:
    dead = f"127.0.0.1:{unused_port()}"
    result = await seed(
        mesh,
        "--history-addr",
        dead,
        "--viewers",
        "1",
        "--views-per-viewer",
        "1",
        "--seed",
        "99",  # not SEED: its viewer must not be one of the tests below
        "--timeout",
        "2",
    )
    assert result.code == 1, result
    assert "history ListHistory failed: UNAVAILABLE" in result.stderr
    assert result.summary.startswith("seed-views failed: 0 viewers")
    assert dead not in result.summary


# ------------------------------------------------------------ a run and its truth


async def test_the_truth_is_in_the_histories_trending_equals_it_and_a_rerun_adds_nothing(
    mesh: Mesh, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    truth = await seed_the_plan(
        mesh,
        tmp_path / "first.jsonl",
        rf"^seed-views done: {VIEWERS} viewers \({VIEWERS} accounts created\), "
        rf"{VIEWERS * VIEWS} views recorded, 0 already there, 0 refused, \d+ retries, ",
    )
    assert len(truth) == VIEWERS * VIEWS
    assert all(row["new"] for row in truth)

    # The plan: ids from (seed, viewer, n), the viewers' countries, watch times
    # over the last 14 days (today among them), finished and unfinished views.
    assert {row["view_id"] for row in truth} == {
        seed_views.view_id(SEED, viewer, n)
        for viewer in range(1, VIEWERS + 1)
        for n in range(VIEWS)
    }
    for row in truth:
        planned = seed_views.viewer(SEED, row["viewer"])
        assert row["email"] == planned.email == f"viewer-{row['viewer']}-{SEED}@seed.streammesh.dev"
        assert row["country_code"] == planned.country
        moment = datetime.fromisoformat(row["watch_time"])
        assert started - timedelta(days=seed_views.DAYS) < moment <= datetime.now(UTC)
        assert 0 < row["position_seconds"] <= row["duration_seconds"]
        assert row["completed"] == (row["position_seconds"] >= 0.95 * row["duration_seconds"])
    assert {row["completed"] for row in truth} == {True, False}
    assert started.date().isoformat() in {row["day"] for row in truth}
    assert len({row["day"] for row in truth}) > 1

    # Every view of the truth is in its viewer's history, as written there.
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in truth:
        by_email[row["email"]].append(row)
    for email, rows in by_email.items():
        history = {view.view_id: view for view in await viewer_history(mesh, email)}
        assert set(history) == {row["view_id"] for row in rows}, email
        for row in rows:
            stored = history[row["view_id"]]
            assert (
                stored.title_id,
                stored.position_seconds,
                stored.duration_seconds,
                stored.country_code,
                stored.profile_id,
                stored.watch_time.ToDatetime(tzinfo=UTC),
            ) == (
                row["title_id"],
                row["position_seconds"],
                row["duration_seconds"],
                row["country_code"],
                row["profile_id"],
                datetime.fromisoformat(row["watch_time"]),
            )

    # The acceptance test: trending per (country, day), once the rollup has
    # caught up, equals the figures computed from the truth file alone.
    expected = expected_trending(truth)
    keys = sorted(expected)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ROLLUP_SECONDS
    seen = await all_trending(mesh, keys)
    while any(seen[key][0] != expected[key] for key in keys) and loop.time() < deadline:
        await asyncio.sleep(0.2)
        seen = await all_trending(mesh, keys)
    for key in keys:
        figures, order = seen[key]
        assert figures == expected[key], key
        assert order == ranked(expected[key]), key
    assert sum(count for figures in expected.values() for count, _, _ in figures.values()) == (
        VIEWERS * VIEWS
    )

    # A second run with the same seed: every account found, nothing recorded,
    # the same truth, the same trending.
    again = await seed_the_plan(
        mesh,
        tmp_path / "second.jsonl",
        rf"^seed-views done: {VIEWERS} viewers \(0 accounts created\), 0 views recorded, "
        rf"{VIEWERS * VIEWS} already there, 0 refused, ",
    )
    assert not any(row["new"] for row in again)
    assert [{**row, "new": True} for row in again] == truth
    for email, rows in by_email.items():
        assert len(await viewer_history(mesh, email)) == len(rows)
    await asyncio.sleep(1.0)  # what a stray event would need to be rolled up
    assert await all_trending(mesh, keys) == seen


def test_the_plan_is_the_seeds(tmp_path: Path) -> None:
    """Same seed, viewer and pool: the same views; another seed: other ids."""
    pool = seed_views.Pool(
        tuple(
            seed_views.PoolTitle(str(uuid.UUID(int=i)), (f"g{i % 5}",), "PG", 60 * (30 + i))
            for i in range(40)
        )
    )
    now = datetime(2030, 5, 17, 9, 30, tzinfo=UTC)
    one = seed_views.plan(SEED, 3, pool, 20, now)
    assert one == seed_views.plan(SEED, 3, pool, 20, now)
    assert [v.view_id for v in one] != [
        v.view_id for v in seed_views.plan(SEED + 1, 3, pool, 20, now)
    ]
    assert len({v.title.title_id for v in one}) == 20  # no title twice while others are left
    days = {v.watch_time.date() for v in one}
    assert max(days) == now.date()
    assert min(days) > (now - timedelta(days=seed_views.DAYS)).date()
    assert all(v.watch_time <= now for v in one)
    assert seed_views.viewer(SEED, 3) == seed_views.viewer(SEED, 3)
