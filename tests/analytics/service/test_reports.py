"""The issue's acceptance tests, on DuckDB and on PostgreSQL: after ``seed-views``
through a mini-mesh (users, catalog and history servers, the real Redis), the
analytics server's GetTitleStats, ListTopTitles and ListDailyEngagement EQUAL
the figures computed here from the views seed-views recorded; replaying every
stream from the start changes no figure. Bad input first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc
import grpc.aio
import pytest
from redis.asyncio import Redis

from devtools import seed_views
from services.analytics import ingest
from services.events import streams
from services.events.config import stream_prefix_for
from streammesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.analytics.conftest import drop_postgres_database, fresh_postgres_database
from tests.analytics.figures import RawView, daily, title_stats, top_titles
from tests.analytics.service.conftest import analytics_config, analytics_server
from tests.mesh import (
    Storage,
    StorageFactory,
    catalog_config,
    history_config,
    start_mesh,
    users_config,
    wait_until,
)

VIEWERS = 6
VIEWS_PER_VIEWER = 8
SEED = 11


@dataclass
class Seeded:
    storage: Storage
    analytics: analytics_pb2_grpc.AnalyticsServiceStub
    truth: list[dict[str, Any]]
    views: list[RawView]
    genres: dict[str, tuple[str, ...]]
    start: str
    end: str
    # Where the analytics server listens.
    address: str


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
async def seeded(
    request: pytest.FixtureRequest, mesh_storage: StorageFactory, postgres_url: str
) -> AsyncIterator[Seeded]:
    storage = mesh_storage(f"analytics-{request.param}")
    url = await fresh_postgres_database(postgres_url) if request.param == "postgres" else ""
    try:
        async with (
            start_mesh(
                users_config(storage), catalog_config(storage), history_config(storage)
            ) as mesh,
            analytics_server(analytics_config(storage, url)) as (analytics, address),
            grpc.aio.insecure_channel(mesh.address("catalog")) as catalog_channel,
        ):
            report = await seed_views.seed(
                seed_views.Options(
                    viewers=VIEWERS,
                    views_per_viewer=VIEWS_PER_VIEWER,
                    seed=SEED,
                    users_addr=mesh.address("users"),
                    catalog_addr=mesh.address("catalog"),
                    history_addr=mesh.address("history"),
                )
            )
            assert not report.error, report.line()
            truth = report.truth
            assert len(truth) == VIEWERS * VIEWS_PER_VIEWER
            views = [
                RawView(
                    row["profile_id"],
                    row["title_id"],
                    date.fromisoformat(row["day"]),
                    row["country_code"],
                    row["device_type"] or "unknown",
                    row["watch_seconds"],
                    row["completed"],
                )
                for row in truth
            ]
            start = min(v.day for v in views).isoformat()
            end = max(v.day for v in views).isoformat()
            catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
            ids = sorted({v.title_id for v in views})
            genres: dict[str, tuple[str, ...]] = {}
            for at in range(0, len(ids), 100):
                got = await catalog.BatchGetTitles(
                    catalog_pb2.BatchGetTitlesRequest(title_ids=ids[at : at + 100]), timeout=10
                )
                genres.update({t.title_id: tuple(t.genres) for t in got.titles})

            async def all_loaded() -> bool:
                days = await analytics.ListDailyEngagement(
                    analytics_pb2.ListDailyEngagementRequest(
                        start_date=start, end_date=end, page_size=100
                    ),
                    timeout=10,
                )
                return sum(d.view_count for d in days.days) == len(truth)

            await wait_until(all_loaded, "every seeded view in the warehouse")
            yield Seeded(storage, analytics, truth, views, genres, start, end, address)
    finally:
        if url:
            await drop_postgres_database(url)


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value.code()


async def test_bad_ranges_tokens_and_unknown_titles_are_refused(seeded: Seeded) -> None:
    stub = seeded.analytics
    title_id = seeded.views[0].title_id
    bad = [
        stub.GetTitleStats(analytics_pb2.GetTitleStatsRequest(title_id="nope"), timeout=5),
        stub.GetTitleStats(
            analytics_pb2.GetTitleStatsRequest(title_id=title_id, start_date="2026-02-30"),
            timeout=5,
        ),
        stub.GetTitleStats(
            analytics_pb2.GetTitleStatsRequest(
                title_id=title_id, start_date="2026-05-02", end_date="2026-05-01"
            ),
            timeout=5,
        ),
        stub.ListTopTitles(
            analytics_pb2.ListTopTitlesRequest(start_date="2000-01-01", end_date="2026-01-01"),
            timeout=5,
        ),
        stub.ListTopTitles(analytics_pb2.ListTopTitlesRequest(country="usa"), timeout=5),
        stub.ListTopTitles(analytics_pb2.ListTopTitlesRequest(page_token="garbage"), timeout=5),
        stub.ListDailyEngagement(
            analytics_pb2.ListDailyEngagementRequest(end_date="26-01-01"), timeout=5
        ),
    ]
    for call in bad:
        assert await _code(call) == grpc.StatusCode.INVALID_ARGUMENT
    # A token of one query is refused by another.
    first = await stub.ListTopTitles(
        analytics_pb2.ListTopTitlesRequest(
            start_date=seeded.start, end_date=seeded.end, page_size=1
        ),
        timeout=5,
    )
    assert first.next_page_token
    other = stub.ListTopTitles(
        analytics_pb2.ListTopTitlesRequest(
            start_date=seeded.start,
            end_date=seeded.end,
            country="US",
            page_token=first.next_page_token,
        ),
        timeout=5,
    )
    assert await _code(other) == grpc.StatusCode.INVALID_ARGUMENT
    nobody = stub.GetTitleStats(
        analytics_pb2.GetTitleStatsRequest(title_id="00000000-0000-4000-8000-000000000000"),
        timeout=5,
    )
    assert await _code(nobody) == grpc.StatusCode.NOT_FOUND


async def figures_of(seeded: Seeded) -> dict[str, Any]:
    """Every report the service gives over the seeded range (all pages)."""
    stub = seeded.analytics
    stats = {}
    for title_id in sorted({v.title_id for v in seeded.views}):
        got = await stub.GetTitleStats(
            analytics_pb2.GetTitleStatsRequest(
                title_id=title_id, start_date=seeded.start, end_date=seeded.end
            ),
            timeout=10,
        )
        stats[title_id] = (
            got.view_count,
            got.watch_seconds,
            got.unique_profiles,
            round(got.completion_rate, 9),
        )

    async def top(country: str = "", genre: str = "") -> list[tuple[str, int, int, int]]:
        rows: list[tuple[str, int, int, int]] = []
        token = ""
        while True:
            page = await stub.ListTopTitles(
                analytics_pb2.ListTopTitlesRequest(
                    start_date=seeded.start,
                    end_date=seeded.end,
                    country=country,
                    genre=genre,
                    page_size=7,
                    page_token=token,
                ),
                timeout=10,
            )
            rows += [
                (t.title_id, t.view_count, t.watch_seconds, t.unique_profiles) for t in page.titles
            ]
            token = page.next_page_token
            if not token:
                return rows

    countries = sorted({v.country_code for v in seeded.views})
    genres = sorted({g for gs in seeded.genres.values() for g in gs})
    days = []
    token = ""
    while True:
        page = await stub.ListDailyEngagement(
            analytics_pb2.ListDailyEngagementRequest(
                start_date=seeded.start, end_date=seeded.end, page_size=5, page_token=token
            ),
            timeout=10,
        )
        days += [
            (
                d.date,
                d.view_count,
                d.watch_seconds,
                d.active_profiles,
                {
                    x.device_type: (x.view_count, x.watch_seconds, x.active_profiles)
                    for x in d.devices
                },
            )
            for d in page.days
        ]
        token = page.next_page_token
        if not token:
            break
    return {
        "stats": stats,
        "top": await top(),
        "by_country": {c: await top(country=c) for c in countries},
        "by_genre": {g: await top(genre=g) for g in genres},
        "days": days,
    }


def expected(seeded: Seeded) -> dict[str, Any]:
    """The same reports, computed from the recorded views alone."""
    views = seeded.views
    stats = {}
    for title_id in sorted({v.title_id for v in views}):
        found = title_stats(views, title_id)
        assert found is not None
        stats[title_id] = (*found[:3], round(found[3], 9))
    genres = sorted({g for gs in seeded.genres.values() for g in gs})
    return {
        "stats": stats,
        "top": top_titles(views),
        "by_country": {
            c: top_titles(views, country=c) for c in sorted({v.country_code for v in views})
        },
        "by_genre": {
            g: top_titles(views, genre_titles={t for t, gs in seeded.genres.items() if g in gs})
            for g in genres
        },
        "days": daily(views),
    }


async def test_reports_equal_the_figures_of_the_recorded_views(seeded: Seeded) -> None:
    assert await figures_of(seeded) == expected(seeded)


async def test_replaying_every_stream_from_the_start_changes_no_figure(seeded: Seeded) -> None:
    before = await figures_of(seeded)
    prefix = stream_prefix_for(seeded.storage.redis_prefix)
    redis = Redis.from_url(seeded.storage.redis_url)
    skipped_before = sum(
        ingest.ROWS.labels(streams.stream_name(d, prefix), "skipped")._value.get()
        for d in ingest.STREAMS
    )
    try:
        for domain in ingest.STREAMS:
            await redis.xgroup_setid(
                streams.stream_name(domain, prefix), ingest.group_of(domain), "0"
            )

        async def replayed() -> bool:
            skipped = sum(
                ingest.ROWS.labels(streams.stream_name(d, prefix), "skipped")._value.get()
                for d in ingest.STREAMS
            )
            if skipped - skipped_before < len(seeded.truth):
                return False
            for domain in ingest.STREAMS:
                stream = streams.stream_name(domain, prefix)
                for group in await redis.xinfo_groups(stream):
                    if group["name"].decode() == ingest.group_of(domain) and (
                        group["lag"] or group["pending"]
                    ):
                        return False
            return True

        await wait_until(replayed, "the analytics groups to replay their streams")
    finally:
        await redis.aclose()
    assert await figures_of(seeded) == before
    assert before == expected(seeded)


async def test_the_report_command_prints_the_figures(seeded: Seeded) -> None:
    import argparse

    from rich.console import Console

    from services.analytics import cli

    best = top_titles(seeded.views)[0]
    console = Console(record=True, width=250)
    await cli.report(
        argparse.Namespace(
            start=seeded.start,
            end=seeded.end,
            country="",
            genre="",
            top=3,
            title_id=best[0],
            addr=seeded.address,
        ),
        console,
    )
    text = console.export_text()
    assert best[0] in text
    assert f"{best[2] / 3600:.1f}" in text
    for day in {v.day.isoformat() for v in seeded.views}:
        assert day in text
