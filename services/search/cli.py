"""``streammesh search reindex``: rebuild the search index from the catalog.

Pages the whole catalog through CatalogService.ListTitles (the catalog's
address: STREAMMESH_CATALOG_ADDR, else loopback), writes the titles into a new
generation of the index in batches (``create_generation`` -> ``upsert_into``),
then makes it current in one atomic swap (``swap_to``): searches keep
answering from the old generation until then, and never see a half-built one.
The catalog events indexed meanwhile went to the old generation; after the
swap the title events of the catalog's stream since the rebuild started are
replayed into the new one, so no change is lost. Every call has a deadline and
the whole run a bound (``--timeout``); the index is the one the search
service's settings name (``streammesh config search``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.search.config import Config

if TYPE_CHECKING:
    import grpc.aio
    from redis.asyncio import Redis

    from services.search.store import SearchIndex, TitleDoc

# Titles per ListTitles page and per upsert_into batch.
PAGE_SIZE: Final = 100
# Deadline of each ListTitles call.
CALL_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_TIMEOUT_SECONDS: Final = 600.0
# Stream entries read per XRANGE when replaying the rebuild's window.
REPLAY_BATCH: Final = 500


@dataclass
class ReindexReport:
    generation: str = ""
    previous: str = ""
    titles: int = 0
    pages: int = 0
    replayed: int = 0
    seconds: float = 0.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "search",
        help="operate the search index",
        description="Operate the search service's index.",
    )
    commands = parser.add_subparsers(dest="search_command", required=True)
    reindex = commands.add_parser(
        "reindex",
        help="rebuild the search index from the catalog and swap to it",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    reindex.add_argument(
        "--backend",
        choices=("embedded", "real"),
        default=None,
        help="embedded: the SQLite file; real: OpenSearch "
        "(default: STREAMMESH_SEARCH_BACKEND or STREAMMESH_BACKENDS, else embedded)",
    )
    reindex.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"give up after this many seconds (default {DEFAULT_TIMEOUT_SECONDS:.0f}); "
        "the new generation is then left unused and the current one stays",
    )
    reindex.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    config = Config.from_env()
    if args.backend:
        config = dataclasses.replace(config, backend=args.backend)
    if args.timeout <= 0:
        console.print("[red]--timeout must be positive[/]")
        return 2
    try:
        report = asyncio.run(asyncio.wait_for(reindex(config, console), args.timeout))
    except TimeoutError:
        console.print(f"[red]reindex did not finish within {args.timeout:.0f} s; not swapped[/]")
        return 1
    except Exception as err:  # noqa: BLE001 - a CLI reports and exits non-zero
        console.print(f"[red]reindex failed, not swapped: {err}[/]")
        return 1
    console.print(
        f"Reindexed {report.titles} titles ({report.pages} pages) into generation "
        f"{report.generation} in {report.seconds:.1f} s; was {report.previous}; "
        f"{report.replayed} catalog events replayed after the swap"
    )
    return 0


async def reindex(config: Config, console: Console) -> ReindexReport:
    """Rebuilds the index ``config`` names from the catalog and swaps to it."""
    from redis.asyncio import Redis

    from services.events import streams
    from services.events.config import stream_prefix_for
    from services.kit import clients
    from services.search.indexing import CATALOG
    from services.search.stores import open_index

    report = ReindexReport()
    started = time.monotonic()
    stream = streams.stream_name(CATALOG, stream_prefix_for(config.redis_prefix))
    redis = Redis.from_url(config.redis_url, socket_timeout=5.0, socket_connect_timeout=5.0)
    index = await open_index(config)
    channel = clients.channel("catalog", config.server)
    try:
        # Where the catalog's stream is now: what comes after is replayed.
        since = await _last_entry(redis, stream)
        report.previous = await index.current_generation()
        report.generation = await index.create_generation()
        with Progress(
            TextColumn("[bold]reindex"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} titles/s"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("reindex", total=None, rate="-")
            async for docs in _catalog_pages(channel):
                await index.upsert_into(report.generation, docs)
                report.titles += len(docs)
                report.pages += 1
                rate = report.titles / max(time.monotonic() - started, 1e-6)
                progress.update(task, completed=report.titles, rate=f"{rate:,.0f}")
            progress.update(task, total=report.titles)
        await index.swap_to(report.generation)
        report.replayed = await _replay(redis, stream, since, index)
    finally:
        await channel.close()
        await index.close()
        await redis.aclose()
    report.seconds = time.monotonic() - started
    return report


async def _catalog_pages(channel: grpc.aio.Channel) -> AsyncIterator[list[TitleDoc]]:
    """The catalog's titles as search documents, one ListTitles page at a time."""
    from services.search.indexing import doc_of
    from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
    token = ""
    while True:
        page = await catalog.ListTitles(
            catalog_pb2.ListTitlesRequest(page_size=PAGE_SIZE, page_token=token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        if page.titles:
            yield [doc_of(title) for title in page.titles]
        token = page.next_page_token
        if not token:
            return


async def _last_entry(redis: Redis, stream: str) -> str:
    entries: Any = await redis.xrevrange(stream, count=1)
    return _text(entries[0][0]) if entries else "0-0"


async def _replay(redis: Redis, stream: str, since: str, index: SearchIndex) -> int:
    """Upserts the titles of the stream's title events after ``since``; how many."""
    from services.events import streams
    from services.search.indexing import doc_of, title_of
    from streammesh.events.v1 import event_pb2

    replayed = 0
    start = f"({since}"
    while True:
        entries: Any = await redis.xrange(stream, min=start, max="+", count=REPLAY_BATCH)
        if not entries:
            return replayed
        docs: dict[str, TitleDoc] = {}
        for entry_id, fields in entries:
            entry = streams.StreamEntry.from_redis(entry_id, fields)
            event = event_pb2.Event.FromString(entry.fields.get(streams.PAYLOAD, b""))
            title = title_of(event)
            if title is not None:
                docs[title.title_id] = doc_of(title)
        if docs:
            await index.upsert(list(docs.values()))
            replayed += len(docs)
        start = f"({_text(entries[-1][0])}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
