"""``streammesh analytics report``: the warehouse's reports for a date range, printed.

Calls the analytics service (``--addr``, else STREAMMESH_ANALYTICS_ADDR, else
loopback) over the mesh's client channel (deadlines, retries of these
read-only RPCs): ListDailyEngagement (every page), ListTopTitles (the first
``--top``) and GetTitleStats of each listed title, or of ``--title-id``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final

import grpc.aio
from rich.console import Console
from rich.table import Table

from services.kit import clients
from services.runtime.config import ServerConfig
from streammesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc

CALL_TIMEOUT_SECONDS: Final = 10.0
# Bound on the day pages one report reads (100 days a page).
MAX_DAY_PAGES: Final = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analytics", help="read the analytics warehouse", description="The warehouse's reports."
    )
    commands = parser.add_subparsers(dest="analytics_command", metavar="COMMAND", required=True)
    report = commands.add_parser("report", help="print the reports for a date range")
    report.add_argument("--start", default="", help="first day, YYYY-MM-DD (default: 30 days)")
    report.add_argument("--end", default="", help="last day, YYYY-MM-DD (default: today, UTC)")
    report.add_argument("--country", default="", help="top titles of one country (ISO code)")
    report.add_argument("--genre", default="", help="top titles of one catalog genre")
    report.add_argument("--top", type=int, default=10, help="titles in the top list (1-100)")
    report.add_argument("--title-id", default="", help="print this title's stats too")
    report.add_argument("--addr", default="", help="the analytics service (host:port)")
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.top <= 100:
        Console(stderr=True).print("--top must be 1..100")
        return 2
    try:
        asyncio.run(report(args, Console()))
    except grpc.aio.AioRpcError as err:
        Console(stderr=True).print(f"analytics report failed: {err.code().name}: {err.details()}")
        return 1
    return 0


async def report(args: argparse.Namespace, console: Console) -> None:
    target = args.addr or "analytics"
    async with clients.channel(target, ServerConfig(service="analytics-report")) as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        days = Table(title=f"Daily engagement {args.start or '-30d'} .. {args.end or 'today'}")
        for column in ("day", "views", "watch hours", "active profiles", "per device"):
            days.add_column(column)
        token = ""
        for _ in range(MAX_DAY_PAGES):
            page = await stub.ListDailyEngagement(
                analytics_pb2.ListDailyEngagementRequest(
                    start_date=args.start, end_date=args.end, page_size=100, page_token=token
                ),
                timeout=CALL_TIMEOUT_SECONDS,
            )
            for day in page.days:
                devices = ", ".join(
                    f"{d.device_type} {d.view_count}v/{d.watch_seconds / 3600:.1f}h"
                    for d in day.devices
                )
                days.add_row(
                    day.date,
                    str(day.view_count),
                    f"{day.watch_seconds / 3600:.1f}",
                    str(day.active_profiles),
                    devices,
                )
            token = page.next_page_token
            if not token:
                break
        console.print(days)
        top = await stub.ListTopTitles(
            analytics_pb2.ListTopTitlesRequest(
                start_date=args.start,
                end_date=args.end,
                country=args.country,
                genre=args.genre,
                page_size=args.top,
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        scope = " ".join(filter(None, [args.country, args.genre])) or "everywhere"
        titles = Table(title=f"Top titles by watch time ({scope})")
        for column in ("#", "title_id", "views", "watch hours", "unique profiles", "completion"):
            titles.add_column(column)
        for rank, title in enumerate(top.titles, start=1):
            titles.add_row(*_stats_row(str(rank), title))
        if args.title_id:
            stats = await stub.GetTitleStats(
                analytics_pb2.GetTitleStatsRequest(
                    title_id=args.title_id, start_date=args.start, end_date=args.end
                ),
                timeout=CALL_TIMEOUT_SECONDS,
            )
            titles.add_row(*_stats_row("GetTitleStats", stats))
        console.print(titles)


def _stats_row(label: str, title: analytics_pb2.TitleStats) -> list[str]:
    return [
        label,
        title.title_id,
        str(title.view_count),
        f"{title.watch_seconds / 3600:.1f}",
        str(title.unique_profiles),
        f"{title.completion_rate:.0%}",
    ]
