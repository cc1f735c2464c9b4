"""Title artwork in the object store: keys, device URLs, uploads, demo posters, lifecycle.

Layout of the media bucket::

    published/posters/<title id>/<sha256[:16]>.<ext>   verified uploads
    published/generated/posters/<title id>-<inputs>.png demo posters (drawn lazily)
    uploads/<title id>/<upload id>                      presigned PUTs, unverified
    uploads/<title id>/<upload id>.json                 what the upload promised

Only ``published/`` is reachable from outside: the media origin maps
``/media/<path>`` to ``published/<path>`` for paths of those two shapes and
answers 404 for anything else (services/catalog/media_origin.py). A title's
``content_metadata.poster_url`` holds the reference ``s3://<bucket>/<key>`` of
its verified poster; devices get ``<media base>/<path>`` (Title.artwork).
Published keys carry a digest, so a new poster is a new URL and the edge's
1 h cache never serves a replaced one.

Demo posters: drawn lazily, on the first request for one, not at import. The
catalog holds 8,790 titles and a home screen shows ~100; drawing all at
import costs ~8,790 x 13 ms of CPU and ~8,790 x 14 KB (123 MB) for images
most of which nobody loads, and redrawing them after every metadata change.
A poster is a pure function of the title's fields (its URL names a digest of
them), so it can be dropped and drawn again at any time: which is what makes
the lifecycle rule below safe.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import io
import re
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from services.runtime.errors import FailedPrecondition
from services.runtime.object_store import ObjectStore
from streammesh.catalog.v1 import catalog_pb2

PUBLISHED: Final = "published/"
UPLOADS: Final = "uploads/"
GENERATED_POSTERS: Final = "generated/posters/"
# Upload limits (also in the contract's validation rules).
MAX_UPLOAD_BYTES: Final = 5 << 20
MAX_UPLOAD_SECONDS: Final = 900
# Bound on the decoded size of an upload: a small file may decode to a huge
# bitmap (a "decompression bomb").
MAX_UPLOAD_PIXELS: Final = 4096 * 4096
# Content type -> (Pillow's format name, file extension).
IMAGE_TYPES: Final = {
    "image/png": ("PNG", "png"),
    "image/jpeg": ("JPEG", "jpg"),
    "image/webp": ("WEBP", "webp"),
}
POSTER_SIZE: Final = (300, 450)
# /media/<path> shapes the origin serves; nothing else is reachable.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PUBLIC_PATH: Final = re.compile(
    rf"^(?:posters/{_UUID}/[0-9a-f]{{16}}\.(?:png|jpg|webp)"
    rf"|generated/posters/(?P<generated>{_UUID})-(?P<digest>[0-9a-f]{{12}})\.png)$"
)


def inputs_digest(title: catalog_pb2.Title) -> str:
    """A digest of the fields a demo poster is drawn from."""
    material = "\x1f".join(
        (
            title.title,
            str(title.release_year),
            title.content_type,
            title.maturity_rating,
            ",".join(title.genres),
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def generated_path(title: catalog_pb2.Title) -> str:
    return f"{GENERATED_POSTERS}{title.title_id}-{inputs_digest(title)}.png"


def reference(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def artwork_of(
    title: catalog_pb2.Title, metadata: catalog_pb2.TitleMetadata | None, media_base: str
) -> catalog_pb2.Artwork:
    """The URLs a device loads: the verified poster, else the drawn one."""
    poster = metadata.poster_url if metadata is not None else ""
    if poster.startswith("s3://"):
        key = poster.split("/", 3)[3]
        return catalog_pb2.Artwork(poster_url=f"{media_base}/{key.removeprefix(PUBLISHED)}")
    if poster:  # an external URL set through UpdateTitleMetadata
        return catalog_pb2.Artwork(poster_url=poster)
    return catalog_pb2.Artwork(poster_url=f"{media_base}/{generated_path(title)}")


# ------------------------------------------------------------ demo posters
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_poster(title: catalog_pb2.Title) -> bytes:
    """A PNG drawn only from the title's fields: the same title, the same bytes."""
    seed = hashlib.sha256(inputs_digest(title).encode()).digest()
    hue = seed[0] / 255
    top = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.65, 0.55))
    bottom = tuple(int(c * 255) for c in colorsys.hsv_to_rgb((hue + 0.12) % 1, 0.8, 0.18))
    width, height = POSTER_SIZE
    image = Image.new("RGB", POSTER_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / (height - 1)
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    for index in range(6):  # a few shapes, placed by the digest
        x, y, r = seed[2 + index] % width, seed[8 + index] % height, 20 + seed[14 + index] % 60
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=2)
    lines = textwrap.wrap(title.title or "Untitled", width=16)[:5]
    y = 40
    for line in lines:
        draw.text((20, y), line, fill=(255, 255, 255), font=_font(30))
        y += 36
    caption = " · ".join(
        part for part in (str(title.release_year or ""), title.maturity_rating) if part
    )
    draw.text((20, height - 70), caption, fill=(230, 230, 230), font=_font(18))
    genre = title.genres[0] if title.genres else title.content_type
    draw.text((20, height - 44), genre[:28], fill=(200, 200, 200), font=_font(16))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


# ----------------------------------------------------------------- uploads
def check_image(data: bytes, content_type: str) -> tuple[int, int]:
    """(width, height) when ``data`` is a whole image of ``content_type`` within
    the limits; raises FailedPrecondition naming what is wrong otherwise."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise FailedPrecondition(
            f"the upload is {len(data)} bytes, more than {MAX_UPLOAD_BYTES}",
            reason="ARTWORK_TOO_LARGE",
        )
    expected_format = IMAGE_TYPES[content_type][0]
    try:
        with Image.open(io.BytesIO(data)) as probe:
            found_format = probe.format
            width, height = probe.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise FailedPrecondition(
                    f"the image is {width}x{height} pixels, more than {MAX_UPLOAD_PIXELS}",
                    reason="ARTWORK_TOO_LARGE",
                )
            probe.verify()
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()  # verify() checks structure; load() decodes every pixel
    except FailedPrecondition:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise FailedPrecondition(
            f"the upload is not a readable {expected_format} image",
            reason="ARTWORK_NOT_AN_IMAGE",
        ) from error
    if found_format != expected_format:
        raise FailedPrecondition(
            f"the upload is {found_format}, declared {content_type}",
            reason="ARTWORK_TYPE_MISMATCH",
        )
    return width, height


async def check_image_async(data: bytes, content_type: str) -> tuple[int, int]:
    # Decoding is CPU work: off the event loop.
    return await asyncio.to_thread(check_image, data, content_type)


# --------------------------------------------------------------- lifecycle
@dataclass(frozen=True)
class LifecycleRule:
    """Objects under ``prefix`` older than ``days`` go, unless a title references them."""

    prefix: str
    days: float
    why: str


# Drawn posters are redrawn on demand; an upload is verified within minutes or
# never; a replaced poster is referenced by no title. (s3proxy's filesystem
# store does not run S3 lifecycle configurations, so `apply_lifecycle` does,
# as a periodic job would.)
LIFECYCLE_RULES: Final = (
    LifecycleRule(f"{PUBLISHED}{GENERATED_POSTERS}", 30, "drawn again on the next request"),
    LifecycleRule(UPLOADS, 1, "an upload not completed within a day"),
    LifecycleRule(f"{PUBLISHED}posters/", 7, "a poster no title references any more"),
)


@dataclass(frozen=True)
class LifecycleReport:
    kept_objects: int
    kept_bytes: int
    deleted_objects: int
    deleted_bytes: int


async def apply_lifecycle(
    store: ObjectStore,
    bucket: str,
    referenced: Iterable[str],
    rules: Iterable[LifecycleRule] = LIFECYCLE_RULES,
    now: float | None = None,
) -> LifecycleReport:
    """Deletes what the rules expire; returns what it kept and freed."""
    now = time.time() if now is None else now
    keep = set(referenced)
    kept = kept_bytes = deleted = deleted_bytes = 0
    for rule in rules:
        for info in await store.list(bucket, rule.prefix):
            if info.key in keep or now - info.modified < rule.days * 86400:
                kept += 1
                kept_bytes += info.size
                continue
            await store.delete(bucket, info.key)
            deleted += 1
            deleted_bytes += info.size
    return LifecycleReport(kept, kept_bytes, deleted, deleted_bytes)
