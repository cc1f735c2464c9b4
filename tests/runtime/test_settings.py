"""The generic binder: names, parsers, defaults, nesting, masking (services/runtime/settings.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.runtime import settings
from services.runtime.backends import (
    EMBEDDED_REDIS_URL,
    REAL_REDIS_URL,
    Backends,
    BackendSettings,
)
from services.runtime.settings import Setting, derived, nested, setting


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    """Undecorated, as a class from a file the config does not own."""

    name: str
    # How many.
    count: int = 1
    flag: bool = False


@dataclass(frozen=True)
class Limits:
    # Per minute.
    per_minute: int = field(default=10, metadata=setting("RATE"))
    burst: int = 5

    def __post_init__(self) -> None:
        if self.burst > self.per_minute:
            raise ValueError("burst above the rate")


@dataclass(frozen=True)
class Sample:
    service: str = field(metadata=derived(lambda c: c.service))
    # Where files go.
    data_dir: Path = Path("data")
    # Computed from data_dir, declared before it: bound on demand.
    key_dir: Path = field(
        default=Path("data/keys"), metadata=setting(default_from=lambda c: c["data_dir"] / "keys")
    )
    hosts: tuple[str, ...] = ("a",)
    ratio: float | None = None
    colour: Colour = Colour.RED
    level: str = field(default="INFO", metadata=setting(parse=str.upper))
    password: str = field(default="", metadata=setting(secret=True))
    limits: Limits = field(default_factory=Limits, metadata=nested("LIMIT_"))
    inner: Inner = field(
        default_factory=lambda: Inner(name="parent-default"),
        metadata=nested("INNER_", fields={"count": Setting(env="HOW_MANY")}),
    )


def test_defaults_without_variables() -> None:
    bound = settings.from_env(Sample, "svc", {})
    assert bound == Sample(service="svc", key_dir=Path("data/keys"))
    # The parent's default instance supplies the undecorated class's required field.
    assert bound.inner.name == "parent-default"


def test_every_kind_of_field_is_read() -> None:
    environ = {
        "STREAMMESH_SVC_DATA_DIR": "/srv",
        "STREAMMESH_SVC_HOSTS": " x, y ,,z",
        "STREAMMESH_SVC_RATIO": "0.5",
        "STREAMMESH_SVC_COLOUR": "BLUE",
        "STREAMMESH_SVC_LEVEL": "debug",
        "STREAMMESH_SVC_LIMIT_RATE": "20",
        "STREAMMESH_SVC_LIMIT_BURST": "7",
        "STREAMMESH_SVC_INNER_NAME": "n",
        "STREAMMESH_SVC_INNER_HOW_MANY": "3",
        "STREAMMESH_SVC_INNER_FLAG": "yes",
    }
    bound = settings.from_env(Sample, "svc", environ)
    assert bound.data_dir == Path("/srv")
    assert bound.key_dir == Path("/srv/keys")
    assert bound.hosts == ("x", "y", "z")
    assert bound.ratio == 0.5
    assert bound.colour is Colour.BLUE
    assert bound.level == "DEBUG"
    assert bound.limits == Limits(per_minute=20, burst=7)
    assert bound.inner == Inner(name="n", count=3, flag=True)


def test_service_variable_then_mesh_variable_then_default_and_empty_is_unset() -> None:
    assert settings.from_env(Sample, "svc", {"STREAMMESH_LEVEL": "warning"}).level == "WARNING"
    both = {"STREAMMESH_SVC_LEVEL": "error", "STREAMMESH_LEVEL": "warning"}
    assert settings.from_env(Sample, "svc", both).level == "ERROR"
    empty = {"STREAMMESH_SVC_LEVEL": "", "STREAMMESH_LEVEL": "warning"}
    assert settings.from_env(Sample, "svc", empty).level == "WARNING"
    assert settings.from_env(Sample, "svc", {"STREAMMESH_SVC_LEVEL": ""}).level == "INFO"


def test_without_a_service_only_mesh_variables_are_read() -> None:
    environ = {"STREAMMESH_NONE_LEVEL": "error", "STREAMMESH_LEVEL": "warning"}
    assert settings.from_env(Sample, None, environ).level == "WARNING"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STREAMMESH_SVC_LIMIT_RATE", "fast"),
        ("STREAMMESH_RATIO", "half"),
        ("STREAMMESH_SVC_INNER_FLAG", "perhaps"),
        ("STREAMMESH_SVC_COLOUR", "green"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{variable}='{value}'"):
        settings.from_env(Sample, "svc", {variable: value})


def test_a_class_check_names_the_variables_that_were_set() -> None:
    with pytest.raises(ValueError, match="STREAMMESH_SVC_LIMIT_BURST: burst above the rate"):
        settings.from_env(Sample, "svc", {"STREAMMESH_SVC_LIMIT_BURST": "99"})


def test_a_required_setting_without_default_names_its_variables() -> None:
    @dataclass(frozen=True)
    class Needs:
        url: str

    with pytest.raises(ValueError, match="STREAMMESH_SVC_URL or STREAMMESH_URL must be set"):
        settings.from_env(Needs, "svc", {})


def test_a_default_depending_on_itself_is_reported() -> None:
    @dataclass(frozen=True)
    class Loop:
        a: int = field(default=0, metadata=setting(default_from=lambda c: c["b"]))
        b: int = field(default=0, metadata=setting(default_from=lambda c: c["a"]))

    with pytest.raises(RuntimeError, match="depends on itself"):
        settings.from_env(Loop, "svc", {})


def test_explain_tells_where_each_value_came_from() -> None:
    environ = {"STREAMMESH_SVC_DATA_DIR": "/srv", "STREAMMESH_LEVEL": "debug"}
    bindings = {b.path: b for b in settings.explain(Sample, "svc", environ).bindings}
    assert "service" not in bindings  # derived, not a variable
    assert (bindings["data_dir"].source, bindings["data_dir"].name) == (
        "service",
        "STREAMMESH_SVC_DATA_DIR",
    )
    assert (bindings["level"].source, bindings["level"].name) == ("mesh", "STREAMMESH_LEVEL")
    assert bindings["level"].variables == ("STREAMMESH_LEVEL", "STREAMMESH_SVC_LEVEL")
    assert (bindings["key_dir"].source, bindings["key_dir"].value) == ("default", Path("/srv/keys"))
    assert bindings["inner.count"].name == "STREAMMESH_SVC_INNER_HOW_MANY"
    assert bindings["limits.per_minute"].name == "STREAMMESH_SVC_LIMIT_RATE"
    # Documentation is the field's comment.
    assert bindings["data_dir"].doc == "Where files go."
    assert bindings["inner.count"].doc == "How many."
    assert bindings["limits.per_minute"].doc == "Per minute."


def test_walk_lists_every_setting_with_its_variable_name() -> None:
    names = {d.path: d.name for d in settings.walk(Sample)}
    assert names == {
        "data_dir": "DATA_DIR",
        "key_dir": "KEY_DIR",
        "hosts": "HOSTS",
        "ratio": "RATIO",
        "colour": "COLOUR",
        "level": "LEVEL",
        "password": "PASSWORD",
        "limits.per_minute": "LIMIT_RATE",
        "limits.burst": "LIMIT_BURST",
        "inner.name": "INNER_NAME",
        "inner.count": "INNER_HOW_MANY",
        "inner.flag": "INNER_FLAG",
    }


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("mysql+aiomysql://users:s3cret@db:3306/users", "mysql+aiomysql://users:***@db:3306/users"),
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("sqlite+aiosqlite:///.streammesh/users.db", "sqlite+aiosqlite:///.streammesh/users.db"),
        (
            "postgresql://db/x?sslmode=require&password=s3cret",
            "postgresql://db/x?sslmode=require&password=***",
        ),
        ("s3cret", "***"),
        ("", ""),
    ],
)
def test_secrets_are_masked(secret: str, shown: str) -> None:
    assert settings.mask(secret) == shown
    bindings = settings.explain(Sample, "svc", {"STREAMMESH_PASSWORD": secret}).bindings
    (password,) = [b for b in bindings if b.path == "password"]
    assert password.shown() == shown


def test_backends_are_read_once_and_name_their_variable() -> None:
    assert settings.from_env(BackendSettings, "users", {}).backends is Backends.EMBEDDED
    real = settings.from_env(BackendSettings, "users", {"STREAMMESH_BACKENDS": "real"})
    assert real.redis_url() == REAL_REDIS_URL
    assert settings.from_env(BackendSettings, None, {}).redis_url() == EMBEDDED_REDIS_URL
    moved = {"STREAMMESH_EMBEDDED_REDIS_PORT": "6390"}
    assert settings.from_env(BackendSettings, "users", moved).redis_url() == (
        "redis://127.0.0.1:6390/0"
    )
    with pytest.raises(ValueError, match="STREAMMESH_BACKENDS='cloud': expected embedded or real"):
        settings.from_env(BackendSettings, "users", {"STREAMMESH_BACKENDS": "cloud"})
