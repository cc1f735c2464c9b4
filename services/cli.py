"""The ``streammesh`` command.

Each area of the product contributes its subcommands through a
``register(subparsers)`` function listed in ``_COMMAND_MODULES``; a module
that is not in this checkout yet is simply absent from the help.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Modules that add subcommands, in the order `streammesh --help` shows them.
_COMMAND_MODULES: tuple[str, ...] = (
    "devtools.up",
    "devtools.chaos.cli",
    "devtools.seed_views",
    "devtools.infra.cli",
    "devtools.observability.cli",
    "devtools.backup.cli",
    "services.edge.cli",
    "services.migrate",
    "services.catalog.importer",
    "services.search.cli",
    "services.recommendations.cli",
    "services.analytics.cli",
    "services.users.sagas.cli",
    "services.events.cli",
    "services.config_cli",
    "devtools.search_relevance",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand this checkout provides."""
    parser = argparse.ArgumentParser(
        prog="streammesh",
        description="Run, operate and feed the StreamMesh service mesh.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and module_name.startswith(err.name):
                continue  # that area has not landed in this checkout
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
