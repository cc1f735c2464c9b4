"""Channels to other services, with the client interceptor chain.

``channel("users", config)`` reaches the users service at
``STREAMMESH_USERS_ADDR`` (default ``127.0.0.1:50051`` from
services/registry.py); any other string is taken as a gRPC target
(``host:port``, ``dns:///name:port``). Every channel gets the client chain of
interceptors/chain.py (tracing, metrics, deadlines, retries) with the retry
budget of its target, shared by all channels to that target in the process,
plus keepalive and message-size limits matching the servers'.

Create a channel once per process and target (at startup, next to the stub),
and close it at shutdown (``runtime.add_shutdown_hook(server, channel.close)``);
a channel is a connection pool, not a per-call object.
"""

from __future__ import annotations

import json

import grpc.aio

from interceptors.chain import client_interceptors
from services import registry
from services.runtime.config import ServerConfig


def resolve(service_name_or_target: str) -> str:
    """A registered service name becomes its address; a target stays as it is."""
    try:
        return registry.service(service_name_or_target).address()
    except KeyError:
        return service_name_or_target


# Spread calls over every address the name resolves to (a Kubernetes headless
# Service: one per ready pod) instead of gRPC's default of sticking to the first.
_ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel_options(config: ServerConfig) -> list[tuple[str, int | str]]:
    """Client channel arguments; keepalive stays above the servers' minimum ping interval."""
    return [
        ("grpc.service_config", _ROUND_ROBIN),
        ("grpc.keepalive_time_ms", int(config.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Keep pinging an idle connection (the default stops after 2 pings).
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", config.max_receive_message_bytes),
        ("grpc.max_send_message_length", config.max_send_message_bytes),
    ]


def channel(service_name_or_target: str, config: ServerConfig) -> grpc.aio.Channel:
    """An insecure (mesh-internal, loopback or cluster network) channel with the client chain."""
    target = resolve(service_name_or_target)
    return grpc.aio.insecure_channel(
        target,
        options=channel_options(config),
        interceptors=client_interceptors(config, target),
    )
