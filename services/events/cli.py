"""``streammesh events tail|replay|dlq|relay``: operating the event streams.

* ``tail STREAM``: prints the stream's events decoded (``--from -`` for the
  whole retained history, ``--no-follow`` to stop at the end).
* ``replay STREAM --group G --from ID``: rewinds group G so its consumer
  receives every entry from ID again. Consumers dedupe on event_id, so only
  events whose effect is missing are applied again; ``--forget-dedupe``
  clears G's Redis dedupe markers of those entries so every one is re-applied.
* ``dlq list|show|replay STREAM``: the dead-letter stream; ``replay``
  re-publishes entries (by id, or ``--all``) to their stream and removes them
  from the dead-letter stream. A re-published event arrives after later
  events of its aggregate: replay once the cause is fixed.
* ``relay --source users``: runs the outbox relay of one producing service
  (or ``--sql-url URL --table T --domain D`` for any SQL outbox).

STREAM is a domain (``users``) or a stream name (``streammesh.users``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import pkgutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from rich.console import Console

from services.events import streams
from services.events.config import EventsConfig
from services.events.relay import Relay, RelayConfig
from services.events.sources import (
    ProducerOutbox,
    open_producer_outbox,
    producers,
    sql_source,
)
from streammesh.events.v1 import event_pb2

# Bounds of the operator commands.
DEFAULT_LIST_COUNT: Final = 20
MAX_REPLAY_ENTRIES: Final = 100_000
TAIL_BLOCK_MS: Final = 1_000

Command = Callable[[argparse.Namespace, Redis, EventsConfig, Console], Awaitable[int]]


def register(subparsers: Any) -> None:
    events = subparsers.add_parser(
        "events",
        help="tail, replay and dead-letter the event streams; run an outbox relay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    events.add_argument("--redis-url", help="Redis of the streams (default: STREAMMESH_REDIS_URL)")
    events.add_argument(
        "--prefix", help="stream key prefix (default: STREAMMESH_EVENTS_PREFIX, empty)"
    )
    events.set_defaults(handler=lambda args: _usage(events))
    commands = events.add_subparsers(dest="events_command", metavar="COMMAND")

    tail = commands.add_parser("tail", help="print a stream's events as they arrive")
    tail.add_argument("stream")
    tail.add_argument(
        "--from",
        dest="start",
        default="$",
        help="entry id to start after; '-' for everything retained, '$' (default) for new only",
    )
    tail.add_argument("--no-follow", action="store_true", help="stop at the end of the stream")
    tail.add_argument("--limit", type=int, default=0, help="stop after this many events")
    tail.set_defaults(handler=_runner(_tail))

    replay = commands.add_parser("replay", help="deliver a range of entries to a group again")
    replay.add_argument("stream")
    replay.add_argument("--group", required=True)
    replay.add_argument("--from", dest="start", required=True, help="first entry id to redeliver")
    replay.add_argument(
        "--forget-dedupe",
        action="store_true",
        help="also clear the group's dedupe markers so handled events are applied again",
    )
    replay.set_defaults(handler=_runner(_replay))

    dlq = commands.add_parser("dlq", help="list, inspect and re-publish dead-lettered events")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND")
    dlq.set_defaults(handler=lambda args: _usage(dlq))
    listing = dlq_commands.add_parser("list", help="the dead-letter stream, oldest first")
    listing.add_argument("stream")
    listing.add_argument("--count", type=int, default=DEFAULT_LIST_COUNT)
    listing.set_defaults(handler=_runner(_dlq_list))
    show = dlq_commands.add_parser("show", help="one dead-lettered entry in full")
    show.add_argument("stream")
    show.add_argument("entry_id")
    show.set_defaults(handler=_runner(_dlq_show))
    again = dlq_commands.add_parser("replay", help="re-publish dead-lettered entries")
    again.add_argument("stream")
    again.add_argument("entry_ids", nargs="*", metavar="ENTRY_ID")
    again.add_argument("--all", action="store_true", help="every entry of the dead-letter stream")
    again.set_defaults(handler=_runner(_dlq_replay))

    relay = commands.add_parser("relay", help="publish a service's outbox to its stream")
    relay.add_argument("--source", choices=producers(), help="a producing service")
    relay.add_argument("--sql-url", help="any SQL outbox: SQLAlchemy async URL")
    relay.add_argument("--table", default="outbox", help="its table (with --sql-url)")
    relay.add_argument("--domain", help="its stream's domain (with --sql-url)")
    relay.add_argument("--batch-size", type=int, default=RelayConfig.batch_size)
    relay.add_argument("--lease-ttl-ms", type=int, default=RelayConfig.lease_ttl_ms)
    relay.set_defaults(handler=_runner(_relay))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_redis(command, args))

    return run


async def _with_redis(command: Command, args: argparse.Namespace) -> int:
    defaults = EventsConfig.from_env()
    config = EventsConfig(
        redis_url=args.redis_url or defaults.redis_url,
        stream_prefix=defaults.stream_prefix if args.prefix is None else args.prefix,
    )
    console = Console(highlight=False, soft_wrap=True)
    redis = Redis.from_url(config.redis_url)
    try:
        return await command(args, redis, config, console)
    except ResponseError as err:
        console.print(f"[red]error:[/red] Redis refused: {err}")
        return 1
    except RedisError as err:
        console.print(f"[red]error:[/red] Redis at {config.redis_url}: {err}")
        return 1
    finally:
        await redis.aclose()


# ---------------------------------------------------------------- tail


async def _tail(args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console) -> int:
    stream = config.stream(args.stream)
    _load_event_types()
    start = args.start
    if args.no_follow:
        reply: Any = await redis.xrange(
            stream, "-" if start in ("-", "$", "0") else f"({start}", "+", count=args.limit or None
        )
        for entry_id, fields in reply:
            _print_entry(out, streams.StreamEntry.from_redis(entry_id, fields))
        return 0
    last = "0-0" if start == "-" else start
    shown = 0
    while not args.limit or shown < args.limit:
        reply = await redis.xread({stream: last}, count=100, block=TAIL_BLOCK_MS)
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                entry = streams.StreamEntry.from_redis(entry_id, fields)
                _print_entry(out, entry)
                last = entry.entry_id
                shown += 1
                if args.limit and shown >= args.limit:
                    return 0
    return 0


def _print_entry(out: Console, entry: streams.StreamEntry) -> None:
    event = _decode(entry)
    if event is None:
        out.print(f"[red]{entry.entry_id}[/red] undecodable entry: {sorted(entry.fields)}")
        return
    when = event.timestamp.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds")
    out.print(
        f"[cyan]{entry.entry_id}[/cyan] {when} [bold]{event.event_type}[/bold] "
        f"{event.aggregate_type}/{event.aggregate_id} [dim]{event.event_id}[/dim] "
        f"{_data_json(event)}"
    )


def _decode(entry: streams.StreamEntry) -> event_pb2.Event | None:
    try:
        return event_pb2.Event.FromString(entry.fields[streams.PAYLOAD])
    except (KeyError, DecodeError):
        return None


def _data_json(event: event_pb2.Event) -> str:
    try:
        return json_format.MessageToJson(event.data, indent=None)
    except (TypeError, KeyError):  # a type this checkout does not know
        return f"<{event.data.type_url}, {len(event.data.value)} bytes>"


def _load_event_types() -> None:
    """Imports every generated module so ``data`` of any known type can be printed."""
    import streammesh

    for module in pkgutil.walk_packages(streammesh.__path__, "streammesh."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)


# ---------------------------------------------------------------- replay


async def _replay(
    args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console
) -> int:
    stream = config.stream(args.stream)
    groups: Any = await redis.xinfo_groups(stream)
    if not any(_name(group) == args.group for group in groups):
        out.print(f"[red]error:[/red] {stream} has no group {args.group!r}")
        return 2
    entries: Any = await redis.xrange(stream, args.start, "+", count=MAX_REPLAY_ENTRIES)
    if not entries:
        out.print(f"[red]error:[/red] {stream} has no entries from {args.start}")
        return 2
    first_id = streams.StreamEntry.from_redis(entries[0][0], {}).entry_id
    if args.forget_dedupe:
        keys = [
            streams.dedupe_key(stream, args.group, streams.StreamEntry.from_redis(i, f).event_id)
            for i, f in entries
        ]
        for chunk in range(0, len(keys), 1_000):
            await redis.delete(*keys[chunk : chunk + 1_000])
    # SETID takes the last id the group has seen: the one just before the range.
    await redis.xgroup_setid(stream, args.group, _previous_id(first_id))
    out.print(
        f"group {args.group} of {stream} will receive {len(entries)} entries again "
        f"from {first_id}" + (" (dedupe markers cleared)" if args.forget_dedupe else "")
    )
    return 0


def _name(group: dict[str, Any]) -> str:
    name = group["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _previous_id(entry_id: str) -> str:
    milliseconds, _, sequence = entry_id.partition("-")
    if int(sequence or 0) > 0:
        return f"{milliseconds}-{int(sequence) - 1}"
    return f"{int(milliseconds) - 1}-18446744073709551615" if int(milliseconds) else "0-0"


# ---------------------------------------------------------------- dlq


async def _dlq_list(
    args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console
) -> int:
    dlq = streams.dlq_name(config.stream(args.stream))
    reply: Any = await redis.xrange(dlq, "-", "+", count=args.count)
    total = await redis.xlen(dlq)
    out.print(f"[bold]{dlq}: {total} entries[/bold]")
    # One line per entry, so the listing greps and never wraps mid-field.
    for entry_id, fields in reply:
        entry = streams.StreamEntry.from_redis(entry_id, fields)
        out.print(
            f"[cyan]{entry.entry_id}[/cyan] {entry.text(streams.DLQ_FAILED_AT)} "
            f"group={entry.text(streams.DLQ_GROUP)} tries={entry.text(streams.DLQ_DELIVERIES)} "
            f"{entry.text(streams.EVENT_TYPE)} "
            f"{entry.text(streams.AGGREGATE_TYPE)}/{entry.text(streams.AGGREGATE_ID)} "
            f"[dim]{entry.event_id}[/dim] [red]{entry.text(streams.DLQ_ERROR)}[/red]"
        )
    return 0


async def _dlq_show(
    args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console
) -> int:
    dlq = streams.dlq_name(config.stream(args.stream))
    reply: Any = await redis.xrange(dlq, args.entry_id, args.entry_id)
    if not reply:
        out.print(f"[red]error:[/red] {dlq} has no entry {args.entry_id}")
        return 2
    _load_event_types()
    entry = streams.StreamEntry.from_redis(*reply[0])
    for name in (*streams.DLQ_FIELDS, streams.EVENT_ID, streams.EVENT_TYPE):
        out.print(f"[bold]{name}[/bold]: {entry.text(name)}")
    event = _decode(entry)
    if event is not None:
        out.print(json_format.MessageToJson(event))
    return 0


async def _dlq_replay(
    args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console
) -> int:
    stream = config.stream(args.stream)
    dlq = streams.dlq_name(stream)
    if args.all == bool(args.entry_ids):
        out.print("[red]error:[/red] name the entries to replay, or pass --all (not both)")
        return 2
    if args.all:
        reply: Any = await redis.xrange(dlq, "-", "+", count=MAX_REPLAY_ENTRIES)
    else:
        reply = []
        for entry_id in args.entry_ids:
            found: Any = await redis.xrange(dlq, entry_id, entry_id)
            if not found:
                out.print(f"[red]error:[/red] {dlq} has no entry {entry_id}; nothing replayed")
                return 2
            reply += found
    for entry_id, fields in reply:
        entry = streams.StreamEntry.from_redis(entry_id, fields)
        original = {
            name: entry.fields[name] for name in streams.ENTRY_FIELDS if name in entry.fields
        }
        # One MULTI: the entry is either back in its stream or still dead-lettered.
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, original)  # type: ignore[arg-type]
            pipe.xdel(dlq, entry.entry_id)
            await pipe.execute()
    out.print(f"re-published {len(reply)} entries from {dlq} to {stream}")
    return 0


# ---------------------------------------------------------------- relay


async def _relay(args: argparse.Namespace, redis: Redis, config: EventsConfig, out: Console) -> int:
    opened: AbstractAsyncContextManager[ProducerOutbox]
    if args.source:
        opened, domain = open_producer_outbox(args.source), args.source
    elif args.sql_url and args.domain:
        opened, domain = _any_sql_outbox(args.sql_url, args.table, args.domain), args.domain
    else:
        out.print("[red]error:[/red] pass --source, or --sql-url with --domain")
        return 2
    async with opened as outbox, _stop_on_signals() as stop:
        source = outbox.source
        relay_config = dataclasses.replace(
            outbox.relay, batch_size=args.batch_size, lease_ttl_ms=args.lease_ttl_ms
        )
        relay = Relay(source, redis, config.stream(domain), relay_config)
        out.print(f"relaying outbox {source.name} to {relay.stream}")
        await relay.run(stop)
    return 0


@contextlib.asynccontextmanager
async def _any_sql_outbox(url: str, table: str, domain: str) -> AsyncIterator[ProducerOutbox]:
    async with sql_source(url, table, domain) as source:
        yield ProducerOutbox(source)


@contextlib.asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
