"""Server and client settings shared by every service, read from the environment.

Every setting ``X`` of a service ``svc`` is read from ``STREAMMESH_SVC_X`` first
(so one environment can hold the settings of the whole mesh, as ``streammesh
up`` passes it to every process), then from ``STREAMMESH_X`` (one service per
pod in Kubernetes), then falls back to the default below. For example the users
service reads its port from ``STREAMMESH_USERS_PORT``, then ``STREAMMESH_PORT``,
then 50051 from ``services/registry.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services import registry
from services.runtime import settings
from services.runtime.settings import Context, derived, nested, setting

# A service that is not in the registry (the diagnostic echo service, a test
# server) binds these unless told otherwise.
FALLBACK_PORT = 50050
FALLBACK_METRICS_PORT = 9100


def _registry_ports(context: Context) -> tuple[int, int]:
    """(gRPC, metrics) port of the service in services/registry.py, or the fallbacks."""
    try:
        spec = registry.service(context.service or "")
    except KeyError:
        return FALLBACK_PORT, FALLBACK_METRICS_PORT
    return spec.grpc_port, spec.metrics_port


@dataclass(frozen=True)
class RetryPolicy:
    """How clients retry the RPCs their contract declares safe to repeat.

    Only methods with ``idempotency_level`` NO_SIDE_EFFECTS or IDEMPOTENT are
    retried, and only on UNAVAILABLE, an attempt's DEADLINE_EXCEEDED, or
    RESOURCE_EXHAUSTED carrying ``grpc-retry-pushback-ms``. The budget follows
    gRFC A6 retry throttling: per target, a token bucket of ``budget_max_tokens``
    loses 1 per retryable failure and gains ``budget_token_ratio`` per success;
    retries stop while it holds half or less, so a failing backend sees at most
    about ``1 + budget_max_tokens / 2`` extra attempts before retries pause.

    Environment: ``STREAMMESH_[<SVC>_]RETRY_<FIELD>`` (nested under ``RETRY_``).
    """

    # Total attempts per call, the first included (gRFC A6 caps it at 5).
    max_attempts: int = 3
    # Backoff before retry n is uniform in [0, min(initial * multiplier**(n-1), max)]
    # ("full jitter"), so retries of many callers do not synchronise.
    initial_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 1.0
    backoff_multiplier: float = 2.0
    # Deadline of one attempt; None lets an attempt use the whole remaining
    # deadline (then DEADLINE_EXCEEDED is final, never retried).
    per_attempt_timeout_seconds: float | None = None
    # Retry throttling per target (gRFC A6): the token bucket's size and what
    # a success gives back (see above).
    budget_max_tokens: float = 10.0
    budget_token_ratio: float = 0.1
    # A server's pushback longer than this is treated as "do not retry".
    max_pushback_seconds: float = 5.0


@dataclass(frozen=True)
class ServerConfig:
    """What one service process needs to serve gRPC and call other services."""

    # Short service name as in services/registry.py ("users"); labels metrics,
    # logs, the tracing resource and the ErrorInfo domain ("streammesh.users").
    service: str = field(metadata=derived(lambda context: context.service))
    # Address to bind. Loopback by default; containers set STREAMMESH_HOST=0.0.0.0.
    host: str = "127.0.0.1"
    # gRPC port; 0 binds an ephemeral port (tests), create_server returns it.
    # From the environment it defaults to the service's row of services/registry.py.
    port: int = field(
        default=FALLBACK_PORT, metadata=setting(default_from=lambda c: _registry_ports(c)[0])
    )
    # Prometheus /metrics HTTP port; 0 turns the endpoint off (tests read the
    # registry in-process instead). From the environment: the registry's row.
    metrics_port: int = field(
        default=0, metadata=setting(default_from=lambda c: _registry_ports(c)[1])
    )
    # After SIGTERM: health reports NOT_SERVING, then the server waits
    # ``shutdown_drain_seconds`` so load balancers see it, then stops accepting
    # calls and gives in-flight calls ``shutdown_grace_seconds`` to finish.
    shutdown_grace_seconds: float = 10.0
    shutdown_drain_seconds: float = 0.0
    # HTTP/2 keepalive pings on idle connections, so dead peers (a killed pod,
    # a dropped NAT entry) are noticed within time + timeout instead of at the
    # next call. The server accepts client pings at most every
    # ``keepalive_min_ping_interval_seconds``, which must stay below
    # ``keepalive_time_seconds`` or it answers pings with GOAWAY.
    keepalive_time_seconds: float = 30.0
    keepalive_timeout_seconds: float = 10.0
    keepalive_min_ping_interval_seconds: float = 10.0
    # Message size limits in both directions: 4 MiB is gRPC's default receive
    # limit; stating it keeps send and receive symmetric and visible.
    max_receive_message_bytes: int = 4 * 1024 * 1024
    max_send_message_bytes: int = 4 * 1024 * 1024
    # Calls beyond this many in flight are refused with RESOURCE_EXHAUSTED
    # instead of queueing without bound.
    max_concurrent_rpcs: int = 1000
    # Deadline of outgoing calls made outside any incoming call's deadline.
    default_deadline_seconds: float = 5.0
    # Outgoing calls made while serving a call get the incoming deadline less
    # this margin, so our answer (or error) still reaches our caller in time.
    deadline_margin_seconds: float = 0.02
    # Worker processes sharing the port with SO_REUSEPORT (one per core).
    processes: int = 1
    # L1, the near cache in front of every Redis cache of the process
    # (services/runtime/near_cache.py): its bound in bytes (the case study's
    # 100 MB; 0 turns L1 off) and the age at which an entry goes regardless.
    near_cache_max_bytes: int = 100 * 1024 * 1024
    near_cache_ttl_seconds: float = 60.0
    # Python logging level name, any case.
    log_level: str = field(default="INFO", metadata=setting(parse=str.upper))
    # One JSON line per served RPC (health checks excluded).
    access_log: bool = True
    # How outgoing calls are retried; STREAMMESH_[<SVC>_]RETRY_<FIELD>.
    retry: RetryPolicy = field(default_factory=RetryPolicy, metadata=nested("RETRY_"))

    @property
    def address(self) -> str:
        """``host:port`` as given to ``add_insecure_port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] = os.environ) -> ServerConfig:
        """Reads ``STREAMMESH_<SERVICE>_<X>`` then ``STREAMMESH_<X>`` for each field.

        Ports default to the service's row in ``services/registry.py``.
        A malformed value raises ValueError naming the variable.
        """
        return settings.from_env(cls, service, environ)
