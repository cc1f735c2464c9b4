"""``streammesh import-catalog PATH``: load a Netflix-format catalog file.

Rows are parsed and mapped first (services/catalog/netflix_csv.py decides
what is rejected and why); the accepted titles are then written by
``--concurrency`` workers (default 32, at most 256) pulling from a queue of
twice that many rows, so the store never has more than that many writes in
flight. Each title is compared with what the store holds before anything is
written: a re-import of the same file writes nothing and reports every title
unchanged. Each write is atomic (one SQLite transaction, one Cassandra logged
batch), so an import killed half-way leaves whole titles only; running it
again finishes the job.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.catalog import netflix_csv
from services.catalog.config import Config
from services.catalog.store import CatalogStore
from services.catalog.titles import same_content
from services.runtime.errors import AlreadyExists, DomainError
from streammesh.catalog.v1 import catalog_pb2

DEFAULT_CONCURRENCY: Final = 32
MAX_CONCURRENCY: Final = 256
# Keys per Redis transaction when dropping updated titles from the cache.
INVALIDATE_CHUNK: Final = 500

Outcome = Literal["created", "updated", "unchanged"]


@dataclass
class ImportReport:
    rows: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: list[netflix_csv.Rejected] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return sum(self.outcomes.values())

    @property
    def changed(self) -> int:
        return self.outcomes["created"] + self.outcomes["updated"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-catalog",
        help="import a catalog file in the format of netflix_titles.csv",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("path", type=Path, help="the CSV file")
    parser.add_argument(
        "--backend",
        choices=("embedded", "real"),
        default=None,
        help="embedded: the SQLite file; real: Cassandra "
        "(default: STREAMMESH_CATALOG_BACKEND or STREAMMESH_BACKENDS, else embedded)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"writes in flight at once, 1-{MAX_CONCURRENCY} (default {DEFAULT_CONCURRENCY})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    config = Config.from_env()
    if args.backend:
        config = dataclasses.replace(config, backend=args.backend)
    concurrency = config.import_concurrency if args.concurrency is None else args.concurrency
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        console.print(f"[red]--concurrency must be between 1 and {MAX_CONCURRENCY}[/]")
        return 2
    if not args.path.is_file():
        console.print(f"[red]{args.path} is not a file[/]")
        return 2
    return asyncio.run(_run(config, args.path, concurrency, console))


async def _run(config: Config, path: Path, concurrency: int, console: Console) -> int:
    from services.catalog.stores import open_store

    try:
        parsed = await asyncio.to_thread(parse_file, path)
    except (ValueError, UnicodeDecodeError) as err:
        console.print(f"[red]{path}: {err}[/]")
        return 2
    where = (
        str(config.sqlite_path)
        if config.backend == "embedded"
        else f"Cassandra keyspace {config.cassandra.keyspace}"
    )
    console.print(f"Importing {len(parsed.accepted)} titles from {path} into {where}")
    # The importer is a one-off process: it may bring the schema up to date.
    store = await open_store(config, migrate=True)
    try:
        with Progress(
            TextColumn("[bold]import"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} titles/s"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(parsed.accepted), rate="-")
            started = time.monotonic()

            def advance(done: int) -> None:
                rate = done / max(time.monotonic() - started, 1e-6)
                progress.update(task, completed=done, rate=f"{rate:,.0f}")

            report = await import_parsed(store, parsed, concurrency, advance)
    finally:
        await store.close()
    await _invalidate(config, report, console)
    print_report(console, report)
    return 0


async def _invalidate(config: Config, report: ImportReport, console: Console) -> None:
    """Drops updated titles, and every cached listing page, from the running
    services' cache (else stale for a TTL)."""
    if not report.changed:
        return
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from services.catalog.domain import LISTINGS_NAMESPACE, TITLES_NAMESPACE
    from services.runtime.cache import Cache, VersionedCache

    title_ids = report.updated_ids
    redis = Redis.from_url(config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    titles = Cache(
        redis, TITLES_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    listings = VersionedCache(
        redis, LISTINGS_NAMESPACE, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
    )
    try:
        for start in range(0, len(title_ids), INVALIDATE_CHUNK):
            await titles.invalidate(*title_ids[start : start + INVALIDATE_CHUNK])
        await listings.invalidate_all()
    except (RedisError, OSError) as err:
        console.print(
            f"[yellow]could not drop {report.changed} changed titles from the cache at "
            f"{config.redis_url} ({err}); services may serve the old ones for up to "
            f"{config.cache_ttl_seconds:.0f} s[/]"
        )
    finally:
        await redis.aclose()


def parse_file(path: Path) -> netflix_csv.ParsedFile:
    # newline="" lets the csv module handle line breaks inside quoted fields.
    with path.open(newline="", encoding="utf-8-sig") as stream:
        return netflix_csv.parse(stream)


async def import_parsed(
    store: CatalogStore,
    parsed: netflix_csv.ParsedFile,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Writes the accepted rows of ``parsed``; rejected rows go to the report."""
    report = ImportReport(
        rows=len(parsed.accepted) + len(parsed.rejected), rejected=list(parsed.rejected)
    )
    started = time.monotonic()
    queue: asyncio.Queue[netflix_csv.Accepted] = asyncio.Queue(maxsize=2 * concurrency)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            row = await queue.get()
            try:
                outcome = await import_title(store, row.title)
            except DomainError as err:
                # The store refused this one title (it broke a contract rule the
                # mapping did not check): report it, keep importing.
                report.rejected.append(netflix_csv.Rejected(row.line, row.show_id, str(err)))
            else:
                report.outcomes[outcome] += 1
                if outcome == "updated":
                    report.updated_ids.append(row.title.title_id)
            finally:
                queue.task_done()
            done += 1
            if on_progress is not None:
                on_progress(done)

    async with asyncio.TaskGroup() as group:
        workers = [group.create_task(worker()) for _ in range(concurrency)]
        for row in parsed.accepted:
            await queue.put(row)
        await queue.join()
        for task in workers:
            task.cancel()
    report.rejected.sort(key=lambda rejected: rejected.line)
    report.seconds = time.monotonic() - started
    return report


async def import_title(store: CatalogStore, title: catalog_pb2.Title) -> Outcome:
    """Creates, updates or leaves ``title`` as the comparison with the store says."""
    existing = await store.get_title(title.title_id)
    if existing is None:
        try:
            await store.create_title(title)
        except AlreadyExists:
            existing = await store.get_title(title.title_id)  # another writer won the race
        else:
            return "created"
    if existing is not None and same_content(existing, title):
        return "unchanged"
    # An empty mask replaces every field (the title as the file has it now).
    await store.update_title(title, (), allow_missing=True)
    return "updated"


def print_report(console: Console, report: ImportReport) -> None:
    summary = Table(title="Catalog import")
    summary.add_column("rows", justify="right")
    for column in ("accepted", "created", "updated", "unchanged", "rejected", "titles/s"):
        summary.add_column(column, justify="right")
    rate = report.accepted / report.seconds if report.seconds else 0.0
    summary.add_row(
        str(report.rows),
        str(report.accepted),
        str(report.outcomes["created"]),
        str(report.outcomes["updated"]),
        str(report.outcomes["unchanged"]),
        str(len(report.rejected)),
        f"{rate:,.0f}",
    )
    console.print(summary)
    if report.rejected:
        rejected = Table(title="Rejected rows")
        rejected.add_column("line", justify="right")
        rejected.add_column("show_id")
        rejected.add_column("reason")
        for row in report.rejected:
            rejected.add_row(str(row.line), row.show_id, row.reason)
        console.print(rejected)
    if report.changed == 0 and report.accepted:
        console.print("No change: the store already holds every accepted title as the file has it.")
