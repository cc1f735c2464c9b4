"""The object store port (S3's data model) and its two adapters.

* :class:`S3ObjectStore` (real): any S3 API, here s3proxy of ``streammesh
  infra up`` (devtools/infra/backends/s3proxy.py), through aiobotocore, whose
  HTTP runs on the event loop (aiohttp): no call blocks it. Path-style
  addressing (``http://host:port/bucket/key``: s3proxy has no per-bucket
  host names) and checksums only when an operation requires them: botocore
  1.36+ adds CRC32 trailers (aws-chunked bodies) to every upload by default,
  which s3proxy's v4 signature check does not accept.
* :class:`FileObjectStore` (embedded): files under ``.streammesh/objects``,
  no JVM, no server. Its presigned PUT URLs point at the media origin's
  upload route (services/media/origin.py) and carry an HMAC of the same
  limits S3 signs: key, content type, content length, expiry.

Both pass one contract suite (tests/media/test_object_store_contract.py).
Outages (connection refused, timeouts, 5xx after botocore's bounded retries)
raise :class:`~services.runtime.errors.Unavailable`; a missing object raises
:class:`~services.runtime.errors.NotFound`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, urlencode

from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.settings import setting
from services.runtime.stores import unavailable_on

# S3's smallest part but the last; parts of this size keep a streamed upload's
# memory at one part whatever the object's size.
MULTIPART_PART_BYTES: Final = 8 << 20
# Chunks a streamed read yields.
READ_CHUNK_BYTES: Final = 1 << 20
# Bounds of one S3 call: connect, read, attempts (botocore's "standard" retry).
CONNECT_TIMEOUT_SECONDS: Final = 3.0
READ_TIMEOUT_SECONDS: Final = 30.0
MAX_ATTEMPTS: Final = 3
# Connections one client keeps to the store.
MAX_POOL_CONNECTIONS: Final = 32
# Longest life of a presigned URL this module signs.
MAX_PRESIGN_SECONDS: Final = 3600
_KEY: Final = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")
_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    # Seconds since the epoch (S3's LastModified).
    modified: float
    etag: str = ""


@dataclass(frozen=True)
class PresignedPut:
    """A URL that accepts one PUT with exactly these headers until ``expires_at``."""

    url: str
    headers: dict[str, str]
    expires_at: float


@dataclass(frozen=True)
class StoredObject:
    """What a streamed upload wrote: its size and SHA-256 computed on the way."""

    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    async def ensure_bucket(self, bucket: str) -> None:
        """Creates the bucket unless it exists (idempotent)."""
        ...

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> ObjectInfo:
        """Stores ``data`` at ``key`` (replacing any object there)."""
        ...

    async def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Stores a stream of unknown length, one part in memory at a time."""
        ...

    async def get(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo]:
        """The whole object and its facts; raises NotFound. For small objects."""
        ...

    def stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        """The object in chunks of at most READ_CHUNK_BYTES; raises NotFound."""
        ...

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's facts, or None."""
        ...

    async def list(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix``, by key."""
        ...

    async def delete(self, bucket: str, key: str) -> None:
        """Removes the object; a missing one is not an error (as in S3)."""
        ...

    async def presign_put(
        self, bucket: str, key: str, content_type: str, content_length: int, expires_seconds: int
    ) -> PresignedPut:
        """A URL for one PUT of exactly ``content_length`` bytes of ``content_type``."""
        ...

    async def close(self) -> None: ...


def check_name(bucket: str, key: str) -> None:
    """Refuses names S3 would refuse or that could leave a folder (``..``)."""
    if not _BUCKET.match(bucket):
        raise InvalidArgument.for_field("bucket", "is not a valid bucket name", "INVALID_BUCKET")
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/") or "//" in key:
        raise InvalidArgument.for_field("key", "is not a valid object key", "INVALID_KEY")


# ------------------------------------------------------------------------ S3
@dataclass(frozen=True)
class S3Settings:
    """Where the S3 API is and how to sign for it."""

    endpoint_url: str = "http://127.0.0.1:9000"
    access_key: str = "streammesh"
    secret_key: str = "streammesh-secret"  # the loopback s3proxy's fixed account
    region: str = "us-east-1"


class S3ObjectStore:
    """An S3 client (aiobotocore) kept open for the process; see the module."""

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    @classmethod
    async def open(cls, settings: S3Settings) -> S3ObjectStore:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        store = cls(settings)
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        store._client = await store._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=settings.endpoint_url,
                region_name=settings.region,
                aws_access_key_id=settings.access_key,
                aws_secret_access_key=settings.secret_key,
                config=config,
            )
        )
        return store

    async def close(self) -> None:
        await self._stack.aclose()

    async def ensure_bucket(self, bucket: str) -> None:
        check_name(bucket, "x")
        async with _s3_outage:
            try:
                await self._client.head_bucket(Bucket=bucket)
                return
            except self._client.exceptions.ClientError as error:
                if _status(error) != 404:
                    raise
            with contextlib.suppress(self._client.exceptions.BucketAlreadyOwnedByYou):
                await self._client.create_bucket(Bucket=bucket)

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> ObjectInfo:
        check_name(bucket, key)
        async with _s3_outage:
            response = await self._client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type
            )
        return ObjectInfo(key, len(data), content_type, time.time(), response.get("ETag", ""))

    async def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        check_name(bucket, key)
        digest = hashlib.sha256()
        size = 0
        async with _s3_outage:
            upload = await self._client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type
            )
            upload_id = upload["UploadId"]
            parts: list[dict[str, Any]] = []
            try:
                async for part in _parts(chunks, MULTIPART_PART_BYTES):
                    digest.update(part)
                    size += len(part)
                    number = len(parts) + 1
                    answer = await self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                if not parts:  # S3 needs one part, even an empty one
                    answer = await self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b""
                    )
                    parts.append({"PartNumber": 1, "ETag": answer["ETag"]})
                await self._client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._client.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload_id
                    )
                raise
        return StoredObject(key, size, digest.hexdigest())

    async def get(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo]:
        check_name(bucket, key)
        async with _s3_outage:
            try:
                response = await self._client.get_object(Bucket=bucket, Key=key)
            except self._client.exceptions.NoSuchKey as error:
                raise _not_found(bucket, key) from error
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data, _info(key, response)

    async def stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        check_name(bucket, key)
        async with _s3_outage:
            try:
                response = await self._client.get_object(Bucket=bucket, Key=key)
            except self._client.exceptions.NoSuchKey as error:
                raise _not_found(bucket, key) from error
            async with response["Body"] as body:
                while chunk := await body.read(READ_CHUNK_BYTES):
                    yield chunk

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        check_name(bucket, key)
        async with _s3_outage:
            try:
                response = await self._client.head_object(Bucket=bucket, Key=key)
            except self._client.exceptions.ClientError as error:
                if _status(error) == 404:
                    return None
                raise
        return _info(key, response)

    async def list(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        async with _s3_outage:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            item["Key"],
                            int(item["Size"]),
                            "",
                            item["LastModified"].timestamp(),
                            item.get("ETag", ""),
                        )
                    )
        return sorted(found, key=lambda info: info.key)

    async def delete(self, bucket: str, key: str) -> None:
        check_name(bucket, key)
        async with _s3_outage:
            await self._client.delete_object(Bucket=bucket, Key=key)

    async def presign_put(
        self, bucket: str, key: str, content_type: str, content_length: int, expires_seconds: int
    ) -> PresignedPut:
        check_name(bucket, key)
        expires_seconds = min(expires_seconds, MAX_PRESIGN_SECONDS)
        # Content type and length are signed headers: a PUT with another type
        # or size does not match the signature and is refused (403).
        url = await self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=expires_seconds,
        )
        headers = {"content-type": content_type, "content-length": str(content_length)}
        return PresignedPut(str(url), headers, time.time() + expires_seconds)


def _status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _info(key: str, response: dict[str, Any]) -> ObjectInfo:
    modified = response.get("LastModified")
    return ObjectInfo(
        key,
        int(response.get("ContentLength", 0)),
        str(response.get("ContentType", "")),
        modified.timestamp() if modified is not None else 0.0,
        str(response.get("ETag", "")),
    )


def _not_found(bucket: str, key: str) -> NotFound:
    return NotFound(f"object {bucket}/{key} does not exist", reason="OBJECT_NOT_FOUND")


def _s3_outage_causes() -> tuple[type[BaseException], ...]:
    import aiohttp
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    return (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
        aiohttp.ClientConnectionError,
        TimeoutError,
    )


_s3_outage = unavailable_on(*_s3_outage_causes(), what="the object store")


async def _parts(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Regroups a byte stream into pieces of ``size`` (the last may be shorter)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


# -------------------------------------------------------------------- files
@dataclass(frozen=True)
class FileStoreSettings:
    # Folder of the buckets (one sub-folder each) and of the objects' facts.
    root: Path = Path(".streammesh") / "objects"
    # Base of the presigned upload URLs: the media origin's upload route.
    upload_base_url: str = "http://127.0.0.1:8090/upload"
    # Key of the upload URLs' HMAC; a random one per process unless set
    # (then a URL signed by one process is refused by another).
    signing_key: bytes = field(default_factory=lambda: os.urandom(32))


class FileObjectStore:
    """Objects as files: ``<root>/<bucket>/<key>`` and ``<root>/.meta/<bucket>/<key>.json``.

    File work runs in a thread (asyncio.to_thread) so the loop never waits on
    the disk; a write goes to a temporary file renamed into place, so a reader
    sees the old object or the new one, never half of one.
    """

    def __init__(self, settings: FileStoreSettings) -> None:
        self._settings = settings
        self._root = settings.root.absolute()

    @classmethod
    async def open(cls, settings: FileStoreSettings) -> FileObjectStore:
        await asyncio.to_thread(settings.root.mkdir, parents=True, exist_ok=True)
        return cls(settings)

    async def close(self) -> None:
        return None

    def _path(self, bucket: str, key: str) -> Path:
        check_name(bucket, key)
        return self._root / bucket / key

    def _meta(self, bucket: str, key: str) -> Path:
        return self._root / ".meta" / bucket / f"{key}.json"

    def _bucket_exists(self, bucket: str) -> None:
        if not (self._root / bucket).is_dir():
            raise NotFound(f"bucket {bucket} does not exist", reason="BUCKET_NOT_FOUND")

    async def ensure_bucket(self, bucket: str) -> None:
        check_name(bucket, "x")
        await asyncio.to_thread((self._root / bucket).mkdir, parents=True, exist_ok=True)

    def _write(self, bucket: str, key: str, data: bytes, content_type: str) -> ObjectInfo:
        self._bucket_exists(bucket)
        path = self._path(bucket, key)
        _atomic_write(path, data)
        _atomic_write(self._meta(bucket, key), json.dumps({"content_type": content_type}).encode())
        return ObjectInfo(key, len(data), content_type, path.stat().st_mtime, _etag(data))

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await asyncio.to_thread(self._write, bucket, key, data, content_type)

    async def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        path = self._path(bucket, key)
        await asyncio.to_thread(self._bucket_exists, bucket)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        digest = hashlib.sha256()
        size = 0
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise
        meta = json.dumps({"content_type": content_type}).encode()
        await asyncio.to_thread(_atomic_write, self._meta(bucket, key), meta)
        return StoredObject(key, size, digest.hexdigest())

    def _read(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo]:
        path = self._path(bucket, key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise _not_found(bucket, key) from error
        return data, self._facts(bucket, key, path, _etag(data))

    def _facts(self, bucket: str, key: str, path: Path, etag: str = "") -> ObjectInfo:
        try:
            content_type = json.loads(self._meta(bucket, key).read_text())["content_type"]
        except (FileNotFoundError, ValueError, KeyError):
            content_type = "application/octet-stream"
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, str(content_type), stat.st_mtime, etag)

    async def get(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo]:
        return await asyncio.to_thread(self._read, bucket, key)

    async def stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        path = self._path(bucket, key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise _not_found(bucket, key) from error
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        path = self._path(bucket, key)

        def facts() -> ObjectInfo | None:
            if not path.is_file():
                return None
            return self._facts(bucket, key, path)

        return await asyncio.to_thread(facts)

    async def list(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        base = self._root / bucket

        def walk() -> list[ObjectInfo]:
            self._bucket_exists(bucket)
            found = []
            for path in base.rglob("*"):
                if not path.is_file() or path.name.endswith(".partial"):
                    continue
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(ObjectInfo(key, stat.st_size, "", stat.st_mtime))
            return sorted(found, key=lambda info: info.key)

        return await asyncio.to_thread(walk)

    async def delete(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)

        def remove() -> None:
            path.unlink(missing_ok=True)
            self._meta(bucket, key).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def presign_put(
        self, bucket: str, key: str, content_type: str, content_length: int, expires_seconds: int
    ) -> PresignedPut:
        check_name(bucket, key)
        expires_at = int(time.time()) + min(expires_seconds, MAX_PRESIGN_SECONDS)
        signature = self._signature(bucket, key, content_type, content_length, expires_at)
        query = urlencode({"expires": expires_at, "signature": signature})
        url = f"{self._settings.upload_base_url}/{bucket}/{quote(key)}?{query}"
        headers = {"content-type": content_type, "content-length": str(content_length)}
        return PresignedPut(url, headers, float(expires_at))

    def _signature(
        self, bucket: str, key: str, content_type: str, content_length: int, expires_at: int
    ) -> str:
        message = f"PUT\n{bucket}\n{key}\n{content_type}\n{content_length}\n{expires_at}"
        mac = hmac.new(self._settings.signing_key, message.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def accepts_upload(
        self,
        bucket: str,
        key: str,
        content_type: str,
        content_length: int,
        expires_at: int,
        signature: str,
    ) -> bool:
        """Whether a PUT to a presigned URL may store its body (what S3 checks)."""
        if expires_at < time.time():
            return False
        expected = self._signature(bucket, key, content_type, content_length, expires_at)
        return hmac.compare_digest(expected, signature)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class ObjectStoreSettings:
    """Where a service's objects are, for either backend (a config's nested field)."""

    # Embedded: the folder of the buckets.
    root: Path = Path(".streammesh") / "objects"
    # Real: the S3 API (s3proxy of `streammesh infra up`) and its account.
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = "streammesh"
    s3_secret_key: str = field(default="streammesh-secret", metadata=setting(secret=True))
    s3_region: str = "us-east-1"
    # Embedded: base of presigned upload URLs (the media origin's /upload route)
    # and the key of their HMAC, shared by the services that sign and check them.
    upload_base: str = "http://127.0.0.1:8090/upload"
    upload_signing_key: str = field(
        default="streammesh-dev-upload-key", metadata=setting(secret=True)
    )


async def open_object_store(settings: ObjectStoreSettings, backend: str) -> ObjectStore:
    """s3proxy for the ``real`` backends, files for ``embedded``."""
    if backend == "real":
        return await S3ObjectStore.open(
            S3Settings(
                endpoint_url=settings.s3_endpoint,
                access_key=settings.s3_access_key,
                secret_key=settings.s3_secret_key,
                region=settings.s3_region,
            )
        )
    if backend != "embedded":
        raise ValueError(f"object store backend {backend!r}: expected embedded or real")
    return await FileObjectStore.open(
        FileStoreSettings(
            root=settings.root,
            upload_base_url=settings.upload_base,
            signing_key=settings.upload_signing_key.encode(),
        )
    )
