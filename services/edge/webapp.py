"""The device web app (web/), served by the edge itself.

``web/dist`` holds the built app: ``index.html`` and content-hashed assets
under ``assets/`` (web/build.mjs). Each file becomes one Envoy route with a
``direct_response`` whose body Envoy reads from the file when it loads its
configuration: no extra process, no extra hop, and the same edge answers the
app and the API it calls (same origin, so no CORS preflight either).

Why direct responses, not a static file server behind the edge: the app is a
handful of small files that change only with a release (a new config, as a
route change is), and Envoy has no static file filter; a sidecar server
would be one more process to run, supervise and scale for ~60 KB.

Caching: ``index.html`` is revalidated on every load (``no-cache``) so a new
release is picked up at once; the assets' names carry their content hash, so
they are cached for a year and never revalidated. API replies carry no cache
headers and the app fetches them with ``cache: "no-store"``: a page of one
profile can never be served from a cache to another (a kids profile).

The routes answer GET and HEAD only, bypass the JSON transcoder (they are
not RPCs) and need no token (the JWT rules match gRPC paths only). The app
is client-side routed with URL fragments (``#/title/<id>``), so ``/`` is the
only page path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

JsonDict = dict[str, Any]

TYPE: Final = "type.googleapis.com/"
# The built app in this checkout (committed; `make web-check` keeps it fresh).
DIST: Final = Path(__file__).resolve().parents[2] / "web" / "dist"
# Envoy refuses a direct_response body larger than the route configuration's
# max_direct_response_body_size_bytes (default 4 KiB); the app's largest file
# must fit under this bound (rendering fails naming the file otherwise).
MAX_ASSET_BYTES: Final = 1 << 20
INDEX_CACHE_CONTROL: Final = "no-cache"
ASSET_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
# The app loads only its own scripts and styles, calls only this origin, and
# shows images from this origin (/media/) or data: URLs.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_TYPES: Final[dict[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


class WebAppError(ValueError):
    """The built app cannot be served as it is (a file too large, of an unknown type)."""


def app_files(dist: Path) -> list[tuple[str, Path]]:
    """(URL path, file) of every file the edge serves, ``/`` first; none when unbuilt."""
    index = dist / "index.html"
    if not index.is_file():
        return []
    files = [("/", index)]
    for path in sorted((dist / "assets").glob("*")):
        if path.is_file():
            files.append((f"/assets/{path.name}", path))
    return files


def routes(dist: Path, served_from: Path | None = None) -> list[JsonDict]:
    """One direct-response route per file of ``dist``.

    ``served_from`` is where the same files are where Envoy runs (in the
    Kubernetes image: /app/web/dist); it defaults to ``dist`` itself.
    """
    where = served_from or dist
    entries = []
    for url_path, path in app_files(dist):
        size = path.stat().st_size
        if size > MAX_ASSET_BYTES:
            raise WebAppError(f"{path}: {size} bytes, above the edge's {MAX_ASSET_BYTES}")
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None:
            raise WebAppError(f"{path}: no content type for {path.suffix!r}")
        index = url_path == "/"
        headers = {
            "content-type": content_type,
            "cache-control": INDEX_CACHE_CONTROL if index else ASSET_CACHE_CONTROL,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        }
        if index:
            headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        entries.append(
            {
                "name": f"webapp:{url_path}",
                "match": {
                    "path": url_path,
                    "headers": [
                        {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
                    ],
                },
                "direct_response": {
                    "status": 200,
                    "body": {"filename": str(where / path.relative_to(dist))},
                },
                "response_headers_to_add": [
                    {
                        "header": {"key": key, "value": value},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                    for key, value in headers.items()
                ],
                "typed_per_filter_config": {
                    "envoy.filters.http.grpc_json_transcoder": {
                        "@type": TYPE + "envoy.config.route.v3.FilterConfig",
                        "disabled": True,
                    }
                },
            }
        )
    return entries


def _served_from(target: str, webapp_dir: Path | None) -> Path | None:
    """A local edge serves this checkout's build; a Kubernetes edge serves the
    app only when told where its image holds it."""
    served_from = webapp_dir or (DIST if target == "local" else None)
    return served_from if served_from and app_files(DIST) else None


def edge_routes(target: str, webapp_dir: Path | None) -> list[JsonDict]:
    served_from = _served_from(target, webapp_dir)
    return routes(DIST, served_from) if served_from else []


def local_reply_mappers(target: str, webapp_dir: Path | None) -> list[JsonDict]:
    """Envoy rewrites every local reply's body with the edge's default
    ``body_format`` (a JSON google.rpc.Status), direct responses included.
    This mapper, first in the list, keeps a 200 local reply's own body: only
    the app's routes answer 200 locally."""
    if _served_from(target, webapp_dir) is None:
        return []
    return [
        {
            "filter": {
                "status_code_filter": {
                    "comparison": {
                        "op": "EQ",
                        "value": {"default_value": 200, "runtime_key": "edge.webapp_reply_200"},
                    }
                }
            },
            "body_format_override": {
                "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
            },
        }
    ]
