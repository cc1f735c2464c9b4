"""Object stores for the media and backup suites: s3proxy (real) and files (embedded)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from devtools.infra import endpoints
from services.runtime.object_store import (
    FileObjectStore,
    FileStoreSettings,
    ObjectStore,
    S3ObjectStore,
    S3Settings,
)
from tests.conftest import CONNECT_TIMEOUT_SECONDS, backend_unavailable


def s3_settings() -> S3Settings:
    return S3Settings(
        endpoint_url=endpoints.s3_url(),
        access_key=endpoints.S3_ACCESS_KEY,
        secret_key=endpoints.S3_SECRET_KEY,
        region=endpoints.S3_REGION,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """s3proxy's URL; skips (fails under CI) when it does not answer."""
    url = endpoints.s3_url()
    try:
        socket.create_connection(
            (endpoints.HOST, endpoints.S3_PORT), CONNECT_TIMEOUT_SECONDS
        ).close()
    except OSError as error:
        backend_unavailable("s3proxy", url, error)
    return url


@pytest.fixture(scope="session")
def bucket_prefix(run_id: str) -> str:
    """Every bucket a test creates starts with this (bucket names are lowercase)."""
    return f"test-{run_id.replace('_', '-')}-"


async def empty_and_forget(store: ObjectStore, bucket: str) -> None:
    for info in await store.list(bucket):
        await store.delete(bucket, info.key)


@pytest_asyncio.fixture(params=["s3proxy", "files"])
async def object_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ObjectStore]:
    """Each adapter of the object store port, in turn."""
    store: ObjectStore
    if request.param == "s3proxy":
        request.getfixturevalue("s3_endpoint")
        store = await S3ObjectStore.open(s3_settings())
    else:
        store = await FileObjectStore.open(FileStoreSettings(root=tmp_path / "objects"))
    try:
        yield store
    finally:
        await store.close()
