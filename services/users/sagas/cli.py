"""``streammesh sagas list|show|retry|orchestrate``: operate the saga log.

``list``, ``show`` and ``retry`` read and write the users database named by
the users service's environment (``STREAMMESH_USERS_DATABASE_URL`` or the
backends' default), as the orchestrator does; ``orchestrate`` runs the
orchestrator process itself (services/users/sagas/process.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from services.runtime.errors import DomainError
from services.runtime.logs import configure_logging
from services.users.config import Config
from services.users.sagas.config import SagaConfig
from services.users.sagas.definitions import SAGA_TYPES, SagaState
from services.users.sagas.log import Saga, SagaLog
from services.users.stores.sql import create_engine


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sagas",
        help="list, show, retry and orchestrate sagas",
        description="The saga log of the users service, and its orchestrator.",
    )
    commands = parser.add_subparsers(dest="sagas_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="the latest sagas, newest first")
    listing.add_argument(
        "--state", default="", choices=["", *(s.value for s in SagaState)], help="only this state"
    )
    listing.add_argument("--saga", default="", choices=["", *SAGA_TYPES], help="only this saga")
    listing.add_argument("--limit", type=int, default=50, help="rows (1-1000)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one saga: its steps and history")
    show.add_argument("saga_id")
    show.add_argument("--json", action="store_true", help="JSON instead of tables")
    show.set_defaults(handler=_show)
    retry = commands.add_parser(
        "retry", help="make a running or compensating saga's next attempt due now"
    )
    retry.add_argument("saga_id")
    retry.set_defaults(handler=_retry)
    orchestrate = commands.add_parser(
        "orchestrate", help="run the saga orchestrator (the users service's environment)"
    )
    orchestrate.set_defaults(handler=_orchestrate)


def _log() -> SagaLog:
    return SagaLog(create_engine(Config.from_env().database_url))


def _run(work: Any) -> int:
    try:
        return int(asyncio.run(work))
    except DomainError as err:
        Console(stderr=True).print(f"{type(err).__name__}: {err}")
        return 1


def _summary(saga: Saga) -> dict[str, Any]:
    kind = SAGA_TYPES[saga.saga_type]
    index = saga.step_index
    current = ""
    if saga.state == SagaState.RUNNING.value and index < len(kind.steps):
        current = kind.step(index).name
    elif saga.state == SagaState.COMPENSATING.value and index >= 0:
        current = kind.compensation_name(index)
    return {
        "saga_id": saga.saga_id,
        "saga": saga.saga_type,
        "subject": saga.subject_id,
        "state": saga.state,
        "steps_done": saga.steps_done,
        "steps_total": len(kind.steps),
        "current_step": current,
        "attempts": saga.attempts,
        "last_error": saga.last_error,
        "created": saga.created_at.isoformat(),
        "updated": saga.updated_at.isoformat(),
    }


def _list(args: argparse.Namespace) -> int:
    async def work() -> int:
        sagas = _log()
        try:
            rows = [
                _summary(s)
                for s in await sagas.list_sagas(
                    state=args.state, saga_type=args.saga, limit=args.limit
                )
            ]
        finally:
            await sagas.close()
        if args.json:
            for row in rows:
                print(json.dumps(row))
            return 0
        table = Table(title="sagas")
        for column in ("saga_id", "saga", "subject", "state", "steps", "current step", "attempts"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["saga_id"],
                row["saga"],
                row["subject"],
                row["state"],
                f"{row['steps_done']}/{row['steps_total']}",
                row["current_step"],
                str(row["attempts"]),
            )
        Console(width=160).print(table)
        return 0

    return _run(work())


def _show(args: argparse.Namespace) -> int:
    async def work() -> int:
        sagas = _log()
        try:
            saga = await sagas.get(args.saga_id)
            history = await sagas.history(args.saga_id) if saga else []
        finally:
            await sagas.close()
        if saga is None:
            Console(stderr=True).print(f"saga {args.saga_id} does not exist")
            return 1
        summary = _summary(saga)
        kind = SAGA_TYPES[saga.saga_type]
        if args.json:
            summary["payload"] = saga.payload
            summary["history"] = [
                {
                    "step": h.step,
                    "action": h.action,
                    "detail": h.detail,
                    "at": h.created_at.isoformat(),
                }
                for h in history
            ]
            print(json.dumps(summary, indent=2))
            return 0
        console = Console(width=160)
        for key, value in summary.items():
            console.print(f"[bold]{key}[/bold]: {value}")
        steps = Table(title="steps")
        for column in ("#", "step", "kind", "does", "undone by"):
            steps.add_column(column)
        for number, step in enumerate(kind.steps):
            steps.add_row(str(number), step.name, step.kind.value, step.does, step.undoes)
        console.print(steps)
        table = Table(title="history")
        for column in ("at", "step", "action", "detail"):
            table.add_column(column)
        for line in history:
            table.add_row(line.created_at.isoformat(), line.step, line.action, line.detail[:80])
        console.print(table)
        return 0

    return _run(work())


def _retry(args: argparse.Namespace) -> int:
    async def work() -> int:
        sagas = _log()
        try:
            saga = await sagas.retry(args.saga_id)
        finally:
            await sagas.close()
        Console().print(f"saga {saga.saga_id} ({saga.state}) is due now")
        return 0

    return _run(work())


def _orchestrate(args: argparse.Namespace) -> int:
    from services.users.sagas.process import serve

    configure_logging("sagas")
    asyncio.run(serve(Config.from_env(), SagaConfig.from_env()))
    return 0
