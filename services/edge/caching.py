"""L2 at the edge: Cache-Control on every routed RPC, and Envoy's HTTP cache for public GETs.

The case study's CDN keeps responses for 1 h. Here the edge plays that part:

* A PUBLIC, read-only RPC with a GET rule (titles, listings, trending,
  search and suggestions, plans) answers ``Cache-Control: public,
  max-age=N``; N is the 1 h CDN TTL unless the data moves faster (trending
  follows the views, a query's suggestions follow the catalog; the signing
  keys rotate). A CDN or browser in front of the edge may keep them that long.
* Every other route (OWNER RPCs, writes) answers ``Cache-Control: private,
  no-store``: no shared cache, ours or a CDN in front of us, may keep it.
* A public response does not depend on who asks, so it needs no ``Vary``;
  an owner response is never stored by a shared cache, so none is needed there either.

Envoy's HTTP cache serves the repeats (services/edge/render.py: the front
listener's cache, before the inner listener that transcodes). What it may
keep, by the rules it follows (RFC 9111):

* only GETs without an ``Authorization`` header: a signed-in device's request
  (a profile's search, with its maturity limit) is never answered from, nor
  stored in, the shared cache, so no profile sees another's answer;
* only answers whose ``Cache-Control`` allows it: never an owner's;
* an error of a public GET says the same ``Cache-Control`` as its success
  (Envoy adds the header to every answer of the route), so a 404 for a title
  id is kept too, as a CDN keeps negative answers; 4xx answers other than 404,
  405, 410, 414 and 501 are not kept, nor any 5xx.
"""

from __future__ import annotations

from typing import Any, Final

from services.edge.routes import DeviceRoute

JsonDict = dict[str, Any]
TYPE: Final = "type.googleapis.com/"

# The case study's CDN TTL.
CDN_TTL_SECONDS: Final = 3600
# Public GETs whose data changes faster than the CDN TTL, by RPC.
MAX_AGE_SECONDS: Final[dict[str, int]] = {
    # Recomputed from the views as they come (the history caches it 30 s).
    "streammesh.history.v1.HistoryService.ListTrending": 60,
    # Follow the catalog's writes through the search index.
    "streammesh.search.v1.SearchService.Search": 300,
    "streammesh.search.v1.SearchService.Suggest": 300,
    # Signing keys rotate: a verifier must see a new key well within a token's life.
    "streammesh.users.v1.UserService.GetJwks": 300,
}
PRIVATE: Final = "private, no-store"


def edge_cacheable(route: DeviceRoute) -> bool:
    """Anyone may call it, it changes nothing, and it is a GET."""
    return route.public and route.read_only and route.http_method == "GET"


def cache_control(route: DeviceRoute) -> str:
    if edge_cacheable(route):
        return f"public, max-age={MAX_AGE_SECONDS.get(route.rpc, CDN_TTL_SECONDS)}"
    return PRIVATE


def response_headers(route: DeviceRoute) -> list[JsonDict]:
    """The route's ``response_headers_to_add``: its Cache-Control, replacing any."""
    return [
        {
            "header": {"key": "cache-control", "value": cache_control(route)},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]
