"""Renders the Envoy edge configuration from one source.

The same function produces the local configuration (``streammesh up``) and
the Kubernetes one (``k8s/``); only :class:`EdgeConfig` differs. Routes come
from the contracts (:mod:`services.edge.routes`: the PUBLIC and OWNER RPCs of
``option (streammesh.options.v1.visibility)``, never the INTERNAL ones),
upstreams from ``services.registry``.

Two listeners, because Envoy's HTTP cache sends what it may cache straight
to the router (skipping every filter after it), so it cannot sit in front of
the transcoder on one listener (services/edge/caching.py):

* ``edge``, the device-facing listener on :8080:

  1. ``cors``: answers browser preflights, and adds the CORS headers to every
     answer as it leaves, so a cached answer never carries another origin's.
  2. ``local_ratelimit``: sheds load cheaply, cache hits included.
  3. ``cache``: L2. Serves repeats of public GETs within their
     ``Cache-Control`` max-age, from a bounded LRU on disk. Requests with an
     ``Authorization`` header are never served from or stored in it (Envoy's
     rule, RFC 9111 3.5), and owner answers say ``no-store``.
  4. ``router``: to the inner listener, in process (an internal listener:
     no socket, no port).

* ``edge_inner``, reached only from ``edge``:

  1. ``grpc_json_transcoder``: maps REST/JSON to gRPC. After it every
     request, REST or native gRPC, carries its gRPC path, so the filters
     below and the routes match ONE name per RPC.
  2. ``jwt_authn``: RPCs whose contract declares ``VISIBILITY_OWNER`` need a
     valid token (rules on gRPC paths); ``VISIBILITY_PUBLIC`` ones get no
     rule. The token is forwarded: services verify it again and check
     ownership, so a caller that reaches a service port directly gets no further.
  3. ``router``: per-RPC timeouts; retries only for read-only RPCs.

Every error body, including Envoy's own local replies, is a JSON
``google.rpc.Status``: upstream gRPC errors are converted by the transcoder
(``convert_grpc_status``), local replies by ``local_reply_config``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.edge import webapp
from services.edge.caching import response_headers
from services.edge.routes import DESCRIPTOR_SET, DeviceRoute, device_routes
from services.registry import EDGE_ADMIN_PORT, EDGE_PORT, SERVICES, ServiceSpec

Target = Literal["local", "k8s"]
JsonDict = dict[str, Any]

EDGE_REFLECTION_PORT = 50050
# The listener behind the device-facing one (see the module docstring).
INNER_LISTENER = "edge_inner"
TYPE = "type.googleapis.com/"
# gRPC status codes by the HTTP status Envoy answers with itself.
_LOCAL_REPLY_CODES: dict[int, tuple[int, str]] = {
    400: (3, "invalid request"),
    401: (16, "missing or invalid access token"),
    403: (7, "permission denied"),
    404: (5, "no such route"),
    405: (12, "method not allowed"),
    408: (4, "request timeout"),
    413: (3, "request body too large"),
    429: (8, "rate limit exceeded, retry later"),
    431: (3, "request headers too large"),
    500: (13, "internal error"),
    502: (14, "upstream unavailable"),
    503: (14, "upstream unavailable"),
    504: (4, "upstream timeout"),
}


@dataclass(frozen=True)
class EdgeConfig:
    """What differs between a local edge and a Kubernetes one."""

    target: Target = "local"
    listen_host: str = "127.0.0.1"
    port: int = EDGE_PORT
    admin_port: int = EDGE_ADMIN_PORT
    # The descriptor set Envoy loads, as a path where Envoy runs (in the pod:
    # the image's /app/gen/streammesh.pb) ...
    descriptor_set: Path = DESCRIPTOR_SET
    # ... and the one the renderer reads the routes from, here: the same
    # contracts, but the pod's path does not exist where the config is rendered.
    contracts_descriptor_set: Path = DESCRIPTOR_SET
    # host:port of each service; defaults to services.registry (env overrides).
    upstreams: dict[str, str] = field(default_factory=dict)
    # The edge's reflection server (services.edge.reflection), beside Envoy.
    reflection_upstream: str = f"127.0.0.1:{EDGE_REFLECTION_PORT}"
    # Must match the users service's token issuer.
    jwt_issuer: str = "streammesh-users"
    # Requests per second the whole edge accepts (token bucket, burst 2x).
    rate_limit_per_second: int = 2000
    # Browser origins allowed by CORS, as regular expressions.
    cors_origin_regexes: tuple[str, ...] = (r"https?://localhost(:[0-9]+)?",)
    # OTLP/gRPC collector for Envoy's spans, host:port. Envoy starts a trace
    # (or continues the caller's W3C traceparent) either way; spans are lost
    # quietly while no collector listens. None turns Envoy's tracing off.
    otlp_collector: str | None = "127.0.0.1:4317"
    read_timeout_seconds: float = 5.0
    write_timeout_seconds: float = 10.0
    read_retries: int = 2
    # The media origin (services/catalog/media_origin.py): published artwork
    # from the object store, served at /media/... and cached here (the CDN).
    media_upstream: str = "127.0.0.1:8090"
    # Where Envoy reads the device web app's files (services/edge/webapp.py).
    # None: this checkout's web/dist on a local edge, no app on a k8s one.
    webapp_dir: Path | None = None
    # Where the L2 cache keeps its entries; None: a folder per edge port under
    # the system's temporary directory.
    cache_dir: Path | None = None
    # The L2 cache's bounds: least recently used entries go first.
    cache_max_bytes: int = 256 << 20
    cache_max_entries: int = 100_000
    # A larger answer is passed on, not kept.
    cache_max_entry_bytes: int = 1 << 20

    def upstream(self, spec: ServiceSpec) -> str:
        if spec.name in self.upstreams:
            return self.upstreams[spec.name]
        if self.target == "k8s":
            return f"{spec.name}:{spec.grpc_port}"
        return spec.address()

    def cache_path(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return Path(tempfile.gettempdir()) / f"streammesh-edge-cache-{self.port}"


def render(config: EdgeConfig) -> JsonDict:
    """The complete Envoy bootstrap for ``config``, as a JSON-able dict."""
    routes = device_routes(config.contracts_descriptor_set)
    clusters = [_service_cluster(spec.name, config.upstream(spec)) for spec in SERVICES]
    clusters.append(_service_cluster("edge_reflection", config.reflection_upstream))
    clusters.append(_plain_cluster("edge_self", f"127.0.0.1:{config.port}", http2=False))
    clusters.append(_plain_cluster("media_origin", config.media_upstream, http2=False))
    clusters.append(_inner_cluster())
    if config.otlp_collector:
        clusters.append(_plain_cluster("otel_collector", config.otlp_collector, http2=True))
    return {
        "admin": {"address": _address("127.0.0.1", config.admin_port)},
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": {
                    "@type": TYPE
                    + "envoy.extensions.bootstrap.internal_listener.v3.InternalListener"
                },
            }
        ],
        "static_resources": {
            "listeners": [_front_listener(config), _inner_listener(config, routes)],
            "clusters": clusters,
        },
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    "static_layer": {"overload": {"global_downstream_max_connections": 10000}},
                }
            ]
        },
    }


def _address(host: str, port: int) -> JsonDict:
    return {"socket_address": {"address": host, "port_value": port}}


def _split(host_port: str) -> tuple[str, int]:
    host, _, port = host_port.rpartition(":")
    return host, int(port)


def _endpoints(name: str, host_port: str) -> JsonDict:
    host, port = _split(host_port)
    return {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
    }


def _http2_options() -> JsonDict:
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": TYPE + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }


def _plain_cluster(name: str, host_port: str, *, http2: bool) -> JsonDict:
    cluster: JsonDict = {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "load_assignment": _endpoints(name, host_port),
    }
    if http2:
        cluster["typed_extension_protocol_options"] = _http2_options()
    return cluster


def _service_cluster(name: str, host_port: str) -> JsonDict:
    cluster = _plain_cluster(name, host_port, http2=True)
    cluster.update(
        {
            # Several processes of a service may share its address (SO_REUSEPORT);
            # in Kubernetes the Service name resolves to the pods behind it.
            "lb_policy": "ROUND_ROBIN",
            "health_checks": [
                {
                    "timeout": "1s",
                    "interval": "5s",
                    "no_traffic_interval": "5s",
                    "unhealthy_threshold": 2,
                    "healthy_threshold": 1,
                    "grpc_health_check": {},
                }
            ],
            "outlier_detection": {
                "consecutive_5xx": 5,
                "consecutive_gateway_failure": 5,
                "interval": "5s",
                "base_ejection_time": "10s",
                "max_ejection_percent": 50,
            },
            "circuit_breakers": {
                "thresholds": [
                    {
                        "max_connections": 1024,
                        "max_pending_requests": 1024,
                        "max_requests": 4096,
                        "max_retries": 64,
                    }
                ]
            },
        }
    )
    return cluster


def listener_manager(bootstrap: JsonDict, listener: str = INNER_LISTENER) -> JsonDict:
    """The HTTP connection manager of a rendered listener (``edge`` or ``edge_inner``)."""
    for found in bootstrap["static_resources"]["listeners"]:
        if found["name"] == listener:
            manager: JsonDict = found["filter_chains"][0]["filters"][0]["typed_config"]
            return manager
    raise KeyError(f"no listener {listener!r}")


def _manager(stat_prefix: str, config: EdgeConfig, **fields: Any) -> JsonDict:
    """An HTTP connection manager with what both listeners share."""
    return {
        "@type": TYPE
        + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "codec_type": "AUTO",
        "stream_idle_timeout": "300s",
        "request_timeout": "60s",
        "common_http_protocol_options": {"idle_timeout": "300s", "max_headers_count": 100},
        "local_reply_config": _local_reply_config(config),
        **fields,
    }


def _router() -> JsonDict:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.router.v3.Router"},
    }


def _http_chain(manager: JsonDict) -> list[JsonDict]:
    return [
        {
            "filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
            ]
        }
    ]


def _front_listener(config: EdgeConfig) -> JsonDict:
    """The device-facing listener: CORS, rate limit, the L2 cache, then the inner listener."""
    manager = _manager(
        "edge",
        config,
        generate_request_id=True,
        use_remote_address=True,
        route_config={
            "name": "front",
            "virtual_hosts": [
                {
                    "name": "front",
                    "domains": ["*"],
                    # The inner listener bounds every route with its own timeout
                    # (gRPC reflection streams by the idle timeout), so none here.
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {"cluster": INNER_LISTENER, "timeout": "0s"},
                        }
                    ],
                    "typed_per_filter_config": {"envoy.filters.http.cors": _cors_policy(config)},
                }
            ],
        },
        http_filters=[
            _cors_filter(),
            _rate_limit_filter(config),
            _cache_filter(config),
            _router(),
        ],
    )
    return {
        "name": "edge",
        "address": _address(config.listen_host, config.port),
        "per_connection_buffer_limit_bytes": 1 << 20,
        "filter_chains": _http_chain(manager),
    }


def _inner_listener(config: EdgeConfig, routes: tuple[DeviceRoute, ...]) -> JsonDict:
    """Transcoding, token checks and the routes to the services; only ``edge`` reaches it."""
    manager = _manager(
        "edge_inner",
        config,
        # x-forwarded-for and x-request-id come from the front listener, which
        # appended the device's address and made the id.
        access_log=[_access_log()],
        route_config=_route_config(config, routes),
        http_filters=[_transcoder_filter(config), _jwt_filter(config, routes), _router()],
    )
    if config.otlp_collector:
        manager["tracing"] = {
            "provider": {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": {
                    "@type": TYPE + "envoy.config.trace.v3.OpenTelemetryConfig",
                    "grpc_service": {
                        "envoy_grpc": {"cluster_name": "otel_collector"},
                        "timeout": "0.25s",
                    },
                    "service_name": "streammesh-edge",
                },
            },
            "random_sampling": {"value": 100},
        }
    return {
        "name": INNER_LISTENER,
        "internal_listener": {},
        "per_connection_buffer_limit_bytes": 1 << 20,
        "filter_chains": _http_chain(manager),
    }


def _inner_cluster() -> JsonDict:
    """The front listener's way to the inner one: in process, over HTTP/2 (gRPC needs it)."""
    return {
        "name": INNER_LISTENER,
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": INNER_LISTENER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "envoy_internal_address": {
                                        "server_listener_name": INNER_LISTENER
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.internal_upstream",
            "typed_config": {
                "@type": TYPE + "envoy.extensions.transport_sockets.internal_upstream.v3."
                "InternalUpstreamTransport",
                "transport_socket": {
                    "name": "envoy.transport_sockets.raw_buffer",
                    "typed_config": {
                        "@type": TYPE + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
                    },
                },
            },
        },
        "typed_extension_protocol_options": _http2_options(),
    }


def _access_log() -> JsonDict:
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {
                "json_format": {
                    "time": "%START_TIME%",
                    "level": "INFO",
                    "logger": "edge.access",
                    # The device's path; after transcoding :method is POST and
                    # :path the RPC, which "rpc" records.
                    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "rpc": "%REQ(:PATH)%",
                    "status": "%RESPONSE_CODE%",
                    "grpc_status": "%GRPC_STATUS%",
                    "details": "%RESPONSE_CODE_DETAILS%",
                    "duration_ms": "%DURATION%",
                    "upstream": "%UPSTREAM_CLUSTER%",
                    "peer": "%DOWNSTREAM_REMOTE_ADDRESS%",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "traceparent": "%REQ(TRACEPARENT)%",
                    "trace_id": "%TRACE_ID%",
                }
            },
        },
    }


def _local_reply_config(config: EdgeConfig) -> JsonDict:
    # The app's files are direct responses, local replies too: keep their bodies.
    mappers = webapp.local_reply_mappers(config.target, config.webapp_dir)
    for status, (code, message) in _LOCAL_REPLY_CODES.items():
        mappers.append(
            {
                "filter": {
                    "status_code_filter": {
                        "comparison": {
                            "op": "EQ",
                            "value": {
                                "default_value": status,
                                "runtime_key": f"edge.reply_{status}",
                            },
                        }
                    }
                },
                "body_format_override": _status_body(code, message),
            }
        )
    return {"mappers": mappers, "body_format": _status_body(2, "error")}


def _status_body(code: int, message: str) -> JsonDict:
    return {
        "json_format": {
            "code": code,
            "message": f"{message} (%RESPONSE_CODE_DETAILS%)",
            "details": [],
        },
        "content_type": "application/json",
    }


def _route_config(config: EdgeConfig, routes: tuple[DeviceRoute, ...]) -> JsonDict:
    app_routes = webapp.edge_routes(config.target, config.webapp_dir)
    entries = [_media_route(), *app_routes, *(_route(config, route) for route in routes)]
    for version in ("v1", "v1alpha"):
        entries.append(
            {
                "match": {"prefix": f"/grpc.reflection.{version}.ServerReflection/"},
                "route": {"cluster": "edge_reflection", "timeout": "0s"},
            }
        )
    # REST requests are matched before transcoding too (the transcoder reads
    # its per-route settings: off on /media/). This catch-all gives them a
    # route; after transcoding they match their RPC's route above, and a
    # path no RPC claims is answered 404 by the transcoder, so the catch-all's
    # cluster is never called. gRPC calls to unrouted methods (INTERNAL RPCs)
    # match nothing and get UNIMPLEMENTED.
    entries.append(
        {
            "name": "rest_catch_all",
            "match": {
                "prefix": "/",
                "headers": [
                    {
                        "name": "content-type",
                        "string_match": {"prefix": "application/grpc"},
                        "invert_match": True,
                        # Preflights and GETs carry no content-type at all.
                        "treat_missing_header_as_empty": True,
                    }
                ],
            },
            "route": {"cluster": "edge_reflection", "timeout": "1s"},
        }
    )
    route_config: JsonDict = {
        "name": "mesh",
        "virtual_hosts": [
            {
                "name": "mesh",
                "domains": ["*"],
                "routes": entries,
            }
        ],
    }
    if app_routes:
        route_config["max_direct_response_body_size_bytes"] = webapp.MAX_ASSET_BYTES
    return route_config


def _route(config: EdgeConfig, route: DeviceRoute) -> JsonDict:
    timeout = config.read_timeout_seconds if route.read_only else config.write_timeout_seconds
    action: JsonDict = {"cluster": route.service.name, "timeout": f"{timeout}s"}
    if route.read_only and config.read_retries > 0:
        action["retry_policy"] = {
            # gRPC-aware conditions: only failures where the call surely had no effect,
            # or read-only calls (which are all that get this policy).
            "retry_on": "connect-failure,refused-stream,unavailable,reset",
            "num_retries": config.read_retries,
            "per_try_timeout": f"{timeout / (config.read_retries + 1):.3f}s",
            "retry_back_off": {"base_interval": "0.025s", "max_interval": "0.25s"},
        }
    return {
        "name": route.rpc,
        "match": {"path": route.grpc_path},
        "route": action,
        "response_headers_to_add": response_headers(route),
    }


def _media_route() -> JsonDict:
    """GET /media/...: artwork from the media origin, which answers 404 for
    anything unpublished; the front listener's cache keeps each image for
    its Cache-Control max-age (1 h). Not a gRPC path: no transcoding."""
    return {
        "name": "media",
        "match": {
            "prefix": "/media/",
            "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
        },
        "route": {
            "cluster": "media_origin",
            "timeout": "5s",
            "retry_policy": {"retry_on": "connect-failure,reset", "num_retries": 1},
        },
        "typed_per_filter_config": {
            "envoy.filters.http.grpc_json_transcoder": {
                "@type": TYPE + "envoy.config.route.v3.FilterConfig",
                "disabled": True,
            },
        },
    }


def _cache_filter(config: EdgeConfig) -> JsonDict:
    """L2: Envoy's HTTP cache on disk, bounded in bytes and entries (LRU).

    The v2 filter: the first one logs a warning for every insert into a file
    system cache ("InsertContext destroyed prematurely") though the entry is
    kept. Both are marked work in progress by Envoy; the v2 filter is where
    its development goes. services/edge/envoy.py makes the cache's folder.
    """
    return {
        "name": "envoy.filters.http.cache_v2",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.http.cache_v2.v3.CacheV2Config",
            "typed_config": {
                "@type": TYPE + "envoy.extensions.http.cache_v2.file_system_http_cache.v3."
                "FileSystemHttpCacheV2Config",
                "manager_config": {"thread_pool": {"thread_count": 1}},
                "cache_path": str(config.cache_path()),
                "max_cache_size_bytes": config.cache_max_bytes,
                "max_cache_entry_count": config.cache_max_entries,
                "max_individual_cache_entry_size_bytes": config.cache_max_entry_bytes,
            },
        },
    }


def _cors_policy(config: EdgeConfig) -> JsonDict:
    return {
        "@type": TYPE + "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [
            {"safe_regex": {"regex": regex}} for regex in config.cors_origin_regexes
        ],
        "allow_methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "allow_headers": "authorization, content-type, x-request-id, traceparent, "
        "tracestate, x-grpc-web, grpc-timeout",
        "expose_headers": "grpc-status, grpc-message, x-request-id, age, etag",
        "max_age": "600",
    }


def _cors_filter() -> JsonDict:
    return {
        "name": "envoy.filters.http.cors",
        "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.cors.v3.Cors"},
    }


def _rate_limit_filter(config: EdgeConfig) -> JsonDict:
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "edge_rate_limit",
            "token_bucket": {
                "max_tokens": config.rate_limit_per_second * 2,
                "tokens_per_fill": config.rate_limit_per_second,
                "fill_interval": "1s",
            },
            "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "filter_enforced": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "response_headers_to_add": [
                {
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    "header": {"key": "retry-after", "value": "1"},
                }
            ],
        },
    }


def _transcoder_filter(config: EdgeConfig) -> JsonDict:
    return {
        "name": "envoy.filters.http.grpc_json_transcoder",
        "typed_config": {
            "@type": TYPE
            + "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": str(config.descriptor_set),
            "services": [spec.grpc_service for spec in SERVICES],
            "print_options": {
                "add_whitespace": False,
                "always_print_primitive_fields": False,
                "always_print_enums_as_ints": False,
                "preserve_proto_field_names": False,
            },
            "convert_grpc_status": True,
            # A form or URLSearchParams encodes a space in a query value as "+"
            # (application/x-www-form-urlencoded); without this "genre=TV+Dramas"
            # would reach the service as "TV+Dramas".
            "query_param_unescape_plus": True,
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
                "reject_binding_body_field_collisions": True,
            },
            "max_request_body_size": 1 << 20,
            "max_response_body_size": 4 << 20,
        },
    }


def _jwt_filter(config: EdgeConfig, routes: tuple[DeviceRoute, ...]) -> JsonDict:
    provider = "streammesh"
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                provider: {
                    "issuer": config.jwt_issuer,
                    "forward": True,
                    "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                    "remote_jwks": {
                        # The users service publishes its keys through this very edge
                        # (GetJwks is transcoded at /.well-known/jwks.json).
                        "http_uri": {
                            "uri": f"http://127.0.0.1:{config.port}/.well-known/jwks.json",
                            "cluster": "edge_self",
                            "timeout": "2s",
                        },
                        "cache_duration": "300s",
                        # fast_listener: the keys are fetched through this very
                        # listener, so it must not wait for them to open.
                        "async_fetch": {"fast_listener": True, "failed_refetch_duration": "2s"},
                        "retry_policy": {"num_retries": 3},
                    },
                }
            },
            "rules": [
                {"match": {"path": route.grpc_path}, "requires": {"provider_name": provider}}
                for route in routes
                if route.requires_token
            ],
        },
    }
