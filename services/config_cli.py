"""``streammesh config [SERVICE]``: the settings a service would start with, and why.

For each setting of the service's config (services/runtime/settings.py) it
prints the variable, the value and where the value came from: the service's
own variable (``STREAMMESH_USERS_PORT``), the mesh-wide one
(``STREAMMESH_PORT``) or the default. Secrets are masked: a URL keeps its
scheme, host, port and database but its password becomes ``***``; any other
secret is ``***``. Without SERVICE, every config of this checkout: the
services of services/registry.py that have a ``config`` module, the events
backbone (mesh-wide settings only) and the diagnostic echo service when
devtools/ is present. ``--json`` prints ``{name: [setting, ...]}``.

The environment read is this command's own, so run it where the service
runs (``kubectl exec ... -- streammesh config users`` in a pod).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from services import registry
from services.runtime import settings

# Configs that are not a registry service's `config` module.
_OTHER_CONFIGS: tuple[tuple[str, str, str, str | None], ...] = (
    # name, module, class, service the variables are read for (None: mesh-wide only)
    ("events", "services.events.config", "EventsConfig", None),
    ("echo", "devtools.echo.config", "Config", "echo"),
)

_SOURCES = {"service": "service variable", "mesh": "mesh variable", "default": "default"}


@dataclass(frozen=True)
class Target:
    """One config ``streammesh config`` can show."""

    name: str
    module: str
    class_name: str
    service: str | None

    def config_class(self) -> type:
        cls: type = getattr(importlib.import_module(self.module), self.class_name)
        return cls


def targets() -> dict[str, Target]:
    """Every config of this checkout, by name, in registry order."""
    found: dict[str, Target] = {}
    for spec in registry.SERVICES:
        module = f"{spec.package}.config"
        if _exists(module):
            found[spec.name] = Target(spec.name, module, "Config", spec.name)
    for name, module, class_name, service in _OTHER_CONFIGS:
        if _exists(module):
            found[name] = Target(name, module, class_name, service)
    return found


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is not in this checkout
        return False


def register(subparsers: Any) -> None:
    names = list(targets())
    parser = subparsers.add_parser(
        "config",
        help="show the settings in effect for a service, and where each came from",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "service", nargs="?", choices=names, metavar="SERVICE", help=f"one of {', '.join(names)}"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    chosen = targets()
    if args.service is not None:
        chosen = {args.service: chosen[args.service]}
    explained: dict[str, list[settings.Binding]] = {}
    errors: dict[str, str] = {}
    for name, target in chosen.items():
        try:
            bound: settings.Explained[Any] = settings.explain(target.config_class(), target.service)
        except ValueError as error:  # a malformed variable: the service would not start either
            errors[name] = str(error)
            continue
        explained[name] = list(bound.bindings)
    if args.json:
        document = {name: [_as_json(b) for b in rows] for name, rows in explained.items()}
        print(json.dumps(document, indent=2))
    else:
        # Piped output has no width to fit; do not fold values into slivers.
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        for name, rows in explained.items():
            console.print(_table(name, chosen[name], rows))
    for name, message in errors.items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if errors else 0


def _table(name: str, target: Target, rows: list[settings.Binding]) -> Table:
    scope = f"STREAMMESH_{target.service.upper()}_X, then " if target.service else ""
    table = Table(
        title=f"{name}  ({scope}STREAMMESH_X, then the default)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold", min_width=16)
    table.add_column("from", no_wrap=True)
    for binding in rows:
        source = _SOURCES[binding.source]
        style = "" if binding.source == "default" else "bold"
        table.add_row(binding.name, binding.shown(), source, style=style)
    return table


def _as_json(binding: settings.Binding) -> dict[str, Any]:
    return {
        "setting": binding.path,
        "variable": binding.name,
        "variables": list(binding.variables),
        "value": _json_value(binding),
        "source": _SOURCES[binding.source],
        "secret": binding.secret,
        "doc": binding.doc,
    }


def _json_value(binding: settings.Binding) -> Any:
    value = binding.value
    if binding.secret:
        return binding.shown()
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, tuple | list):
        return [settings.spell(item) for item in value]
    return settings.spell(value)
