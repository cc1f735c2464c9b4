"""``streammesh migrate``: bring every service's schema to its newest version.

A service takes part by having a ``services.<svc>.migrations`` module with
``async def apply(config) -> None``, where ``config`` is its
``services.<svc>.config.Config.from_env()``: the same settings the service
itself starts with (``STREAMMESH_BACKENDS``, ``STREAMMESH_<SVC>_...``), so
``streammesh migrate`` prepares exactly the databases ``streammesh up`` will
use. Every ``apply`` is idempotent; running the command twice changes nothing.

One line per service; the exit code is 1 when any of them failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import time
from collections.abc import Sequence
from typing import Any

from services.registry import SERVICES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate", help="create or upgrade every service's database schema"
    )
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help="only these services (default: every service that has migrations)",
    )
    parser.set_defaults(handler=run)


def migratable() -> list[str]:
    """Names of the services in this checkout that have a migrations module."""
    names = []
    for spec in SERVICES:
        if importlib.util.find_spec(spec.package) is None:
            continue
        if importlib.util.find_spec(f"{spec.package}.migrations") is not None:
            names.append(spec.name)
    return names


async def migrate(name: str) -> None:
    migrations = importlib.import_module(f"services.{name}.migrations")
    config_module = importlib.import_module(f"services.{name}.config")
    await migrations.apply(config_module.Config.from_env())


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args.services))


async def _run(requested: Sequence[str]) -> int:
    available = migratable()
    unknown = [name for name in requested if name not in available]
    if unknown:
        print(
            f"no migrations for: {', '.join(unknown)} "
            f"(services with migrations: {', '.join(available) or 'none'})"
        )
        return 2
    failed = False
    for name in requested or available:
        started = time.monotonic()
        try:
            await migrate(name)
        except Exception as error:  # noqa: BLE001 - reported per service; the others still run
            failed = True
            print(f"{name}: FAILED: {type(error).__name__}: {error}")
            continue
        print(f"{name}: schema up to date ({time.monotonic() - started:.2f} s)")
    if not available:
        print("no service in this checkout has migrations yet")
    return 1 if failed else 0
