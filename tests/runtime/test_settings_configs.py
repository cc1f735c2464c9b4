"""Every field of every service's config can be set from the environment.

The configs are discovered: the services of services/registry.py that have a
``config`` module, plus the events backbone's EventsConfig (mesh-wide
variables only) and the echo service's. Each declared setting, nested ones
included, is set to a value other than its default and must come back bound.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import importlib.util
import typing
from pathlib import Path
from typing import Any

import pytest

from devtools.echo.config import Config as EchoConfig
from services import registry
from services.events.config import EventsConfig
from services.runtime import settings
from services.runtime.settings import Declared


@dataclasses.dataclass(frozen=True)
class Subject:
    name: str
    cls: type[Any]
    service: str | None

    def variable(self, declared: Declared) -> str:
        """The most specific variable of a setting: the service's own when there is one."""
        return declared.variables(self.service)[0]


def _discover() -> list[Subject]:
    found = []
    for spec in registry.SERVICES:
        module = f"{spec.package}.config"
        try:
            present = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            present = False
        if present:
            found.append(Subject(spec.name, importlib.import_module(module).Config, spec.name))
    found.append(Subject("events", EventsConfig, None))
    found.append(Subject("echo", EchoConfig, "echo"))
    return found


SUBJECTS = _discover()
BY_NAME = {subject.name: subject for subject in SUBJECTS}


def test_discovery_finds_the_services_configs() -> None:
    assert {"users", "catalog", "browse", "events", "echo"} <= set(BY_NAME)


# Settings the config checks, by variable name: (raw, bound) pairs, the
# first for the service's variable, the second for the mesh-wide one.
_CHECKED: dict[str, tuple[tuple[str, Any], tuple[str, Any]]] = {
    "LOG_LEVEL": (("debug", "DEBUG"), ("warning", "WARNING")),
    "CASSANDRA_CONSISTENCY": (("quorum", "QUORUM"), ("all", "ALL")),
    "CASSANDRA_KEYSPACE": (("ks_service", "ks_service"), ("ks_mesh", "ks_mesh")),
}


def _value(declared: Declared, default: Any, variant: int) -> tuple[str, Any]:
    """(raw, bound) for a setting: variant 0 differs from the default, 1 from variant 0."""
    if declared.name in _CHECKED:
        return _CHECKED[declared.name][variant]
    if declared.name == "BACKEND":
        other = "real" if default == "embedded" else "embedded"
        chosen = other if variant == 0 else default
        return chosen, chosen
    annotation = declared.annotation
    if typing.get_origin(annotation) in (typing.Union, type(int | None)):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is bool:
        value = (not default) if variant == 0 else default
        return ("true" if value else "false"), value
    if annotation is int:
        number = default + 7 + variant
        return str(number), number
    if annotation is float:
        real = (default or 0.0) + 1.5 + variant
        return str(real), real
    suffix = f"{declared.name.lower()}-{variant}"
    if annotation is str:
        return f"value-{suffix}", f"value-{suffix}"
    if annotation is Path:
        return f"/srv/{suffix}", Path(f"/srv/{suffix}")
    if annotation == tuple[str, ...]:
        return f"a-{suffix}, b-{suffix}", (f"a-{suffix}", f"b-{suffix}")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        members = [m for m in annotation if m != default]
        member = members[0] if variant == 0 else default
        return str(member.value), member
    raise AssertionError(f"{declared.path}: no sample value for {annotation!r}")


def _get(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config


def _defaults(subject: Subject) -> dict[str, Any]:
    bound = settings.from_env(subject.cls, subject.service, {})
    return {d.path: _get(bound, d.path) for d in settings.walk(subject.cls)}


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.name)
def test_every_setting_can_be_set_from_the_environment(subject: Subject) -> None:
    defaults = _defaults(subject)
    declared = list(settings.walk(subject.cls))
    assert declared
    environ, expected = {}, {}
    for item in declared:
        raw, bound = _value(item, defaults[item.path], variant=0)
        assert bound != defaults[item.path], item.path
        environ[subject.variable(item)] = raw
        expected[item.path] = bound
    config = settings.from_env(subject.cls, subject.service, environ)
    assert {path: _get(config, path) for path in expected} == expected
    # ... and through the class's own entry point, as the services call it.
    own = subject.cls.from_env(environ=environ)
    assert {path: _get(own, path) for path in expected} == expected


@pytest.mark.parametrize("subject", [s for s in SUBJECTS if s.service], ids=lambda s: s.name)
def test_the_service_variable_beats_the_mesh_wide_one(subject: Subject) -> None:
    defaults = _defaults(subject)
    service_only, mesh_only, both = {}, {}, {}
    expected_service, expected_mesh = {}, {}
    for item in settings.walk(subject.cls):
        service_variable, mesh_variable = item.variables(subject.service)
        raw_service, bound_service = _value(item, defaults[item.path], variant=0)
        raw_mesh, bound_mesh = _value(item, defaults[item.path], variant=1)
        assert bound_service != bound_mesh, item.path
        service_only[service_variable] = raw_service
        mesh_only[mesh_variable] = raw_mesh
        both[service_variable], both[mesh_variable] = raw_service, raw_mesh
        expected_service[item.path], expected_mesh[item.path] = bound_service, bound_mesh
    for environ, expected in ((both, expected_service), (mesh_only, expected_mesh)):
        config = settings.from_env(subject.cls, subject.service, environ)
        assert {path: _get(config, path) for path in expected} == expected


def _malformed(subject: Subject) -> list[tuple[str, str]]:
    """(variable, value) pairs no parser accepts: numbers, booleans, checked names."""
    cases = []
    for item in settings.walk(subject.cls):
        annotation = item.annotation
        if typing.get_origin(annotation) in (typing.Union, type(int | None)):
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        if annotation in (int, float, bool) or item.name in ("BACKEND", "CASSANDRA_CONSISTENCY"):
            cases.append((subject.variable(item), "not-a-value"))
    return cases


@pytest.mark.parametrize(
    ("subject", "variable", "value"),
    [(s, variable, value) for s in SUBJECTS for variable, value in _malformed(s)],
    ids=lambda v: v.name if isinstance(v, Subject) else str(v),
)
def test_a_malformed_value_names_its_variable(subject: Subject, variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{variable}='{value}'"):
        settings.from_env(subject.cls, subject.service, {variable: value})


def test_a_malformed_backends_choice_names_its_variable() -> None:
    for subject in (BY_NAME["users"], BY_NAME["catalog"], BY_NAME["events"]):
        with pytest.raises(
            ValueError, match=r"^STREAMMESH_BACKENDS='cloud': expected embedded or real"
        ):
            settings.from_env(subject.cls, subject.service, {"STREAMMESH_BACKENDS": "cloud"})


def _secrets() -> dict[tuple[str, str], bool]:
    return {
        (subject.name, item.path): item.setting.secret
        for subject in SUBJECTS
        for item in settings.walk(subject.cls)
    }


def test_secrets_are_declared() -> None:
    secret = _secrets()
    for where in (
        ("users", "database_url"),
        ("users", "redis_url"),
        ("catalog", "redis_url"),
        ("events", "redis_url"),
    ):
        assert secret[where], where
    # Every URL may carry a password; a path to key material is not itself a secret.
    for (name, path), is_secret in secret.items():
        if path.endswith("_url"):
            assert is_secret, (name, path)
        if path.endswith(("_dir", "_path")):
            assert not is_secret, (name, path)
    assert not secret[("users", "key_dir")]


# The variables each config read before its fields were declared (and that the
# manifests of k8s/ set): their names must not change.
_NAMES_BEFORE = {
    "server": (
        "HOST PORT METRICS_PORT SHUTDOWN_GRACE_SECONDS SHUTDOWN_DRAIN_SECONDS "
        "KEEPALIVE_TIME_SECONDS KEEPALIVE_TIMEOUT_SECONDS MAX_RECEIVE_MESSAGE_BYTES "
        "MAX_SEND_MESSAGE_BYTES MAX_CONCURRENT_RPCS DEFAULT_DEADLINE_SECONDS "
        "DEADLINE_MARGIN_SECONDS PROCESSES LOG_LEVEL ACCESS_LOG RETRY_MAX_ATTEMPTS "
        "RETRY_INITIAL_BACKOFF_SECONDS RETRY_MAX_BACKOFF_SECONDS RETRY_BACKOFF_MULTIPLIER "
        "RETRY_PER_ATTEMPT_TIMEOUT_SECONDS RETRY_BUDGET_MAX_TOKENS RETRY_BUDGET_TOKEN_RATIO"
    ),
    "users": (
        "DATA_DIR DATABASE_URL REDIS_URL REDIS_PREFIX KEY_DIR TOKEN_ISSUER TOKEN_TTL_SECONDS "
        "CACHE_TTL_SECONDS MIGRATE_ON_START TRUSTED_PROXIES ARGON2_TIME_COST ARGON2_MEMORY_KIB "
        "ARGON2_PARALLELISM KDF_WORKERS KDF_MAX_PENDING LOGIN_ACCOUNT_FAILURES "
        "LOGIN_ADDRESS_FAILURES LOGIN_WINDOW_SECONDS"
    ),
    "catalog": (
        "BACKEND SQLITE_PATH CASSANDRA_KEYSPACE CASSANDRA_CONTACT_POINTS CASSANDRA_PORT "
        "CASSANDRA_CONSISTENCY CASSANDRA_REPLICATION_FACTOR CASSANDRA_MAX_IN_FLIGHT REDIS_URL "
        "REDIS_PREFIX CACHE_TTL_SECONDS MIGRATE_ON_START SEED_CATALOG IMPORT_CONCURRENCY"
    ),
    "browse": "CARDS_PER_ROW GENRES ROW_TIMEOUT_SECONDS PROFILE_TIMEOUT_SECONDS",
    "events": "REDIS_URL EVENTS_PREFIX",
    "echo": "FORWARD_TO",
}


@pytest.mark.parametrize("name", ["users", "catalog", "browse", "events", "echo"])
def test_the_variable_names_of_before_are_kept(name: str) -> None:
    subject = BY_NAME[name]
    declared = {item.name for item in settings.walk(subject.cls)}
    expected = set(_NAMES_BEFORE[name].split())
    if subject.service is not None:
        expected |= set(_NAMES_BEFORE["server"].split())
    assert expected <= declared, sorted(expected - declared)


def test_irregular_names_are_bound_to_their_fields() -> None:
    users = {item.name: item.path for item in settings.walk(BY_NAME["users"].cls)}
    assert users["ARGON2_TIME_COST"] == "passwords.time_cost"
    assert users["KDF_WORKERS"] == "passwords.workers"
    assert users["LOGIN_WINDOW_SECONDS"] == "login_limits.window_seconds"
    assert users["RETRY_MAX_ATTEMPTS"] == "server.retry.max_attempts"
    catalog = {item.name: item.path for item in settings.walk(BY_NAME["catalog"].cls)}
    assert catalog["CASSANDRA_CONTACT_POINTS"] == "cassandra.contact_points"
    assert BY_NAME["events"].cls is EventsConfig
    assert EventsConfig.from_env({"STREAMMESH_EVENTS_PREFIX": "t:"}).stream_prefix == "t:"


def test_computed_defaults() -> None:
    users = BY_NAME["users"].cls.from_env
    embedded = users(environ={"STREAMMESH_USERS_DATA_DIR": "/srv/users"})
    assert embedded.database_url == "sqlite+aiosqlite:////srv/users/users.db"
    assert embedded.key_dir == Path("/srv/users/keys")
    assert embedded.migrate_on_start is True
    assert embedded.redis_url == "redis://127.0.0.1:6380/0"
    assert embedded.server.port == 50051
    real = users(environ={"STREAMMESH_BACKENDS": "real"})
    assert real.database_url == "mysql+aiomysql://users:users@127.0.0.1:3306/users"
    assert (real.redis_url, real.migrate_on_start) == ("redis://127.0.0.1:6379/0", False)
    catalog = BY_NAME["catalog"].cls.from_env
    # The catalog's own BACKEND beats the host's BACKENDS, and its Redis follows it.
    mixed = catalog(
        environ={"STREAMMESH_BACKENDS": "real", "STREAMMESH_CATALOG_BACKEND": "embedded"}
    )
    assert (mixed.backend, mixed.migrate_on_start) == ("embedded", True)
    assert mixed.redis_url == "redis://127.0.0.1:6380/0"
    assert catalog(environ={"STREAMMESH_BACKENDS": "real"}).cassandra.keyspace == (
        "streammesh_catalog"
    )
