"""Config dataclasses bound to the environment: each field declared once.

A service's config is a frozen dataclass; :func:`from_env` binds every field
of it, recursively, with the rule of services/runtime/env.py: setting ``X`` of
service ``svc`` comes from ``STREAMMESH_SVC_X``, then ``STREAMMESH_X``, then
the default; empty counts as unset; a malformed value raises ValueError naming
its variable. A plain field needs no declaration at all; others declare
themselves in the field's metadata (the standard library's
``dataclasses.field(metadata=...)``, so type checkers and linters see plain
dataclass fields)::

    @dataclass(frozen=True)
    class Config:
        # Tiles per row when the request does not say (CARDS_PER_ROW, an int).
        cards_per_row: int = 20
        # Argon2id passes (ARGON2_TIME_COST: a name of its own).
        time_cost: int = field(default=2, metadata=setting("ARGON2_TIME_COST"))
        # SQLAlchemy URL with its password: masked when shown; default computed.
        database_url: str = field(metadata=setting(secret=True, default_from=sqlite_or_mariadb))
        # CASSANDRA_PORT, CASSANDRA_KEYSPACE, ...: the fields of CassandraSettings.
        cassandra: CassandraSettings = field(default_factory=..., metadata=nested("CASSANDRA_"))

* The variable's name is the field's name upper-cased (``setting("NAME")``
  declares another), behind the prefixes of the nested fields it sits in.
* The parser follows the annotation: str, int, float, bool (true/false, 1/0,
  yes/no, on/off), Path, tuple[str, ...] (comma-separated), an Enum, or
  ``X | None`` of those; ``setting(parse=...)`` declares another.
* The default is the field's own, or, when the field sits in a nested
  dataclass whose parent gives a default instance, that instance's value
  (``CassandraSettings(keyspace="streammesh_catalog")``). A default that depends
  on other settings is ``setting(default_from=f)``: ``f(context)`` may read the
  sibling fields (``context["data_dir"]``, bound first, on demand), the
  service name and settings shared by every config (``context.shared(Cls)``,
  e.g. services/runtime/backends.py's choice of backends). It wins over the
  static default, which stays for code that builds a config directly.
* ``setting(secret=True)`` marks a value ``streammesh config`` must mask.
* ``metadata=derived(f)``: a field computed from the context, not read at
  all (the service name of a ServerConfig).
* A dataclass defined elsewhere (CassandraSettings) binds undecorated: its
  fields by name and type; ``nested(fields={"x": Setting(...)})`` declares one
  of them further. A dataclass-typed field without metadata is ``nested()``.

The documentation of a field is its comment in the class (the comment lines
right above it, or above the run of fields it belongs to) unless declared with
``doc=``; ``streammesh config --json`` shows it.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import os
import textwrap
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass
from pathlib import PurePath
from typing import Any, Final, Generic, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from services.runtime.env import ServiceEnv, parse_as, parse_bool, parse_list

T = TypeVar("T")

# Key of the declarations in a dataclass field's metadata.
METADATA_KEY: Final = "streammesh.setting"
MASK: Final = "***"
# Query parameters of a secret URL whose value is masked too.
_SECRET_QUERY_KEYS: Final = ("password", "secret", "token", "key")

Source = Literal["service", "mesh", "default"]


@dataclass(frozen=True)
class Setting:
    """How one field is read: all optional, see the module's docstring."""

    env: str | None = None
    parse: Callable[[str], Any] | None = None
    default_from: Callable[[Context], Any] | None = None
    secret: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Nested:
    """A dataclass-typed field whose fields are settings too, behind ``prefix``."""

    prefix: str = ""
    # Declarations of the nested class's own fields, when it cannot carry them.
    fields: Mapping[str, Setting] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Derived:
    """A field computed from the context, never read from the environment."""

    compute: Callable[[Context], Any]


Declaration = Setting | Nested | Derived


def setting(
    env: str | None = None,
    *,
    parse: Callable[[str], Any] | None = None,
    default_from: Callable[[Context], Any] | None = None,
    secret: bool = False,
    doc: str = "",
) -> dict[str, Any]:
    """The metadata of a field read as declared: ``field(default=..., metadata=setting(...))``.

    A field without a default stays required when the dataclass is built
    directly; :func:`from_env` then needs ``default_from`` or a variable.
    """
    declared = Setting(env=env, parse=parse, default_from=default_from, secret=secret, doc=doc)
    return {METADATA_KEY: declared}


def nested(prefix: str = "", *, fields: Mapping[str, Setting] | None = None) -> dict[str, Any]:
    """The metadata of a dataclass-typed field bound field by field, behind ``prefix``.

    ``fields`` declares fields of a nested class that carries no metadata itself.
    """
    return {METADATA_KEY: Nested(prefix=prefix, fields=dict(fields or {}))}


def derived(compute: Callable[[Context], Any]) -> dict[str, Any]:
    """The metadata of a field :func:`from_env` computes instead of reading."""
    return {METADATA_KEY: Derived(compute)}


# ------------------------------------------------------------------- binding


@dataclass(frozen=True)
class Binding:
    """Where one setting's value came from."""

    # Dotted path of the field from the bound class ("server.retry.max_attempts");
    # settings shared by every config (backends) are listed by their own name.
    path: str
    # The variables consulted, the winning one first when set.
    variables: tuple[str, ...]
    # The variable the value was read from; None when it is the default.
    variable: str | None
    value: Any
    source: Source
    secret: bool
    doc: str

    @property
    def name(self) -> str:
        """The variable that set it, or else the one to set (the most specific)."""
        return self.variable or self.variables[0]

    def shown(self) -> str:
        """The value as a variable would spell it, masked when secret."""
        text = spell(self.value)
        return mask(text) if self.secret else text


@dataclass(frozen=True)
class Explained(Generic[T]):
    """A bound config and where each of its settings came from."""

    config: T
    bindings: tuple[Binding, ...]


def from_env(cls: type[T], service: str | None, environ: Mapping[str, str] = os.environ) -> T:
    """Binds every field of the dataclass ``cls`` for ``service`` from ``environ``.

    ``service=None`` reads the mesh-wide variables only (``STREAMMESH_X``).
    """
    return explain(cls, service, environ).config


def explain(
    cls: type[T], service: str | None, environ: Mapping[str, str] = os.environ
) -> Explained[T]:
    """:func:`from_env`, also telling where every setting came from."""
    binder = _Binder(service, environ)
    level = _Level(binder, cls, prefix="", path="", defaults=None, overrides={})
    config = level.build()
    return Explained(config, (*binder.shared_bindings, *level.ordered_bindings()))


class Context:
    """What a computed default may read: sibling fields, the service, shared settings."""

    def __init__(self, level: _Level) -> None:
        self._level = level

    @property
    def service(self) -> str | None:
        return self._level.binder.env.service

    def __getitem__(self, name: str) -> Any:
        """The bound value of the sibling field ``name`` (bound now if need be)."""
        return self._level.value(name)

    def shared(self, cls: type[T]) -> T:
        """The settings ``cls`` (a dataclass), bound once per binding of a config."""
        return self._level.binder.shared(cls)


class _Binder:
    def __init__(self, service: str | None, environ: Mapping[str, str]) -> None:
        self.env = ServiceEnv(service, environ)
        self._shared: dict[type, Any] = {}
        self.shared_bindings: list[Binding] = []

    def shared(self, cls: type[T]) -> T:
        if cls not in self._shared:
            level = _Level(self, cls, prefix="", path="", defaults=None, overrides={})
            self._shared[cls] = level.build()
            self.shared_bindings.extend(level.ordered_bindings())
        value: T = self._shared[cls]
        return value


class _Level:
    """One dataclass being bound: its fields, bound in order or on demand."""

    def __init__(
        self,
        binder: _Binder,
        cls: type,
        *,
        prefix: str,
        path: str,
        defaults: Any,
        overrides: Mapping[str, Setting],
    ) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        self.binder = binder
        self.cls = cls
        self.prefix = prefix
        self.path = path
        self.defaults = defaults
        self.overrides = overrides
        self.fields, self.hints, self.docs = _class_info(cls)
        self.values: dict[str, Any] = {}
        self.bindings: dict[str, Binding | _Level] = {}
        self._pending: set[str] = set()
        self.context = Context(self)

    def build(self) -> Any:
        for name in self.fields:
            self.value(name)
        try:
            return self.cls(**self.values)
        except ValueError as error:
            # A check of the class itself (__post_init__): name what was set.
            given = [
                b.variable
                for b in self.bindings.values()
                if isinstance(b, Binding) and b.variable is not None
            ]
            if not given:
                raise
            raise ValueError(f"{', '.join(given)}: {error}") from None

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name not in self.fields:
            raise KeyError(f"{self.cls.__name__} has no field {name!r}")
        if name in self._pending:
            raise RuntimeError(f"{self.cls.__name__}.{name}: its default depends on itself")
        self._pending.add(name)
        try:
            self.values[name] = self._bind(self.fields[name])
        finally:
            self._pending.discard(name)
        return self.values[name]

    def ordered_bindings(self) -> list[Binding]:
        ordered: list[Binding] = []
        for name in self.fields:
            bound = self.bindings.get(name)
            if isinstance(bound, _Level):
                ordered.extend(bound.ordered_bindings())
            elif bound is not None:
                ordered.append(bound)
        return ordered

    def _default(self, f: dataclasses.Field[Any]) -> Any:
        if self.defaults is not None:
            return getattr(self.defaults, f.name)
        if f.default is not MISSING:
            return f.default
        if f.default_factory is not MISSING:
            return f.default_factory()
        return MISSING

    def _bind(self, f: dataclasses.Field[Any]) -> Any:
        declared = declaration(f, self.hints[f.name], self.overrides)
        if isinstance(declared, Derived):
            return declared.compute(self.context)
        if isinstance(declared, Nested):
            child = _Level(
                self.binder,
                self.hints[f.name],
                prefix=self.prefix + declared.prefix,
                path=f"{self.path}{f.name}.",
                defaults=_or_none(self._default(f)),
                overrides=declared.fields,
            )
            self.bindings[f.name] = child
            return child.build()
        name = self.prefix + (declared.env or f.name.upper())
        env = self.binder.env
        found = env.lookup(name)
        source: Source
        if found is not None:
            source, variable, raw = found
            parse = declared.parse or parser_for(self.hints[f.name])
            value = parse_as(variable, raw, parse)
        else:
            source, variable = "default", None
            if declared.default_from is not None:
                value = declared.default_from(self.context)
            else:
                value = self._default(f)
            if value is MISSING:
                raise ValueError(f"{' or '.join(env.variables(name))} must be set")
        self.bindings[f.name] = Binding(
            path=self.path + f.name,
            variables=_winner_first(env.variables(name), variable),
            variable=variable,
            value=value,
            source=source,
            secret=declared.secret,
            doc=declared.doc or self.docs.get(f.name, ""),
        )
        return value


@functools.cache
def _class_info(
    cls: type,
) -> tuple[dict[str, dataclasses.Field[Any]], dict[str, Any], dict[str, str]]:
    """A dataclass's init fields, resolved annotations and field comments (read once)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    return fields, typing.get_type_hints(cls), field_docs(cls)


def _or_none(value: Any) -> Any:
    return None if value is MISSING else value


def _winner_first(variables: tuple[str, ...], winner: str | None) -> tuple[str, ...]:
    if winner is None:
        return variables
    return (winner, *(v for v in variables if v != winner))


def declaration(
    f: dataclasses.Field[Any], annotation: Any, overrides: Mapping[str, Setting] | None = None
) -> Declaration:
    """A field's declaration: its own, an override, or the undecorated default."""
    declared: Declaration | None = f.metadata.get(METADATA_KEY)
    if declared is None and overrides:
        declared = overrides.get(f.name)
    if declared is None:
        return Nested() if _is_dataclass_type(annotation) else Setting()
    return declared


def _is_dataclass_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


# ------------------------------------------------------------------- walking


@dataclass(frozen=True)
class Declared:
    """One setting of a config class, as declared (for tests and documentation)."""

    path: str
    # The variable's name without STREAMMESH_[SVC_] ("RETRY_MAX_ATTEMPTS").
    name: str
    annotation: Any
    setting: Setting

    def variables(self, service: str | None) -> tuple[str, ...]:
        return ServiceEnv(service, {}).variables(self.name)


def walk(cls: type, *, prefix: str = "", path: str = "") -> Iterator[Declared]:
    """Every setting of ``cls``, nested ones included, in declaration order."""
    yield from _walk(cls, prefix, path, {})


def _walk(
    cls: type, prefix: str, path: str, overrides: Mapping[str, Setting]
) -> Iterator[Declared]:
    fields, hints, _ = _class_info(cls)
    for f in fields.values():
        declared = declaration(f, hints[f.name], overrides)
        if isinstance(declared, Derived):
            continue
        if isinstance(declared, Nested):
            yield from _walk(
                hints[f.name], prefix + declared.prefix, f"{path}{f.name}.", declared.fields
            )
            continue
        yield Declared(
            path=path + f.name,
            name=prefix + (declared.env or f.name.upper()),
            annotation=hints[f.name],
            setting=declared,
        )


# ------------------------------------------------------------------- parsing


def parser_for(annotation: Any) -> Callable[[str], Any]:
    """How a value of the annotated type is read from a variable."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) == 1:
            return parser_for(present[0])
    elif origin is tuple and args == (str, Ellipsis):
        return parse_list
    elif annotation is bool:
        return parse_bool
    elif annotation in (str, int, float):
        return typing.cast(Callable[[str], Any], annotation)
    elif isinstance(annotation, type) and issubclass(annotation, PurePath):
        return annotation
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_parser(annotation)
    raise TypeError(f"no parser for {annotation!r}: declare setting(parse=...)")


def _enum_parser(kind: type[enum.Enum]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        for member in kind:
            if raw.strip().lower() in (str(member.value).lower(), member.name.lower()):
                return member
        raise ValueError("expected " + " or ".join(str(m.value) for m in kind))

    return parse


# ------------------------------------------------------------------- showing


def spell(value: Any) -> str:
    """A value as its variable would be written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(spell(item) for item in value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def mask(text: str) -> str:
    """A secret as it may be shown: a URL keeps all but its password; anything else is ***."""
    if not text:
        return text
    parts = urlsplit(text)
    if not parts.scheme or "://" not in text:
        return MASK
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (key, MASK if any(s in key.lower() for s in _SECRET_QUERY_KEYS) else value)
                for key, value in pairs
            ],
            safe="*",
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return text
    # Spelled out rather than urlunsplit, which drops the "//" of an empty host.
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    shown += f"?{query}" if query else ""
    return shown + (f"#{parts.fragment}" if parts.fragment else "")


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its comment in the class's source ({} when there is no source).

    A field's comment is the run of comment lines right above it; a field
    right below another (no blank or comment line between) shares its comment.
    """
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    body = tree.body[0]
    if not isinstance(body, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    previous_end = -1
    previous_doc = ""
    for statement in body.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            previous_end, previous_doc = -1, ""
            continue
        start = statement.lineno - 1  # 0-based index of the field's first line
        comment: list[str] = []
        index = start - 1
        while index >= 0 and lines[index].strip().startswith("#"):
            comment.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        if comment:
            doc = " ".join(comment)
        elif previous_end == start - 1:
            doc = previous_doc
        else:
            doc = ""
        docs[statement.target.id] = doc
        previous_end = (statement.end_lineno or statement.lineno) - 1
        previous_doc = doc
    return docs
