"""Artwork end to end: catalog, browse, the media origin and the real Envoy.

The mesh runs once per object store (files, then s3proxy). Artwork is loaded
the way a device loads it: the URLs of a home screen's cards, fetched through
the edge.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import httpx
import pytest
from PIL import Image

from services.catalog import artwork, media_origin
from services.edge import envoy
from services.edge.render import EdgeConfig, render
from services.runtime.object_store import ObjectStoreSettings
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.media.conftest import s3_settings
from tests.mesh import (
    LOOPBACK,
    Account,
    StorageFactory,
    browse_config,
    catalog_config,
    sign_up,
    start_mesh,
    unused_port,
    users_config,
)

KIDS_LIMIT = "TV-Y7"


@dataclass
class ArtMesh:
    store: str
    http: httpx.AsyncClient
    admin: str
    catalog: catalog_pb2_grpc.CatalogServiceStub
    browse: browse_pb2_grpc.BrowseServiceStub
    users: users_pb2_grpc.UserServiceStub
    account: Account
    media_base: str

    async def home_cards(self, profile_id: str = "") -> list[browse_pb2.TitleCard]:
        home = await self.browse.GetHome(
            browse_pb2.GetHomeRequest(profile_id=profile_id or self.account.primary_profile_id),
            metadata=self.account.caller,
        )
        return [card for row in home.rows for card in row.cards]

    async def origin_requests(self) -> int:
        stats = (await self.http.get(f"{self.admin}/stats?filter=^cluster.media_origin.")).text
        found = re.search(r"cluster\.media_origin\.upstream_rq_total: (\d+)", stats)
        return int(found.group(1)) if found else 0


def _png(size: tuple[int, int] = (60, 90), colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 90), "blue").save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(scope="module", params=["files", "s3proxy"])
async def mesh(
    request: pytest.FixtureRequest,
    mesh_storage: StorageFactory,
    bucket_prefix: str,
) -> AsyncIterator[ArtMesh]:
    storage = mesh_storage(f"art-{request.param}")
    edge_port = unused_port()
    media_base = f"http://{LOOPBACK}:{edge_port}/media"
    origin_port = unused_port()
    objects = ObjectStoreSettings(
        root=storage.state / "objects", upload_base=f"http://{LOOPBACK}:{origin_port}/upload"
    )
    media_store, bucket = "embedded", "media"
    if request.param == "s3proxy":
        request.getfixturevalue("s3_endpoint")
        settings = s3_settings()
        objects = replace(
            objects,
            s3_endpoint=settings.endpoint_url,
            s3_access_key=settings.access_key,
            s3_secret_key=settings.secret_key,
        )
        media_store, bucket = "real", f"{bucket_prefix}media"
    catalog = catalog_config(
        storage,
        objects=objects,
        media_store=media_store,
        media_bucket=bucket,
        media_base=media_base,
    )
    async with (
        start_mesh(users_config(storage), catalog, browse_config()) as servers,
        media_origin.running(catalog, LOOPBACK, origin_port),
        grpc.aio.insecure_channel(servers.address("users")) as users_channel,
        grpc.aio.insecure_channel(servers.address("catalog")) as catalog_channel,
        grpc.aio.insecure_channel(servers.address("browse")) as browse_channel,
    ):
        config = EdgeConfig(
            port=edge_port,
            admin_port=0,
            upstreams=servers.addresses,
            media_upstream=f"{LOOPBACK}:{origin_port}",
            otlp_collector=None,
        )
        path = envoy.write_config(render(config), storage.state / "envoy.json")
        edge = await envoy.start(path, storage.state, storage.state / "envoy.log")
        users = users_pb2_grpc.UserServiceStub(users_channel)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://{LOOPBACK}:{edge_port}", timeout=15
            ) as http:
                yield ArtMesh(
                    request.param,
                    http,
                    f"http://{LOOPBACK}:{edge.admin_port}",
                    catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
                    browse_pb2_grpc.BrowseServiceStub(browse_channel),
                    users,
                    await sign_up(users, "media"),
                    media_base,
                )
        finally:
            await edge.stop()


# -------------------------------------------------------------- serving
async def test_home_screen_posters_load_through_the_edge_and_again_from_its_cache(
    mesh: ArtMesh,
) -> None:
    cards = await mesh.home_cards()
    urls = sorted({card.poster_url for card in cards})
    assert cards
    assert all(card.poster_url.startswith(mesh.media_base + "/") for card in cards)
    for card in cards:  # each card's poster is its own title's
        assert card.title_id in card.poster_url

    before = await mesh.origin_requests()
    first = {url: await mesh.http.get(url) for url in urls}
    after_cold = await mesh.origin_requests()
    for reply in first.values():
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "image/png"
        assert reply.headers["cache-control"] == "public, max-age=3600"
        with Image.open(io.BytesIO(reply.content)) as image:
            assert image.size == artwork.POSTER_SIZE
    assert after_cold - before == len(urls)

    second = {url: await mesh.http.get(url) for url in urls}
    assert await mesh.origin_requests() == after_cold  # no request reached the origin
    for url, reply in second.items():
        assert reply.status_code == 200
        assert reply.content == first[url].content
        assert "age" in reply.headers  # Envoy's cache answered


async def test_get_and_list_titles_carry_the_same_poster_url_as_the_cards(mesh: ArtMesh) -> None:
    listed = await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=5))
    assert listed.titles
    for title in listed.titles:
        fetched = await mesh.catalog.GetTitle(catalog_pb2.GetTitleRequest(title_id=title.title_id))
        assert fetched.artwork.poster_url == title.artwork.poster_url
        assert title.artwork.poster_url.startswith(f"{mesh.media_base}/generated/posters/")
    rest = await mesh.http.get(f"/v1/titles/{listed.titles[0].title_id}")
    assert rest.status_code == 200
    assert rest.json()["artwork"]["posterUrl"] == listed.titles[0].artwork.poster_url


async def test_a_kids_profile_home_only_links_posters_of_titles_within_its_limit(
    mesh: ArtMesh,
) -> None:
    from streammesh.users.v1 import users_pb2

    profile = await mesh.users.CreateProfile(
        users_pb2.CreateProfileRequest(
            account_id=mesh.account.account_id,
            profile=users_pb2.Profile(
                profile_name=f"kid{uuid.uuid4().hex[:4]}",
                kids_profile=True,
                maturity_rating=KIDS_LIMIT,
            ),
        ),
        metadata=mesh.account.caller,
    )
    cards = await mesh.home_cards(str(profile.profile_id))
    assert cards
    allowed = {"TV-Y", "TV-Y7", "TV-Y7-FV", "G", "TV-G"}
    for card in cards:
        assert card.maturity_rating in allowed
        assert card.title_id in card.poster_url


# ---------------------------------------------------- what is not served
async def test_unpublished_objects_and_paths_outside_the_prefix_are_404(mesh: ArtMesh) -> None:
    title = (await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=1))).titles[0]
    upload = await mesh.catalog.CreateArtworkUpload(
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title.title_id, content_type="image/png", content_length=len(_png())
        )
    )
    put = await mesh.http.put(upload.upload_url, content=_png(), headers=dict(upload.headers))
    assert put.status_code == 200  # the object exists, unverified, under uploads/
    unpublished = f"uploads/{title.title_id}/{upload.upload_id}"
    digest = artwork.inputs_digest(title)
    for path in (
        f"/media/{unpublished}",
        f"/media/../{unpublished}",
        f"/media/%2e%2e/{unpublished}",
        f"/media/posters/{title.title_id}/{'0' * 16}.png",  # well-formed, never published
        f"/media/generated/posters/{title.title_id}-{'f' * 12}.png",  # not its digest
        f"/media/generated/posters/{uuid.uuid4()}-{digest}.png",  # no such title
        f"/media/generated/posters/{title.title_id}-{digest}.png.json",
        f"/{unpublished}",
        "/published/posters/",
        "/media/",
    ):
        reply = await mesh.http.get(path)
        assert reply.status_code == 404, path


# ---------------------------------------------------------------- uploads
async def test_an_upload_of_the_wrong_type_or_size_is_refused(mesh: ArtMesh) -> None:
    title_id = (
        (await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=1)))
        .titles[0]
        .title_id
    )
    for bad in (
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title_id, content_type="image/gif", content_length=100
        ),
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title_id, content_type="image/png", content_length=artwork.MAX_UPLOAD_BYTES + 1
        ),
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title_id, content_type="image/png", content_length=10, expires_in_seconds=3600
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await mesh.catalog.CreateArtworkUpload(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await mesh.catalog.CreateArtworkUpload(
            catalog_pb2.CreateArtworkUploadRequest(
                title_id=str(uuid.uuid4()), content_type="image/png", content_length=10
            )
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    png = _png()
    upload = await mesh.catalog.CreateArtworkUpload(
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title_id, content_type="image/png", content_length=len(png)
        )
    )
    # The URL takes exactly the declared type and length, nothing else.
    wrong_type = {**upload.headers, "content-type": "image/jpeg"}
    assert (
        await mesh.http.put(upload.upload_url, content=png, headers=wrong_type)
    ).status_code == 403
    longer = png + b"\x00"
    headers = {k: v for k, v in upload.headers.items() if k != "content-length"}
    assert (
        await mesh.http.put(upload.upload_url, content=longer, headers=headers)
    ).status_code == 403
    # Nothing uploaded yet: completing is refused.
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await mesh.catalog.CompleteArtworkUpload(
            catalog_pb2.CompleteArtworkUploadRequest(title_id=title_id, upload_id=upload.upload_id)
        )
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("declared", "payload", "reason"),
    [
        ("image/png", _jpeg(), "ARTWORK_TYPE_MISMATCH"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "ARTWORK_NOT_AN_IMAGE"),
        ("image/jpeg", b"plain text, not an image", "ARTWORK_NOT_AN_IMAGE"),
    ],
)
async def test_a_bad_upload_is_refused_and_the_title_keeps_its_poster(
    mesh: ArtMesh, declared: str, payload: bytes, reason: str
) -> None:
    title = (await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=2))).titles[1]
    before = await mesh.catalog.GetTitle(catalog_pb2.GetTitleRequest(title_id=title.title_id))
    upload = await mesh.catalog.CreateArtworkUpload(
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title.title_id, content_type=declared, content_length=len(payload)
        )
    )
    put = await mesh.http.put(upload.upload_url, content=payload, headers=dict(upload.headers))
    assert put.status_code == 200
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mesh.catalog.CompleteArtworkUpload(
            catalog_pb2.CompleteArtworkUploadRequest(
                title_id=title.title_id, upload_id=upload.upload_id
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason in str(refused.value.trailing_metadata())
    after = await mesh.catalog.GetTitle(catalog_pb2.GetTitleRequest(title_id=title.title_id))
    assert after.artwork.poster_url == before.artwork.poster_url


async def test_a_valid_upload_replaces_the_poster_everywhere(mesh: ArtMesh) -> None:
    title = (await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=3))).titles[2]
    old = (
        await mesh.catalog.GetTitle(catalog_pb2.GetTitleRequest(title_id=title.title_id))
    ).artwork
    assert (await mesh.http.get(old.poster_url)).status_code == 200  # now in the edge's cache
    png = _png(colour="green")
    upload = await mesh.catalog.CreateArtworkUpload(
        catalog_pb2.CreateArtworkUploadRequest(
            title_id=title.title_id, content_type="image/png", content_length=len(png)
        )
    )
    put = await mesh.http.put(upload.upload_url, content=png, headers=dict(upload.headers))
    assert put.status_code == 200
    done = await mesh.catalog.CompleteArtworkUpload(
        catalog_pb2.CompleteArtworkUploadRequest(
            title_id=title.title_id, upload_id=upload.upload_id
        )
    )
    assert done.artwork.poster_url != old.poster_url
    assert done.artwork.poster_url.startswith(f"{mesh.media_base}/posters/{title.title_id}/")
    assert done.metadata.poster_url.startswith("s3://")
    fetched = await mesh.catalog.GetTitle(catalog_pb2.GetTitleRequest(title_id=title.title_id))
    assert fetched.artwork.poster_url == done.artwork.poster_url
    listed = await mesh.catalog.ListTitles(catalog_pb2.ListTitlesRequest(page_size=3))
    assert listed.titles[2].artwork.poster_url == done.artwork.poster_url
    served = await mesh.http.get(done.artwork.poster_url)
    assert served.status_code == 200
    assert served.content == png
    # The upload itself is gone once published: its key now answers 404 everywhere.
    assert (
        await mesh.http.get(f"/media/uploads/{title.title_id}/{upload.upload_id}")
    ).status_code == 404


# ------------------------------------------------------ posters, lifecycle
def test_demo_posters_are_deterministic_and_differ_between_titles() -> None:
    first = catalog_pb2.Title(
        title_id=str(uuid.uuid4()), title="Kota Factory", release_year=2019, genres=["Dramas"]
    )
    second = catalog_pb2.Title(title_id=first.title_id, title="Kota Factory 2", release_year=2019)
    assert artwork.draw_poster(first) == artwork.draw_poster(first)
    assert artwork.draw_poster(first) != artwork.draw_poster(second)
    assert artwork.generated_path(first) != artwork.generated_path(second)


def test_an_image_larger_than_the_pixel_bound_is_refused_before_decoding() -> None:
    out = io.BytesIO()
    Image.new("1", (5000, 5000)).save(out, format="PNG")  # small file, 25 Mpx
    with pytest.raises(artwork.FailedPrecondition) as refused:
        artwork.check_image(out.getvalue(), "image/png")
    assert refused.value.reason == "ARTWORK_TOO_LARGE"


async def test_the_lifecycle_rule_drops_expired_generated_and_unreferenced_objects(
    tmp_path: Path,
) -> None:
    from services.runtime.object_store import FileObjectStore, FileStoreSettings

    store = await FileObjectStore.open(FileStoreSettings(root=tmp_path))
    await store.ensure_bucket("media")
    kept_poster = "published/posters/a/1.png"
    for key in (
        kept_poster,
        "published/posters/a/0.png",
        "published/generated/posters/x.png",
        "uploads/a/u",
    ):
        await store.put("media", key, b"x" * 1000, "image/png")
    fresh = await artwork.apply_lifecycle(store, "media", {kept_poster})
    assert fresh.deleted_objects == 0
    later = await artwork.apply_lifecycle(
        store, "media", {kept_poster}, now=time.time() + 31 * 86400
    )
    assert (later.deleted_objects, later.deleted_bytes) == (3, 3000)
    assert [info.key for info in await store.list("media")] == [kept_poster]


async def test_without_its_object_store_the_catalog_serves_titles_and_uploads_are_unavailable(
    mesh_storage: StorageFactory,
) -> None:
    storage = mesh_storage("art-no-store")
    down = ObjectStoreSettings(s3_endpoint=f"http://{LOOPBACK}:{unused_port()}")
    catalog = catalog_config(storage, objects=down, media_store="real")
    async with (
        start_mesh(catalog) as servers,
        grpc.aio.insecure_channel(servers.address("catalog")) as channel,
    ):
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        title = (await stub.ListTitles(catalog_pb2.ListTitlesRequest(page_size=1))).titles[0]
        assert title.artwork.poster_url
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateArtworkUpload(
                catalog_pb2.CreateArtworkUploadRequest(
                    title_id=title.title_id, content_type="image/png", content_length=10
                )
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
