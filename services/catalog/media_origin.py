"""The media origin: published artwork over HTTP, behind the edge's cache.

``python -m services.catalog.media_origin`` (port ``MEDIA_ORIGIN_PORT``,
8090). Envoy routes ``GET /media/...`` here and caches what it answers for
its ``Cache-Control: max-age`` (1 h): the case study's CDN layer.

* ``GET /media/<path>`` serves the object ``published/<path>`` of the media
  bucket, for the two path shapes of services/catalog/artwork.py only. Any
  other path, an unpublished object (an upload not yet verified, anything
  outside ``published/``) or a missing one is 404: nothing else in the store
  can be reached from outside.
* A drawn demo poster that is not stored yet is drawn on this first request
  (its URL names the title and a digest of its fields; a digest that is not
  the title's current one is 404), stored, and served.
* ``PUT /upload/<bucket>/<key>``: the embedded object store's presigned
  uploads (S3 checks its own presigned URLs; the edge routes no /upload).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from services.catalog import artwork
from services.catalog.config import Config
from services.catalog.store import CatalogStore
from services.catalog.stores import open_store
from services.runtime.errors import NotFound
from services.runtime.object_store import FileObjectStore, ObjectStore, open_object_store

log = logging.getLogger(__name__)

MEDIA_ORIGIN_PORT: Final = 8090
# The edge and devices keep an image this long (the case study's CDN TTL).
CACHE_CONTROL: Final = "public, max-age=3600"
# Posters drawn at once (CPU work in threads): a cold home screen asks for
# dozens together; more would only queue on the 2 cores.
MAX_CONCURRENT_DRAWS: Final = 2


@dataclass
class Origin:
    objects: ObjectStore
    bucket: str
    titles: CatalogStore
    draws: asyncio.Semaphore

    async def media(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        match = artwork.PUBLIC_PATH.match(path)
        if match is None:
            raise web.HTTPNotFound(text="no such artwork")
        key = f"{artwork.PUBLISHED}{path}"
        try:
            data, info = await self.objects.get(self.bucket, key)
            content_type = info.content_type
        except NotFound:
            if match["generated"] is None:
                raise web.HTTPNotFound(text="no such artwork") from None
            data = await self._draw(match["generated"], match["digest"], key)
            content_type = "image/png"
        return web.Response(
            body=data,
            content_type=content_type,
            headers={"Cache-Control": CACHE_CONTROL},
        )

    async def _draw(self, title_id: str, digest: str, key: str) -> bytes:
        title = await self.titles.get_title(title_id)
        if title is None or artwork.inputs_digest(title) != digest:
            raise web.HTTPNotFound(text="no such artwork")
        async with self.draws:
            data = await asyncio.to_thread(artwork.draw_poster, title)
        await self.objects.put(self.bucket, key, data, "image/png")
        return data

    async def upload(self, request: web.Request) -> web.Response:
        store = self.objects
        if not isinstance(store, FileObjectStore):
            raise web.HTTPNotFound(text="uploads go to the S3 API")
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        try:
            expires_at = int(request.query.get("expires", "0"))
            length = int(request.headers.get("Content-Length", "-1"))
        except ValueError:
            raise web.HTTPForbidden(text="malformed presigned URL") from None
        content_type = request.headers.get("Content-Type", "")
        signature = request.query.get("signature", "")
        if not store.accepts_upload(bucket, key, content_type, length, expires_at, signature):
            raise web.HTTPForbidden(text="signature, type, length or expiry does not match")
        body = await request.content.read(length + 1)
        if len(body) != length:
            raise web.HTTPForbidden(text="body length does not match the signed length")
        await store.put(bucket, key, body, content_type)
        return web.Response(status=200)


def build_app(origin: Origin) -> web.Application:
    app = web.Application(client_max_size=artwork.MAX_UPLOAD_BYTES + 1024)
    app.router.add_get("/media/{path:.*}", origin.media)
    app.router.add_put("/upload/{bucket}/{key:.*}", origin.upload)
    return app


@contextlib.asynccontextmanager
async def running(
    config: Config, host: str = "127.0.0.1", port: int = MEDIA_ORIGIN_PORT
) -> AsyncIterator[int]:
    """Serves until the context exits; yields the bound port (port 0: any free one)."""
    titles = await open_store(config)
    objects = await open_object_store(config.objects, config.media_store)
    runner: web.AppRunner | None = None
    try:
        await objects.ensure_bucket(config.media_bucket)
        origin = Origin(
            objects, config.media_bucket, titles, asyncio.Semaphore(MAX_CONCURRENT_DRAWS)
        )
        runner = web.AppRunner(build_app(origin), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        yield int(sockets[0].getsockname()[1]) if sockets else port
    finally:
        if runner is not None:
            await runner.cleanup()
        await objects.close()
        await titles.close()


async def _serve(environ: Mapping[str, str]) -> None:
    config = Config.from_env(environ)
    port = int(environ.get("STREAMMESH_MEDIA_ORIGIN_PORT", str(MEDIA_ORIGIN_PORT)))
    # Loopback beside a local edge; 0.0.0.0 in a pod, where the edge is another pod.
    host = environ.get("STREAMMESH_MEDIA_ORIGIN_HOST", "127.0.0.1")
    async with running(config, host, port) as bound:
        log.info("media origin on %s:%d", host, bound)
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(os.environ))
