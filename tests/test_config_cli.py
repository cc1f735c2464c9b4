"""``streammesh config``, run as a user would: what it shows, and what it never shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Bound on one run of the command (imports every config module).
RUN_TIMEOUT_SECONDS = 60.0
PASSWORD = "pa55-not-for-stdout"


def _streammesh(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs the installed ``streammesh`` script (the venv's), with only the given settings."""
    script = Path(sys.executable).parent / "streammesh"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMESH_")}
    env.update(environ)
    return subprocess.run(
        [*command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def _rows(document: dict[str, Any], service: str) -> dict[str, dict[str, Any]]:
    return {row["setting"]: row for row in document[service]}


def test_json_masks_the_database_password_and_keeps_the_host() -> None:
    url = f"mysql+aiomysql://users:{PASSWORD}@db.example.internal:3306/users"
    done = _streammesh(
        "config",
        "users",
        "--json",
        environ={"STREAMMESH_USERS_DATABASE_URL": url, "STREAMMESH_PORT": "6001"},
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout
    assert "db.example.internal" in done.stdout
    document = json.loads(done.stdout)
    assert list(document) == ["users"]
    rows = _rows(document, "users")
    database = rows["database_url"]
    assert database["value"] == "mysql+aiomysql://users:***@db.example.internal:3306/users"
    assert (database["variable"], database["source"], database["secret"]) == (
        "STREAMMESH_USERS_DATABASE_URL",
        "service variable",
        True,
    )
    port = rows["server.port"]
    assert (port["variable"], port["value"], port["source"]) == (
        "STREAMMESH_PORT",
        6001,
        "mesh variable",
    )
    assert (rows["server.metrics_port"]["value"], rows["server.metrics_port"]["source"]) == (
        9101,
        "default",
    )
    assert rows["passwords.time_cost"]["variable"] == "STREAMMESH_USERS_ARGON2_TIME_COST"
    assert rows["trusted_proxies"]["value"] == ["127.0.0.1", "::1"]


def test_the_table_of_every_config_masks_redis_passwords() -> None:
    done = _streammesh(
        "config", environ={"STREAMMESH_REDIS_URL": f"redis://:{PASSWORD}@redis.internal:6379/0"}
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout
    for name in ("users", "catalog", "browse", "events"):
        assert f"\n{name}  (" in f"\n{done.stdout}", name
    assert "redis://:***@redis.internal:6379/0" in done.stdout
    assert "STREAMMESH_CATALOG_CASSANDRA_CONTACT_POINTS" in done.stdout


def test_a_malformed_variable_fails_naming_it() -> None:
    done = _streammesh("config", "catalog", environ={"STREAMMESH_CATALOG_PORT": "fifty"})
    assert done.returncode == 1
    assert "STREAMMESH_CATALOG_PORT='fifty'" in done.stderr
