"""ServerConfig from the environment: per-service, then mesh-wide, then defaults."""

from __future__ import annotations

import pytest

from services.runtime.config import FALLBACK_PORT, ServerConfig


def test_defaults_come_from_the_registry() -> None:
    config = ServerConfig.from_env("users", environ={})
    assert (config.port, config.metrics_port) == (50051, 9101)
    assert config.host == "127.0.0.1"
    assert config.address == "127.0.0.1:50051"


def test_service_specific_variable_beats_the_mesh_wide_one() -> None:
    environ = {
        "STREAMMESH_USERS_PORT": "0",
        "STREAMMESH_PORT": "6000",
        "STREAMMESH_LOG_LEVEL": "debug",
        "STREAMMESH_SHUTDOWN_GRACE_SECONDS": "2.5",
        "STREAMMESH_CATALOG_PROCESSES": "2",
        "STREAMMESH_RETRY_MAX_ATTEMPTS": "4",
        "STREAMMESH_ACCESS_LOG": "off",
    }
    users = ServerConfig.from_env("users", environ=environ)
    assert users.port == 0
    assert users.log_level == "DEBUG"
    assert users.shutdown_grace_seconds == 2.5
    assert users.processes == 1
    assert users.retry.max_attempts == 4
    assert users.access_log is False
    assert ServerConfig.from_env("catalog", environ=environ).processes == 2
    assert ServerConfig.from_env("catalog", environ=environ).port == 6000


def test_unknown_service_uses_the_fallback_port() -> None:
    assert ServerConfig.from_env("echo", environ={}).port == FALLBACK_PORT


@pytest.mark.parametrize(
    ("variable", "value"),
    [("STREAMMESH_USERS_PORT", "fifty"), ("STREAMMESH_ACCESS_LOG", "maybe")],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        ServerConfig.from_env("users", environ={variable: value})


def test_ipv6_host_is_bracketed() -> None:
    config = ServerConfig.from_env("users", environ={"STREAMMESH_HOST": "::1"})
    assert config.address == "[::1]:50051"
