"""``streammesh backup create|list|verify|restore [BACKEND ...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.backup import jobs
from devtools.backup.dumpers import BackupError, dumpers
from devtools.infra import data, endpoints
from devtools.infra.settings import InfraSettings
from services.runtime.object_store import (
    FileObjectStore,
    FileStoreSettings,
    ObjectStore,
    S3ObjectStore,
    S3Settings,
)

# Shortest pause between two progress lines of one artifact when not on a terminal.
_PROGRESS_EVERY_SECONDS = 2.0


def _backend_name(text: str) -> str:
    if text not in data.DATA_BACKENDS:
        raise argparse.ArgumentTypeError(
            f"unknown backend {text!r} (backed up: {', '.join(data.DATA_BACKENDS)}; "
            "OpenSearch is rebuilt by `streammesh search reindex` from the catalog)"
        )
    return text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="back up and restore MariaDB, PostgreSQL, Cassandra and Redis in the object store",
        description="Consistent, streamed backups of the real backends' named data into the "
        f"`{jobs.BACKUPS_BUCKET}` bucket of the object store, with a manifest of sizes "
        "and SHA-256 checksums.",
    )
    actions = parser.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    for action, handler, text in (
        ("create", _create, "dump each backend's named data into the backups bucket"),
        ("list", _list, "list the complete backups, newest first"),
        ("verify", _verify, "re-read a backup and check every size and SHA-256"),
        ("restore", _restore, "verify a backup, then load it (refuses to overwrite data)"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        if action in ("verify", "restore"):
            sub.add_argument("backup_id", metavar="BACKUP_ID", help="an id from `list`, or latest")
        if action != "list":
            sub.add_argument(
                "backends",
                nargs="*",
                type=_backend_name,
                metavar="BACKEND",
                help=f"only these ({', '.join(data.DATA_BACKENDS)}); default: all",
            )
        if action in ("create", "restore"):
            data.add_scope_arguments(sub)
        if action == "restore":
            sub.add_argument(
                "--overwrite",
                action="store_true",
                help="replace the databases, keyspaces and keys that already exist",
            )
        sub.add_argument(
            "--store-dir",
            type=Path,
            default=None,
            help="use the embedded object store in this folder instead of s3proxy",
        )
        sub.add_argument("--bucket", default=jobs.BACKUPS_BUCKET, help="the backups bucket")
        sub.set_defaults(handler=handler)


@contextlib.asynccontextmanager
async def _store(args: argparse.Namespace) -> AsyncIterator[ObjectStore]:
    store: ObjectStore
    if args.store_dir is not None:
        store = await FileObjectStore.open(FileStoreSettings(root=args.store_dir))
    else:
        store = await S3ObjectStore.open(
            S3Settings(
                endpoint_url=endpoints.s3_url(),
                access_key=endpoints.S3_ACCESS_KEY,
                secret_key=endpoints.S3_SECRET_KEY,
                region=endpoints.S3_REGION,
            )
        )
    try:
        yield store
    finally:
        await store.close()


class _Reporter:
    """Progress lines: bytes so far and MB/s per artifact, throttled."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._started: dict[tuple[str, str], float] = {}
        self._last: dict[tuple[str, str], float] = {}

    def __call__(self, backend: str, artifact: str, done: int, finished: bool) -> None:
        now = time.monotonic()
        key = (backend, artifact)
        started = self._started.setdefault(key, now)
        if not finished and now - self._last.get(key, started) < _PROGRESS_EVERY_SECONDS:
            return
        self._last[key] = now
        rate = done / max(now - started, 1e-6) / 1e6
        state = "done" if finished else "..."
        self._console.print(
            f"{backend:<10} {artifact:<40} {done / 1e6:10.2f} MB {rate:8.1f} MB/s {state}"
        )
        if finished:
            self._started.pop(key, None)


def _backends(args: argparse.Namespace) -> list[str]:
    return list(args.backends or data.DATA_BACKENDS)


def _run(args: argparse.Namespace, work: Any) -> int:
    console = Console(highlight=False)
    try:
        return int(asyncio.run(work(console)))
    except BackupError as error:
        console.print(f"[red]backup {args.backup_command}: {error}[/]")
        return 1


def _create(args: argparse.Namespace) -> int:
    backends = _backends(args)
    scope = data.scope_from_args(args, backends)

    async def work(console: Console) -> int:
        async with _store(args) as store:
            started = time.monotonic()
            manifest = await jobs.create(
                store,
                dumpers(InfraSettings.from_env(), scope),
                backends,
                scope,
                _Reporter(console),
                args.bucket,
            )
        took = time.monotonic() - started
        console.print(
            f"backup {manifest.backup_id}: {len(manifest.entries)} parts, "
            f"{manifest.total_bytes() / 1e6:.2f} MB in {took:.1f}s"
        )
        return 0

    return _run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(console: Console) -> int:
        async with _store(args) as store:
            manifests = await jobs.list_backups(store, args.bucket)
        table = Table(title=f"backups in {args.bucket}")
        for column in ("id", "created", "backends", "MB"):
            table.add_column(column)
        for manifest in manifests:
            names = ", ".join(f"{entry.backend}:{entry.name}" for entry in manifest.entries)
            table.add_row(
                manifest.backup_id, manifest.created, names, f"{manifest.total_bytes() / 1e6:.2f}"
            )
        console.print(table)
        return 0

    return _run(args, work)


def _verify(args: argparse.Namespace) -> int:
    async def work(console: Console) -> int:
        async with _store(args) as store:
            manifest = await jobs.load(store, args.backup_id, args.bucket)
            problems = await jobs.verify(
                store, manifest, args.backends, _Reporter(console), args.bucket
            )
        for problem in problems:
            console.print(f"[red]{problem.key}: {problem.what}[/]")
        if problems:
            console.print(f"[red]backup {manifest.backup_id}: {len(problems)} damaged[/]")
            return 1
        console.print(f"backup {manifest.backup_id}: every checksum matches")
        return 0

    return _run(args, work)


def _restore(args: argparse.Namespace) -> int:
    backends = _backends(args)
    scope = data.scope_from_args(args, backends)

    async def work(console: Console) -> int:
        async with _store(args) as store:
            manifest = await jobs.load(store, args.backup_id, args.bucket)
            restored = await jobs.restore(
                store,
                dumpers(InfraSettings.from_env(), scope),
                manifest,
                backends,
                overwrite=args.overwrite,
                progress=_Reporter(console),
                bucket=args.bucket,
            )
        console.print(
            f"restored {', '.join(f'{e.backend}:{e.name}' for e in restored) or 'nothing'} "
            f"from {manifest.backup_id}"
        )
        return 0

    return _run(args, work)
