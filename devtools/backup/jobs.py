"""Backups in the object store: create, list, verify, restore.

A backup is a folder of the ``backups`` bucket::

    <backup id>/<backend>/<name>/<artifact>   the streamed dumps
    <backup id>/manifest.json                 written last

The manifest lists, per backend, the server's version, the scope, the start
and end times and each artifact's key, size and SHA-256 (computed while the
dump streamed up). A folder without a manifest is an interrupted backup:
``list`` does not show it and nothing restores from it. ``verify`` re-reads
every artifact and compares sizes and checksums; ``restore`` verifies first
and refuses a backup that fails, then refuses to replace existing data unless
told to (``overwrite``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from devtools.backup.dumpers import BackupError, Dumper, Refused
from devtools.infra.data import DataScope
from services.runtime.errors import NotFound
from services.runtime.object_store import ObjectStore

BACKUPS_BUCKET: Final = "backups"
MANIFEST: Final = "manifest.json"
MANIFEST_VERSION: Final = 1

# (backend, artifact, bytes so far, done)
Progress = Callable[[str, str, int, bool], None]


def _quiet(backend: str, artifact: str, done_bytes: int, finished: bool) -> None:
    return None


@dataclass(frozen=True)
class ArtifactEntry:
    name: str
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BackendEntry:
    backend: str
    version: str
    # The database, keyspace or prefix list the artifacts hold.
    name: str
    started: str
    finished: str
    artifacts: list[ArtifactEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    created: str
    scope: dict[str, list[str]]
    entries: list[BackendEntry]
    format: int = MANIFEST_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        body: dict[str, Any] = json.loads(raw)
        entries = [
            BackendEntry(
                **{key: value for key, value in entry.items() if key != "artifacts"},
                artifacts=[ArtifactEntry(**artifact) for artifact in entry["artifacts"]],
            )
            for entry in body["entries"]
        ]
        return cls(body["backup_id"], body["created"], body["scope"], entries, body["format"])

    def total_bytes(self) -> int:
        return sum(artifact.size for entry in self.entries for artifact in entry.artifacts)


@dataclass(frozen=True)
class Problem:
    key: str
    what: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_backup_id() -> str:
    """Sorts by time: ``20261201T101500Z-3fa9``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


async def create(
    store: ObjectStore,
    dumpers: dict[str, Dumper],
    backends: Sequence[str],
    scope: DataScope,
    progress: Progress = _quiet,
    bucket: str = BACKUPS_BUCKET,
) -> Manifest:
    """Dumps each backend's named data into the bucket, then writes the manifest."""
    await store.ensure_bucket(bucket)
    backup_id = new_backup_id()
    entries: list[BackendEntry] = []
    for backend in backends:
        dumper = dumpers[backend]
        version = await dumper.version()
        for name in dumper.names(scope):
            started = _now()
            artifacts: list[ArtifactEntry] = []
            async for artifact in dumper.dump(name):
                key = f"{backup_id}/{backend}/{_folder(name)}/{_folder(artifact.name)}"
                counted = _counting(artifact.chunks, backend, artifact.name, progress)
                stored = await store.put_stream(bucket, key, counted)
                progress(backend, artifact.name, stored.size, True)
                artifacts.append(ArtifactEntry(artifact.name, key, stored.size, stored.sha256))
            if artifacts:
                entries.append(BackendEntry(backend, version, name, started, _now(), artifacts))
    manifest = Manifest(
        backup_id,
        _now(),
        {backend: list(scope.names(backend)) for backend in backends},
        entries,
    )
    await store.put(bucket, f"{backup_id}/{MANIFEST}", manifest.to_json(), "application/json")
    return manifest


def _folder(name: str) -> str:
    """A name as one safe key segment (Redis prefixes hold ':' and ',')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


async def _counting(
    chunks: AsyncIterator[bytes], backend: str, artifact: str, progress: Progress
) -> AsyncIterator[bytes]:
    done = 0
    async for chunk in chunks:
        done += len(chunk)
        progress(backend, artifact, done, False)
        yield chunk


async def list_backups(store: ObjectStore, bucket: str = BACKUPS_BUCKET) -> list[Manifest]:
    """Complete backups (those with a manifest), newest first."""
    await store.ensure_bucket(bucket)
    manifests = [
        Manifest.from_json((await store.get(bucket, info.key))[0])
        for info in await store.list(bucket)
        if info.key.endswith(f"/{MANIFEST}") and info.key.count("/") == 1
    ]
    return sorted(manifests, key=lambda manifest: manifest.backup_id, reverse=True)


async def load(store: ObjectStore, backup_id: str, bucket: str = BACKUPS_BUCKET) -> Manifest:
    if backup_id == "latest":
        found = await list_backups(store, bucket)
        if not found:
            raise BackupError(f"no backup in bucket {bucket}")
        return found[0]
    try:
        raw, _ = await store.get(bucket, f"{backup_id}/{MANIFEST}")
    except NotFound:
        raise BackupError(f"no complete backup {backup_id} in bucket {bucket}") from None
    return Manifest.from_json(raw)


async def verify(
    store: ObjectStore,
    manifest: Manifest,
    backends: Sequence[str] = (),
    progress: Progress = _quiet,
    bucket: str = BACKUPS_BUCKET,
) -> list[Problem]:
    """Re-reads every artifact (of ``backends``, or all) and checks size and SHA-256."""
    problems: list[Problem] = []
    for entry in manifest.entries:
        if backends and entry.backend not in backends:
            continue
        for artifact in entry.artifacts:
            digest = hashlib.sha256()
            size = 0
            try:
                async for chunk in store.stream(bucket, artifact.key):
                    digest.update(chunk)
                    size += len(chunk)
                    progress(entry.backend, artifact.name, size, False)
            except NotFound:
                problems.append(Problem(artifact.key, "missing"))
                continue
            progress(entry.backend, artifact.name, size, True)
            if size != artifact.size:
                problems.append(
                    Problem(artifact.key, f"size {size}, manifest says {artifact.size}")
                )
            elif digest.hexdigest() != artifact.sha256:
                problems.append(Problem(artifact.key, "SHA-256 differs from the manifest"))
    return problems


async def restore(
    store: ObjectStore,
    dumpers: dict[str, Dumper],
    manifest: Manifest,
    backends: Sequence[str],
    *,
    overwrite: bool,
    progress: Progress = _quiet,
    bucket: str = BACKUPS_BUCKET,
) -> list[BackendEntry]:
    """Verifies, checks for existing data, then restores each backend's entries."""
    chosen = [entry for entry in manifest.entries if entry.backend in backends]
    problems = await verify(store, manifest, backends, bucket=bucket)
    if problems:
        listed = "; ".join(f"{problem.key}: {problem.what}" for problem in problems)
        raise BackupError(f"backup {manifest.backup_id} is damaged, not restored: {listed}")
    if not overwrite:
        occupied = [
            f"{entry.backend} {entry.name}"
            for entry in chosen
            if await dumpers[entry.backend].existing(entry.name)
        ]
        if occupied:
            raise Refused(
                f"{', '.join(occupied)} already hold data; restore replaces it only with "
                "--overwrite"
            )
    for entry in chosen:
        streams = {
            artifact.name: _counting(
                store.stream(bucket, artifact.key), entry.backend, artifact.name, progress
            )
            for artifact in entry.artifacts
        }
        await dumpers[entry.backend].restore(entry.name, streams)
        for artifact in entry.artifacts:
            progress(entry.backend, artifact.name, artifact.size, True)
    return chosen
