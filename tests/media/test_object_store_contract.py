"""One contract for both object stores: s3proxy through aiobotocore, and files."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator

import pytest

from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.object_store import MULTIPART_PART_BYTES, ObjectStore
from tests.media.conftest import empty_and_forget

_counter = itertools.count()


@pytest.fixture
async def bucket(object_store: ObjectStore, bucket_prefix: str) -> AsyncIterator[str]:
    name = f"{bucket_prefix}c{next(_counter)}"
    await object_store.ensure_bucket(name)
    yield name
    await empty_and_forget(object_store, name)


async def test_names_that_could_escape_or_s3_refuses_are_invalid(
    object_store: ObjectStore, bucket: str
) -> None:
    for key in ("../etc/passwd", "a/../../b", "/abs", "a//b", "", "sp ace"):
        with pytest.raises(InvalidArgument):
            await object_store.put(bucket, key, b"x", "text/plain")
    with pytest.raises(InvalidArgument):
        await object_store.ensure_bucket("Bad_Bucket")


async def test_a_missing_object_is_not_found_and_head_says_none(
    object_store: ObjectStore, bucket: str
) -> None:
    with pytest.raises(NotFound):
        await object_store.get(bucket, "nothing/here.png")
    with pytest.raises(NotFound):
        async for _ in object_store.stream(bucket, "nothing/here.png"):
            pass
    assert await object_store.head(bucket, "nothing/here.png") is None
    await object_store.delete(bucket, "nothing/here.png")  # no error, as in S3


async def test_put_then_get_returns_the_bytes_and_the_content_type(
    object_store: ObjectStore, bucket: str
) -> None:
    await object_store.ensure_bucket(bucket)  # idempotent
    await object_store.put(bucket, "posters/a.png", b"\x89PNG-1", "image/png")
    await object_store.put(bucket, "posters/a.png", b"\x89PNG-2", "image/png")
    data, info = await object_store.get(bucket, "posters/a.png")
    head = await object_store.head(bucket, "posters/a.png")
    assert data == b"\x89PNG-2"
    assert (info.size, info.content_type) == (6, "image/png")
    assert head is not None
    assert (head.size, head.content_type) == (6, "image/png")


async def test_list_sees_keys_under_a_prefix_in_order_and_delete_removes(
    object_store: ObjectStore, bucket: str
) -> None:
    for key in ("b/2", "a/1", "b/1", "c"):
        await object_store.put(bucket, key, key.encode(), "text/plain")
    assert [info.key for info in await object_store.list(bucket, "b/")] == ["b/1", "b/2"]
    assert [info.size for info in await object_store.list(bucket)] == [3, 3, 3, 1]
    await object_store.delete(bucket, "b/1")
    assert [info.key for info in await object_store.list(bucket, "b/")] == ["b/2"]


async def test_a_stream_longer_than_a_part_round_trips_with_its_sha256(
    object_store: ObjectStore, bucket: str
) -> None:
    piece = bytes(range(256)) * 4096  # 1 MiB

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MULTIPART_PART_BYTES // len(piece) + 3):
            yield piece

    stored = await object_store.put_stream(bucket, "dumps/big.bin", chunks())
    digest = hashlib.sha256()
    size = 0
    async for chunk in object_store.stream(bucket, "dumps/big.bin"):
        digest.update(chunk)
        size += len(chunk)
    assert stored.size == size == MULTIPART_PART_BYTES + 3 * len(piece)
    assert stored.sha256 == digest.hexdigest()


async def test_an_empty_stream_stores_an_empty_object(
    object_store: ObjectStore, bucket: str
) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    stored = await object_store.put_stream(bucket, "empty", nothing())
    assert stored.size == 0
    assert (await object_store.get(bucket, "empty"))[0] == b""
